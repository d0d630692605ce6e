"""A media worker's recordings driven over a real control channel, as control drives them:
start, the other shards' events, the live manifest, stop; refusals come back as the channel's
error kinds, and a write failure as a notification."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mediacore.channel import Notification
from mediacore.channelio import Channel, RequestFailed
from mediacore.events import EventBus
from mediacore.participant import Participant
from mediacore.room import Room, RoomSettings
from mediacore.server.workerrecorder import WorkerRecorder
from mixer.audiomixer import AudioMixer
from recorder.chainedfile import TrackFullError
from recorder.track import TrackWriter
from recorder.verify import verify_recording
from tests.mixer.test_audiomixer import MemoryEndpoint
from tests.recorder.test_live import feed
from tests.recorder.test_recorder_service import eventually


@dataclass
class Sides:
    control: Channel
    recorder: WorkerRecorder
    room: Room
    notes: list[Notification]


@pytest.fixture
async def sides(tmp_path: Path) -> AsyncIterator[Sides]:
    ours, theirs = socket.socketpair()
    control = await Channel.over(ours, "control")
    worker = await Channel.over(theirs, "worker")
    room = Room(RoomSettings("r"), EventBus(), make_mixer=AudioMixer)  # ticked by hand
    room.add(Participant(name="local", endpoint=MemoryEndpoint(440.0)))
    recorder = WorkerRecorder(tmp_path, lambda name: room if name == "r" else None, worker)
    worker.handlers.update(recorder.handlers())
    notes: list[Notification] = []
    control.on_notification = notes.append
    yield Sides(control, recorder, room, notes)
    await recorder.stop_all("test-over")
    control.close()
    worker.close()


async def refused(control: Channel, method: str, **data: Any) -> str:
    with pytest.raises(RequestFailed) as failure:
        await control.request(method, **data)
    return failure.value.kind


async def test_control_starts_feeds_and_stops_a_workers_recording(
    sides: Sides, tmp_path: Path
) -> None:
    control = sides.control
    present = [{"id": "p-far", "name": "north", "kind": "rtp", "worker": 1}]
    summary = await control.request(
        "recording.start", room="r", id="rec-1", by="alice", continues="rec-0", present=present
    )
    assert (summary["id"], summary["room"], summary["state"]) == ("rec-1", "r", "recording")
    again = {"room": "r", "id": "rec-2", "by": "bob"}
    assert await refused(control, "recording.start", **again) == "RecordingError:already-recording"
    nowhere = {"room": "nowhere", "id": "rec-3", "by": "bob"}
    assert await refused(control, "recording.start", **nowhere) == "NoSuchRoom"
    escape = {"room": "r", "id": "../../etc", "by": "bob"}
    assert await refused(control, "recording.start", **escape) == "ValueError"
    feed(sides.recorder.active["r"].live, sides.room, 50)
    talk = {"type": "talking", "room": "r", "at": "2026-12-07T10:00:00.500Z", "talking": True}
    await control.request(
        "recording.event", room="r", id="rec-1", event=talk | {"participant": "p-far"}
    )
    live = await control.request("recording.manifest", room="r", id="rec-1")
    assert live["continues"] == "rec-0"
    assert ("talking", "p-far") in [(e["type"], e.get("participant")) for e in live["timeline"]]
    stopped = await control.request("recording.stop", room="r", id="rec-1", reason="stopped")
    assert stopped["state"] == "stopped" and stopped["manifest_sha256"]
    assert verify_recording(tmp_path / "recordings" / "rec-1").ok
    gone = {"room": "r", "id": "rec-1", "reason": "stopped"}
    assert await refused(control, "recording.stop", **gone) == "RecordingError:not-recording"


async def test_a_write_failure_in_the_worker_is_told_to_control(
    sides: Sides, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sides.control.request("recording.start", room="r", id="rec-9", by="alice")

    def full(self: TrackWriter) -> Any:
        raise TrackFullError(28, "No space left on device")

    monkeypatch.setattr(TrackWriter, "flush", full)
    feed(sides.recorder.active["r"].live, sides.room, 50)
    await eventually(lambda: sides.notes)
    (note,) = sides.notes
    assert note.event == "recording.failed"
    assert note.data == {"room": "r", "id": "rec-9", "reason": "disk-full"}
