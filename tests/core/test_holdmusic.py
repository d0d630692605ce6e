"""Hold with music in a room: the held leave the mix and hear the music; resume mixes them
again. Measured by tone, through the real mixer."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from mediacore.audio import tone_level_dbfs
from mediacore.codecs import PCMU
from mediacore.events import Event, EventBus
from mediacore.holdmusic import MELODY_HZ, LoopingClip, default_melody
from mediacore.room import Room, RoomSettings
from mixer.audiomixer import AudioMixer
from tests.mixer.test_audiomixer import heard, participant

RATE = 48000


def music(frequency: float) -> LoopingClip:
    t = np.arange(RATE // 2) / RATE  # half a second, looped
    samples = (np.sin(2 * np.pi * frequency * t) * 0.1 * 32767).astype(np.int16)
    return LoopingClip(samples, RATE, 20)


def make_room() -> tuple[Room, list[Event]]:
    bus = EventBus()
    events: list[Event] = []
    bus.listen(events.append)
    room = Room(RoomSettings("hall"), bus, make_mixer=lambda s, on: AudioMixer(s, on))
    return room, events


def run(room: Room, start: int, ticks: int = 25) -> int:
    for tick in range(start, start + ticks):
        room._mix(tick, tick * 0.02)
    return start + ticks


def test_a_held_participant_leaves_the_mix_and_hears_the_music() -> None:
    room, events = make_room()
    a, held, c = participant("a", 700), participant("b", 500), participant("c", None)
    for p in (a, held, c):
        room.add(p)
    tick = run(room, 1)
    assert heard(c, 500) == pytest.approx(-20, abs=1)
    room.hold(held.id, "dispatcher", music(1000))
    tick = run(room, tick)
    assert heard(c, 500) < -60 and heard(c, 700) == pytest.approx(-20, abs=1)
    assert heard(a, 500) < -60  # nobody hears the held one
    assert heard(held, 1000) > -30 and heard(held, 700) < -60  # music, not the room
    assert held.roster_entry()["held"] is True
    room.resume(held.id, "dispatcher")
    run(room, tick)
    assert heard(c, 500) == pytest.approx(-20, abs=1) and heard(held, 700) > -25
    assert heard(held, 1000) < -60
    kinds = [(e.type, e.data.get("by")) for e in events if e.type.startswith("participant.")]
    assert ("participant.held", "dispatcher") in kinds
    assert ("participant.resumed", "dispatcher") in kinds


def test_the_held_share_one_music_encode_per_codec_and_hear_it_in_their_codec() -> None:
    room, _ = make_room()
    talker = participant("a", 700)
    x, y = participant("x", None, PCMU), participant("y", None, PCMU)
    for p in (talker, x, y):
        room.add(p)
    room.hold(x.id, "phone", music(440))
    room.hold(y.id, "phone")  # the first hold's music plays for both
    run(room, 1)
    assert heard(x, 440, PCMU) > -30 and heard(y, 440, PCMU) > -30
    assert heard(x, 700, PCMU) < -50


def test_leaving_while_held_forgets_the_hold() -> None:
    room, _ = make_room()
    p = participant("a", 700)
    room.add(p)
    room.hold(p.id, "phone")
    asyncio.run(room.remove(p.id, "hangup"))
    assert not room.hold_music.held


def test_the_default_melody_plays_its_notes_and_loops_without_a_gap() -> None:
    samples = default_melody(8000)
    clip = LoopingClip(samples, 8000, 20)
    frames = [clip.read(0.0) for _ in range(2 * len(samples) // 160)]
    pcm = np.concatenate(frames)
    assert len(pcm) == 2 * len(samples)
    note = len(samples) // len(MELODY_HZ)
    for index, hz in enumerate(MELODY_HZ[:3]):
        block = pcm[index * note + 400 : (index + 1) * note - 400]
        assert tone_level_dbfs(block, hz, 8000) == pytest.approx(-21, abs=2)
    assert np.allclose(pcm[: len(samples)], pcm[len(samples) :])


def test_a_held_participant_that_moves_stays_held_with_the_new_rooms_music() -> None:
    here, _ = make_room()
    there, _ = make_room()
    talker, held = participant("a", 700), participant("b", None)
    here.add(held)
    there.add(talker)
    here.hold(held.id, "dispatcher", music(1000))
    there.attach(here.detach(held.id, "there"), "here")
    assert not here.hold_music.held and there.hold_music.held == {held.id}
    run(there, 1)
    assert heard(held, 700) < -60  # not the room it moved to...
    assert max(heard(held, hz) for hz in MELODY_HZ) > -30  # ...but that room's melody
