"""The recorder service and its site: a write failure stops the recording, and a recording lost
with the process that wrote it (a media worker killed) is recovered, indexed and continued by a
new one once its room is back. Rooms are fed by hand; the writer threads are real."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mediacore.events import Event, EventBus
from mediacore.participant import Participant
from mediacore.room import Room, RoomSettings
from mixer.audiomixer import AudioMixer
from recorder.chainedfile import TrackFullError
from recorder.manifest import read_manifest
from recorder.service import RecorderService
from recorder.site import LocalRecording, LocalSite, RecordingRequest
from recorder.track import TrackWriter
from recorder.verify import verify_recording
from tests.mixer.test_audiomixer import MemoryEndpoint
from tests.recorder.test_live import feed


class LosingSite:
    """A LocalSite that keeps every request, so a test can say its process died."""

    def __init__(self, room: Room) -> None:
        self.local = LocalSite(lambda name: room if name == room.name else None)
        self.requests: list[RecordingRequest] = []

    def settings(self, room: str) -> RoomSettings | None:
        return self.local.settings(room)

    async def start(self, request: RecordingRequest) -> LocalRecording:
        self.requests.append(request)
        return await self.local.start(request)

    async def close(self) -> None:
        await self.local.close()

    def flushed(self) -> None:
        self.local.writer.submit(lambda: None).result()


def recording_events(bus: EventBus) -> list[Event]:
    seen: list[Event] = []
    bus.listen(lambda event: seen.append(event) if event.type.startswith("recording.") else None)
    return seen


async def eventually(check: Any, seconds: float = 3.0) -> Any:
    for _ in range(int(seconds / 0.02)):
        found = check()
        if found:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError("not within the time")


@pytest.fixture
def room() -> Room:
    # Never started: its clock does not run, the tests tick the recording by hand.
    room = Room(RoomSettings("r", record=True), EventBus(), make_mixer=AudioMixer)
    room.add(Participant(name="a", endpoint=MemoryEndpoint(440.0)))
    return room


async def test_a_recording_lost_with_its_process_is_recovered_and_continued_when_its_room_is_back(
    tmp_path: Path, room: Room
) -> None:
    site = LosingSite(room)
    recorder = RecorderService(tmp_path, room.bus, site)
    await recorder.start()
    events = recording_events(room.bus)
    try:
        old = await recorder.start_recording("r", "alice")
        (live,) = recorder.live_recordings()
        feed(live, room, 100)  # two seconds, flushed by the writer thread
        site.flushed()
        site.requests[0].on_lost("worker-lost")  # its process died: nothing more is written
        assert "r" not in recorder.active
        room.bus.publish("room.opened", "r")  # the restarted worker opens it, says `record`
        await asyncio.sleep(0.1)
        assert "r" not in recorder.active  # the continuation is for `room.restored`
        room.bus.publish("room.restored", "r", worker=0)
        new = await eventually(lambda: recorder.active.get("r"))
        directory = tmp_path / "recordings" / old.id
        await eventually(lambda: "continued_by" in read_manifest(directory))  # sealed again
        recovered = await recorder.manifest(old.id)
        assert recovered["state"] == "recovered" and recovered["continued_by"] == new.id
        assert verify_recording(directory).ok
        mix = next(t for t in recovered["tracks"] if t["id"] == "mix")
        assert mix["duration_ms"] >= 1000
        continuing = await recorder.manifest(new.id)
        assert continuing["continues"] == old.id and continuing["started_by"] == "alice"
        sealed = await recorder.stop_room("r")
        assert sealed["state"] == "stopped" and sealed["continues"] == old.id
    finally:
        await recorder.stop()
    said = [(e.type, e.data["id"], e.data.get("reason"), e.data.get("continues")) for e in events]
    assert said == [
        ("recording.started", old.id, None, None),
        ("recording.failed", old.id, "worker-lost", None),
        ("recording.started", new.id, None, old.id),
        ("recording.stopped", new.id, "stopped", None),
    ]
    failed = next(e for e in events if e.type == "recording.failed")
    assert failed.data["state"] == "recovered" and failed.data["manifest_sha256"]


async def test_a_write_failure_stops_the_recording_as_failed(
    tmp_path: Path, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = LosingSite(room)
    recorder = RecorderService(tmp_path, room.bus, site)
    await recorder.start()
    events = recording_events(room.bus)
    try:
        recording = await recorder.start_recording("r", "test")
        (live,) = recorder.live_recordings()

        def full(self: TrackWriter) -> Any:
            raise TrackFullError(28, "No space left on device")

        monkeypatch.setattr(TrackWriter, "flush", full)
        feed(live, room, 50)
        await eventually(lambda: "r" not in recorder.active)
        await eventually(lambda: any(e.type == "recording.failed" for e in events))
    finally:
        await recorder.stop()
    failed = next(e for e in events if e.type == "recording.failed")
    assert failed.data["id"] == recording.id and failed.data["reason"] == "disk-full"
    assert recorder.index.get(recording.id) is not None
