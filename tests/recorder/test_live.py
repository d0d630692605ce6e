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
