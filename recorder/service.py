"""The server's recorder: starts and stops recordings, recovers them after a crash, indexes,
verifies, exports and expires them.

Disk work never runs on the event loop: one writer thread takes the live recordings' bytes
(in order, so a recording's segments never race), another thread serves verification and
exports, which may read gigabytes."""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mediacore.events import Event, EventBus
from mediacore.room import Room
from recorder.filemode import make_directory
from recorder.index import RecordingIndex
from recorder.live import LiveRecording
from recorder.manifest import ManifestError, read_manifest, seal, write_manifest
from recorder.recovery import recover_recording
from recorder.retention import RetentionPolicy, apply_retention
from recorder.verify import VerifyReport, verify_recording

log = logging.getLogger(__name__)

RETENTION_EVERY = 3600.0  # seconds between retention sweeps
SEALED_STATES = ("stopped", "recovered", "failed")


class RecordingError(Exception):
    """A request the recorder cannot carry out; `status` and `code` are for the HTTP answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def new_recording_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"rec-{stamp}-{secrets.token_hex(3)}"


class RecorderService:
    def __init__(self, data_dir: Path, bus: EventBus, rooms: Callable[[str], Room | None]) -> None:
        self.root = data_dir / "recordings"
        self.bus = bus
        self.rooms = rooms
        data_dir.mkdir(parents=True, exist_ok=True)
        self.index = RecordingIndex(data_dir / "recordings.db")
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder-write")
        self.reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder-read")
        self.active: dict[str, LiveRecording] = {}  # by room name
        self.recovered: list[dict[str, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        make_directory(self.root)
        self.recovered = await self._loop.run_in_executor(self.reader, self._recover_all)
        self.bus.listen(self._room_event)
        self._spawn(self._retention_loop())

    async def stop(self) -> None:
        """Stop every live recording (SIGTERM): closed, sealed and verifiable."""
        self.bus.unlisten(self._room_event)
        for room_name in list(self.active):
            await self.stop_room(room_name, "server-stopping")
        for task in list(self._tasks):
            task.cancel()
        self.writer.shutdown(wait=True)
        self.reader.shutdown(wait=True)

    def _recover_all(self) -> list[dict[str, Any]]:
        """Close what a crash left open, and index every recording on disk."""
        recovered = []
        # Sealed and indexed recordings need nothing: only the others' manifests are read.
        indexed = {entry["id"]: entry["state"] for entry in self.index.summaries()}
        for directory in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if indexed.get(directory.name) in SEALED_STATES:
                continue
            try:
                manifest = read_manifest(directory)
            except ManifestError as error:
                log.error(
                    "unreadable recording", extra={"dir": directory.name, "error": str(error)}
                )
                continue
            if manifest.get("state") == "recording":
                report = recover_recording(directory)
                manifest = read_manifest(directory)
                recovered.append(
                    {"id": manifest["id"], "ok": report.ok, "problems": report.problems}
                )
                log.warning(
                    "recording recovered after a crash",
                    extra={"recording": manifest["id"], "ok": report.ok},
                )
            self.index.add(manifest, directory)
        return recovered

    # -- starting and stopping ------------------------------------------------------------

    def start_room(self, room: Room, started_by: str) -> LiveRecording:
        if room.name in self.active:
            raise RecordingError(409, "already-recording", f"room {room.name!r} is recording")
        recording_id = new_recording_id()
        live = LiveRecording(
            recording_id, room, self.root / recording_id, self.writer, started_by, self._failed
        )
        live.start()
        self.active[room.name] = live
        self.bus.publish("recording.started", room.name, id=recording_id, by=started_by)
        log.info("recording started", extra={"room": room.name, "recording": recording_id})
        return live

    async def stop_room(self, room_name: str, reason: str = "stopped") -> dict[str, Any]:
        live = self.active.pop(room_name, None)
        if live is None:
            raise RecordingError(409, "not-recording", f"room {room_name!r} is not recording")
        manifest = await live.stop(reason)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.writer, self.index.add, manifest, live.directory)
        kind = "recording.failed" if manifest["state"] == "failed" else "recording.stopped"
        # The seal goes out with the event too: a copy held elsewhere (a log, an event
        # consumer) makes rewriting files, chain and manifest together detectable.
        self.bus.publish(
            kind,
            room_name,
            id=live.id,
            reason=manifest.get("failure") or reason,
            manifest_sha256=manifest.get("manifest_sha256"),
        )
        log.info(
            "recording stopped",
            extra={"recording": live.id, "manifest_sha256": manifest.get("manifest_sha256")},
        )
        return manifest

    async def stop_recording(self, recording_id: str) -> dict[str, Any]:
        for room_name, live in self.active.items():
            if live.id == recording_id:
                return await self.stop_room(room_name)
        if self.index.get(recording_id) is None:
            raise RecordingError(404, "recording-not-found", f"no recording {recording_id!r}")
        raise RecordingError(409, "not-recording", f"recording {recording_id!r} has ended")

    def _failed(self, live: LiveRecording, reason: str) -> None:
        """From the writer thread: a write failed (disk full). Stop it on the loop."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop_failed, live)

    def _stop_failed(self, live: LiveRecording) -> None:
        if self.active.get(live.room.name) is live:
            self._spawn(self.stop_room(live.room.name, "failed"))

    def _room_event(self, event: Event) -> None:
        if event.room is None:
            return
        if event.type == "room.closed" and event.room in self.active:
            self._spawn(self.stop_room(event.room, "room-closed"))
        elif event.type == "room.opened":
            room = self.rooms(event.room)
            if room is not None and room.settings.record and room.name not in self.active:
                self.start_room(room, "auto")

    def start_configured(self, rooms: list[Room]) -> None:
        """Rooms opened before the recorder started: record those that say so."""
        for room in rooms:
            if room.settings.record and room.name not in self.active:
                self.start_room(room, "auto")

    # -- reading --------------------------------------------------------------------------

    def directory_of(self, recording_id: str) -> Path:
        entry = self.index.get(recording_id)
        if entry is None:
            raise RecordingError(404, "recording-not-found", f"no recording {recording_id!r}")
        return self.root / recording_id

    def manifest(self, recording_id: str) -> dict[str, Any]:
        for live in self.active.values():
            if live.id == recording_id:
                return live._manifest()
        try:
            return read_manifest(self.directory_of(recording_id))
        except ManifestError as error:
            raise RecordingError(500, "manifest-unreadable", str(error)) from None

    async def verify(self, recording_id: str) -> VerifyReport:
        directory = self.directory_of(recording_id)
        if any(live.id == recording_id for live in self.active.values()):
            raise RecordingError(409, "still-recording", "stop the recording before verifying it")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.reader, verify_recording, directory)

    async def set_legal_hold(self, recording_id: str, hold: bool) -> dict[str, Any]:
        directory = self.directory_of(recording_id)
        loop = asyncio.get_running_loop()

        def change() -> dict[str, Any]:
            # The hold is part of the sealed manifest, so lifting it is itself on record.
            manifest = read_manifest(directory)
            manifest["legal_hold"] = hold
            manifest.setdefault("holds", []).append(
                {"hold": hold, "at": datetime.now(UTC).isoformat(timespec="milliseconds")}
            )
            sealed = seal({k: v for k, v in manifest.items() if k != "manifest_sha256"})
            write_manifest(directory, sealed)
            self.index.add(sealed, directory)
            return sealed

        return await loop.run_in_executor(self.writer, change)

    async def delete(self, recording_id: str) -> None:
        entry = self.index.get(recording_id)
        if entry is None:
            raise RecordingError(404, "recording-not-found", f"no recording {recording_id!r}")
        if entry.get("legal_hold"):
            raise RecordingError(409, "legal-hold", f"recording {recording_id!r} is on legal hold")
        if any(live.id == recording_id for live in self.active.values()):
            raise RecordingError(409, "still-recording", "stop the recording before deleting it")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.writer, self._remove, recording_id)

    def _remove(self, recording_id: str) -> None:
        shutil.rmtree(self.root / recording_id, ignore_errors=True)
        self.index.remove(recording_id)
        log.info("recording deleted", extra={"recording": recording_id})

    # -- retention ------------------------------------------------------------------------

    async def _retention_loop(self) -> None:
        while True:
            await self.apply_retention()
            await asyncio.sleep(RETENTION_EVERY)

    async def apply_retention(self) -> list[str]:
        policies = {}
        for name in {entry["room"] for entry in self.index.search(limit=1000)}:
            room = self.rooms(name)
            if room is None:
                continue
            days, megabytes = room.settings.retention_days, room.settings.retention_max_mb
            if days or megabytes:
                policies[name] = RetentionPolicy(
                    max_days=days or None, max_bytes=megabytes * 1_000_000 or None
                )
        if not policies:
            return []
        loop = asyncio.get_running_loop()
        now = datetime.now(UTC)
        deleted = await loop.run_in_executor(
            self.writer, apply_retention, self.index, policies, now, self._remove
        )
        for recording_id in deleted:
            self.bus.publish("recording.expired", None, id=recording_id)
        return deleted

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
