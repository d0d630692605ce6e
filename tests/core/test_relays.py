"""Relays between rooms of one process, with real room clocks: what the owner hears of another
room, what that room hears of the owner, and the relays' life cycle."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from mediacore.audio import tone_level_dbfs
from mediacore.codecs import L16_48000
from mediacore.codecs.base import Pcm
from mediacore.events import EventBus
from mediacore.participant import Participant
from mediacore.relays import Relays
from mediacore.room import Room, RoomError, RoomSettings
from mixer.audiomixer import AudioMixer
from tests.mixer.test_audiomixer import CapturingOutput, MemoryEndpoint

pytestmark = pytest.mark.asyncio


def heard(p: Participant, frequency: float) -> float:
    output = p.endpoint.audio_output
    assert isinstance(output, CapturingOutput)
    return tone_level_dbfs(output.heard(L16_48000, last=20), frequency, 48000)


async def rooms(*names: str) -> tuple[EventBus, dict[str, Room], Relays]:
    bus = EventBus()
    made = {name: Room(RoomSettings(name), bus, make_mixer=AudioMixer) for name in names}
    for room in made.values():
        room.start()
    return bus, made, Relays(made.get, bus)


def person(room: Room, name: str, frequency: float | None) -> Participant:
    return room.add(Participant(name=name, endpoint=MemoryEndpoint(frequency)))


async def test_the_owner_hears_the_room_it_monitors_and_is_heard_only_while_transmitting() -> None:
    _, made, relays = await rooms("home", "far")
    owner = person(made["home"], "owner", 900.0)
    far = person(made["far"], "far", 1300.0)
    await relays.apply(made["home"], owner, {"monitor": [{"room": "far", "gain_db": -6}]})
    await asyncio.sleep(0.6)
    assert heard(owner, 1300.0) == pytest.approx(-26, abs=1.5)
    assert heard(far, 900.0) < -60
    await relays.apply(made["home"], owner, {"transmit": ["far"]})
    assert owner.monitor == ({"room": "far", "gain_db": -6.0},)  # left as it was
    await asyncio.sleep(0.6)
    assert heard(far, 900.0) == pytest.approx(-20, abs=1.5)
    assert heard(owner, 900.0) < -60  # never itself, through the relay either
    for room in made.values():
        await room.close()


async def test_relays_end_with_their_owner_and_a_kicked_relay_is_forgotten() -> None:
    _, made, relays = await rooms("home", "a", "b")
    owner = person(made["home"], "owner", None)
    await relays.apply(made["home"], owner, {"monitor": [{"room": "a"}, {"room": "b"}]})
    relay_in_a = next(p for p in made["a"].participants.values() if p.kind == "monitor")
    await made["a"].remove(relay_in_a.id, "kicked")
    assert [m["room"] for m in owner.monitor] == ["b"] and len(owner.feeds) == 1
    await made["home"].remove(owner.id, "left")
    await asyncio.sleep(0.05)
    assert not made["b"].participants
    for room in made.values():
        await room.close()


async def test_impossible_relays_change_nothing() -> None:
    _, made, relays = await rooms("home", "far")
    made["tiny"] = Room(RoomSettings("tiny", max_participants=1), EventBus(), make_mixer=AudioMixer)
    person(made["tiny"], "only", None)
    owner = person(made["home"], "owner", None)
    for changes in (
        {"monitor": [{"room": "home"}]},
        {"monitor": [{"room": "nowhere"}]},
        {"monitor": [{"room": "far"}, {"room": "tiny"}]},  # full: all or nothing
        {"monitor": [{"room": "far", "gain_db": 99}]},
    ):
        with pytest.raises(RoomError):
            await relays.apply(made["home"], owner, changes)
    assert not made["far"].participants and owner.monitor == () and owner.feeds == ()
    for room in made.values():
        await room.close()


class NarrowTone:
    """A talker of an 8 kHz room."""

    native_rate = 8000

    def __init__(self, frequency: float) -> None:
        self.frequency, self._at = frequency, 0

    def read(self, now: float) -> Pcm | None:
        t = (np.arange(160) + self._at) / 8000
        self._at += 160
        return (0.1 * np.sin(2 * np.pi * self.frequency * t)).astype(np.float32)

    def to_room_rate(self, pcm: Pcm, restart: bool) -> Pcm:
        return pcm


async def test_rooms_of_another_rate_are_converted() -> None:
    bus = EventBus()
    made = {
        "home": Room(RoomSettings("home"), bus, make_mixer=AudioMixer),
        "narrow": Room(RoomSettings("narrow", rate=8000), bus, make_mixer=AudioMixer),
    }
    for room in made.values():
        room.start()
    relays = Relays(made.get, bus)
    owner = person(made["home"], "owner", None)
    talker = MemoryEndpoint(None)
    talker.audio_input = NarrowTone(700.0)  # type: ignore[assignment]
    talker.audio_output = None
    made["narrow"].add(Participant(name="t", endpoint=talker))
    await relays.apply(made["home"], owner, {"monitor": [{"room": "narrow"}]})
    await asyncio.sleep(0.6)
    assert heard(owner, 700.0) == pytest.approx(-23, abs=1.5)  # 0.1 peak: -23 dBFS RMS
    for room in made.values():
        await room.close()
