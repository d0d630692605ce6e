"""Recordings of rooms placed on media workers, as the control process runs them.

The worker that holds a room's home shard taps the room and writes its tracks
(workerrecorder.py); its mix holds every talker of the room, those of other shards arriving over
the cascade links, and they get tracks of their own there. Control asks it to start and stop
over the channel and reads the sealed manifest from the data directory both share; the index,
search, verification, export, retention and the `recording.*` events stay with the recorder
service here (recorder/service.py), which this site serves like the in-process one.

The events of the room's other shards reach the home worker (`recording.event`) for the
timeline. A worker that dies with a recording running is reported to the service (`on_lost`),
which recovers the directory and continues the recording once the room is back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mediacore.channelio import RequestFailed
from mediacore.events import Event
from mediacore.room import RoomSettings
from mediacore.server.rooms import NoSuchRoom
from mediacore.server.shardedrooms import ShardedRooms
from mediacore.server.workerrecorder import ERROR_KIND
from mediacore.server.workers import WorkerProcess
from recorder.manifest import ManifestError, read_manifest
from recorder.recovery import recover_recording
from recorder.service import RecordingError
from recorder.site import RecordingRequest

log = logging.getLogger(__name__)

# The home shard hears these itself; the others' go to it for the timeline.
_HOME_EVENTS = ("room.", "floor.", "recording.")
_UNREACHABLE = (ConnectionError, TimeoutError)  # a worker dead, restarting or stuck


class WorkerRecording:
    """A recording written by a media worker (the `recorder.site.Recording` of worker mode)."""

    def __init__(
        self,
        worker: WorkerProcess,
        request: RecordingRequest,
        started: dict[str, Any],
        ended: Callable[[WorkerRecording], None],
    ) -> None:
        self.worker = worker
        self.request = request
        self._started = started
        self._ended = ended

    @property
    def id(self) -> str:
        return self.request.id

    @property
    def room_name(self) -> str:
        return self.request.room

    @property
    def started_by(self) -> str:
        return self.request.started_by

    @property
    def directory(self) -> Path:
        return self.request.directory

    async def summary(self) -> dict[str, Any]:
        try:
            return dict(await self._ask("recording.summary"))
        except (*_UNREACHABLE, RequestFailed):
            return dict(self._started)  # its worker is away: what it said at the start

    async def manifest(self) -> dict[str, Any]:
        try:
            return dict(await self._ask("recording.manifest"))
        except (*_UNREACHABLE, RequestFailed):
            return await self._on_disk(recover=False)

    async def stop(self, reason: str) -> dict[str, Any]:
        self._ended(self)
        try:
            await self._ask("recording.stop", reason=reason)
        except (*_UNREACHABLE, RequestFailed) as error:
            # Its worker died (or restarted) meanwhile: close what reached the disk.
            log.warning("recording closed without its worker",
                        extra={"recording": self.id, "error": str(error)})  # fmt: skip
            return await self._on_disk(recover=True)
        return await self._on_disk(recover=False)

    async def note_event(self, event: Event) -> None:
        """Give the home worker an event of another shard, for the timeline."""
        try:
            await self._ask("recording.event", event=event.to_json())
        except (*_UNREACHABLE, RequestFailed):
            pass  # stopped meanwhile, or its worker is away: the event is not recorded

    async def _ask(self, method: str, **data: Any) -> Any:
        return await self.worker.request(method, room=self.room_name, id=self.id, **data)

    async def _on_disk(self, recover: bool) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(_read_closed, self.directory, recover)
        except (ManifestError, OSError) as error:
            raise RecordingError(500, "manifest-unreadable", str(error)) from None


class ShardedRecordingSite:
    """The recording site of worker mode: rooms are tapped where their home shard runs."""

    def __init__(self, rooms: ShardedRooms) -> None:
        self.rooms = rooms
        self.running: dict[str, WorkerRecording] = {}  # by recording id
        self._tasks: set[asyncio.Task[None]] = set()
        rooms.notification_listeners["recording.failed"] = self._failed
        rooms.event_observers.append(self._event)
        rooms.lost_listeners.append(self._lost)

    def settings(self, room: str) -> RoomSettings | None:
        try:
            return self.rooms.settings(room)
        except NoSuchRoom:
            return None

    async def start(self, request: RecordingRequest) -> WorkerRecording:
        home = self.rooms.placed(request.room).home_worker  # NoSuchRoom is a LookupError
        try:  # who is on the other shards now: present at the start, on the timeline
            roster = await self.rooms.roster(request.room)
        except _UNREACHABLE:  # a shard's worker is restarting: its legs are gone for now
            roster = []
        try:
            started = await self.rooms.ask(
                home,
                "recording.start",
                room=request.room,
                id=request.id,
                by=request.started_by,
                continues=request.continues,
                present=[entry for entry in roster if entry.get("worker") != home.id],
            )
        except _UNREACHABLE:
            detail = f"the media worker of room {request.room!r} is not running"
            raise RecordingError(503, "worker-unavailable", detail) from None
        except RequestFailed as error:
            raise _recording_error(error) from None
        recording = WorkerRecording(home, request, started, self._forget)
        self.running[request.id] = recording
        return recording

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _forget(self, recording: WorkerRecording) -> None:
        self.running.pop(recording.id, None)

    def _failed(self, worker: WorkerProcess, data: dict[str, Any]) -> None:
        recording = self.running.get(str(data.get("id")))
        if recording is not None and recording.worker is worker:
            recording.request.on_failed(str(data.get("reason") or "failed"))

    def _lost(self, worker: WorkerProcess) -> None:
        for recording in [r for r in self.running.values() if r.worker is worker]:
            self._forget(recording)
            recording.request.on_lost("worker-lost")

    def note(self, event: Event) -> None:
        """An event of a room published in this process (not by a worker): for the timeline
        of every recording of that room."""
        self._note(event, None)

    def _event(self, worker: WorkerProcess, event: Event) -> None:
        if event.room is None or event.type.startswith(_HOME_EVENTS):
            return
        self._note(event, worker)

    def _note(self, event: Event, worker: WorkerProcess | None) -> None:
        """Give `event` to the recordings of its room that `worker` (None: none) does not run."""
        for recording in self.running.values():
            if recording.room_name == event.room and recording.worker is not worker:
                task = asyncio.get_running_loop().create_task(recording.note_event(event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)


def _read_closed(directory: Path, recover: bool) -> dict[str, Any]:
    """The recording's manifest, closed first (recovered) when asked and still open."""
    manifest = read_manifest(directory)
    if recover and manifest.get("state") == "recording":
        recover_recording(directory)
        manifest = read_manifest(directory)
    return manifest


def _recording_error(error: RequestFailed) -> Exception:
    kind, _, code = error.kind.partition(":")
    if kind == ERROR_KIND:
        return RecordingError(409, code, error.detail)
    return RecordingError(500, "recording-failed", f"{error.kind}: {error.detail}")
