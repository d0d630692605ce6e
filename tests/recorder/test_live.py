"""The live recording without a server: a room's mixer tap fed by hand, a real writer thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mediacore.events import EventBus
from mediacore.participant import Participant
from mediacore.room import Room, RoomSettings
from mixer.audiomixer import AudioMixer
from recorder.chainedfile import TrackFullError
from recorder.live import LiveRecording
from recorder.track import TrackWriter
from recorder.verify import verify_recording
from tests.mixer.test_audiomixer import MemoryEndpoint


@pytest.fixture
def executor() -> Any:
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


def feed(live: LiveRecording, room: Room, ticks: int, first: int = 1) -> None:
    people = list(room.participants.values())
    for tick in range(first, first + ticks):
        read = {p.id: p.endpoint.audio_input.read(0.0) for p in people}  # type: ignore[union-attr]
        frames = {pid: pcm for pid, pcm in read.items() if pcm is not None}
        total = sum(frames.values()) if frames else None
        live.on_tick(tick, tick * 0.02, people, frames, total)  # type: ignore[arg-type]


async def test_a_full_disk_stops_the_recording_cleanly(
    tmp_path: Path, executor: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = Room(RoomSettings("r"), EventBus(), make_mixer=AudioMixer)
    room.add(Participant(name="a", endpoint=MemoryEndpoint(440.0)))
    failures: list[str] = []
    live = LiveRecording(
        "rec-full", room, tmp_path / "rec-full", executor, "test",
        lambda recording, reason: failures.append(reason),
    )  # fmt: skip
    live.start()
    feed(live, room, 100)  # two seconds written
    executor.submit(lambda: None).result()
    original = TrackWriter.flush

    def full(self: TrackWriter) -> Any:
        raise TrackFullError(28, "No space left on device")

    monkeypatch.setattr(TrackWriter, "flush", full)
    feed(live, room, 50, first=101)
    executor.submit(lambda: None).result()
    assert failures == ["disk-full"] and live.state == "failed"
    monkeypatch.setattr(TrackWriter, "flush", original)
    manifest = await live.stop()
    assert manifest["state"] == "failed" and manifest["failure"] == "disk-full"
    assert verify_recording(tmp_path / "rec-full").ok  # what reached the disk is intact
    mix = next(t for t in manifest["tracks"] if t["id"] == "mix")
    assert mix["duration_ms"] >= 2000


async def test_tracks_keep_time_with_silence_for_missing_frames(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    room = Room(RoomSettings("r"), EventBus(), make_mixer=AudioMixer)
    quiet = Participant(name="quiet", endpoint=MemoryEndpoint(None))  # sends nothing
    room.add(quiet)
    live = LiveRecording("rec-t", room, tmp_path / "rec-t", executor, "test", lambda *a: None)
    live.start()
    feed(live, room, 50)
    manifest = await live.stop()
    track = next(t for t in manifest["tracks"] if t["participant"] == quiet.id)
    assert track["duration_ms"] == 1000  # 50 ticks of 20 ms, all silence
    data = (tmp_path / "rec-t" / track["file"]).read_bytes()[44:]
    assert not np.frombuffer(data, "<i2").any()
    assert [e["type"] for e in manifest["timeline"]] == ["participant.present"]


async def test_a_talker_of_another_shard_gets_a_track_that_keeps_time_until_it_leaves(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    room = Room(RoomSettings("r"), EventBus(), make_mixer=AudioMixer)
    local = Participant(name="local", endpoint=MemoryEndpoint(440.0))
    room.add(local)
    # Heard over a cascade link: mixed by this shard, held by another one.
    remote = Participant(name="p-remote", endpoint=MemoryEndpoint(1000.0), id="p-remote")
    live = LiveRecording(
        "rec-s", room, tmp_path / "rec-s", executor, "test", lambda *a: None, continues="rec-old"
    )
    entry = {"id": "p-remote", "name": "north", "kind": "rtp", "priority": 2, "duplex": "full"}
    live.start(also_present=[entry])

    def tick(number: int, people: list[Participant]) -> None:
        read = {p.id: p.endpoint.audio_input.read(0.0) for p in people}  # type: ignore[union-attr]
        frames = {pid: pcm for pid, pcm in read.items() if pcm is not None}
        live.on_tick(number, number * 0.02, people, frames, sum(frames.values()))  # type: ignore[arg-type]

    for number in range(1, 26):
        tick(number, [local, remote])  # half a second of talk
    for number in range(26, 51):
        tick(number, [local])  # quiet: its shard sends nothing, it leaves this shard's mix
    left = {"type": "participant.left", "room": "r", "at": "2026-12-07T10:00:01.000Z"}
    live.note_event({**left, "participant": "p-remote", "reason": "hangup"})
    for number in range(51, 76):
        tick(number, [local])
    manifest = await live.stop()
    track = next(t for t in manifest["tracks"] if t["participant"] == "p-remote")
    assert track["duration_ms"] == 1000  # its talk, then silence until it left
    pcm = np.frombuffer((tmp_path / "rec-s" / track["file"]).read_bytes()[44:], "<i2")
    assert np.abs(pcm[: 48000 // 2]).max() > 1000 and not pcm[48000 // 2 :].any()
    assert manifest["continues"] == "rec-old"
    north = next(p for p in manifest["participants"] if p["id"] == "p-remote")
    assert (north["name"], north["priority"]) == ("north", 2)  # not the link's bare id
    timeline = [(e["type"], e.get("participant")) for e in manifest["timeline"]]
    assert timeline == [
        ("participant.present", local.id),
        ("participant.present", "p-remote"),
        ("participant.left", "p-remote"),
    ]
    assert verify_recording(tmp_path / "rec-s").ok
