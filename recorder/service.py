"""The server's recorder: starts and stops recordings, recovers them after a crash, indexes,
verifies, exports and expires them.

The rooms' audio is tapped and written where the room runs (recorder/site.py): in this process,
or in the media worker that holds the room; a recording whose worker died is recovered here and
continued by a new one (`"continues"` in its manifest) once the room is back.

Disk work never runs on the event loop: the site's writer thread takes the live recordings'
bytes (in order, so a recording's segments never race), one thread here updates the index and
manifests, another serves verification and exports, which may read gigabytes.

Every sealed manifest passes through here on its way to the index (`_enter`): the control
process signs it with the server's key and enters it in the ledger (recorder/ledger.py), in
both modes. A worker seals what it wrote but never holds the key: workers parse what the
network sends (RTP, DTLS, SDP), and one taken over must not be able to sign forged evidence;
signing here also covers the manifests only control seals (recovery, legal holds)."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mediacore.events import Event, EventBus
from mediacore.signing import PublicKey, SigningKey, default_key_path
from recorder.filemode import make_directory
from recorder.index import RecordingIndex
from recorder.ledger import LEDGER_FILE, LedgerReport, RecordingLedger, verify_ledger
from recorder.live import LiveRecording
from recorder.manifest import (
    ManifestError,
    manifest_hash_ok,
    read_manifest,
    seal,
    write_manifest,
)
from recorder.recordingid import new_recording_id
from recorder.recovery import recover_recording
from recorder.retention import RetentionPolicy, apply_retention
from recorder.signature import is_signed, sign_manifest
from recorder.site import LocalRecording, Recording, RecordingRequest, RecordingSite
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


@dataclass(frozen=True, slots=True)
class _Interrupted:
    """A recording whose process died with its room: recovered, then continued."""

    id: str
    started_by: str
    recovery: asyncio.Task[dict[str, Any] | None]


class RecorderService:
    """Recordings of the rooms `site` taps: started and stopped here, indexed, verified,
    exported and expired here, whichever process writes their tracks."""

    def __init__(
        self,
        data_dir: Path,
        bus: EventBus,
        site: RecordingSite,
        key: SigningKey | None = None,
        *,
        store: Path | None = None,
        index: Path | None = None,
        node: str | None = None,
    ) -> None:
        """`key`: the server's signing key (default: `data_dir`/keys/signing.key, made when
        missing). `store`: the folder of the recordings and their ledger (default: `data_dir`;
        a node's folder in a cluster's shared store); `index`: the index's file (default:
        `data_dir`/recordings.db, kept off the shared store: SQLite wants a local disk);
        `node`: the cluster node whose name ends the recordings' ids (recordingid.py)."""
        store = store or data_dir
        self.root = store / "recordings"
        self.bus = bus
        self.site = site
        self.node = node
        data_dir.mkdir(parents=True, exist_ok=True)
        store.mkdir(parents=True, exist_ok=True)
        self.key = key or SigningKey.load_or_create(default_key_path(data_dir))
        self.ledger = RecordingLedger(store / LEDGER_FILE, self.key)
        self.index = RecordingIndex(index or data_dir / "recordings.db")
        # Index updates, legal holds and deletions, one at a time; the live recordings' bytes
        # go through the site's own writer.
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder-index")
        self.reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder-read")
        self.active: dict[str, Recording] = {}  # by room name
        self.interrupted: dict[str, _Interrupted] = {}  # by room name
        self.recovered: list[dict[str, Any]] = []
        self._starting: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self.open()
        self.bus.listen(self._room_event)
        self._spawn(self._retention_loop())

    async def open(self) -> None:
        """Recover what a crash left open and index every recording (`recovered` says which
        were recovered); enough to serve recordings another node made (clusterrecordings)."""
        self._loop = asyncio.get_running_loop()
        make_directory(self.root)
        self.recovered = await self._loop.run_in_executor(self.reader, self._recover_all)

    async def close(self) -> None:
        """Stop serving what `open` opened (a recorder that never recorded)."""
        for task in list(self._tasks):
            task.cancel()
        await self.site.close()
        self.writer.shutdown(wait=True)
        self.reader.shutdown(wait=True)
        self.index.close()

    async def stop(self) -> None:
        """Stop every live recording (SIGTERM): closed, sealed and verifiable."""
        self.bus.unlisten(self._room_event)
        for room_name in list(self.active):
            await self.stop_room(room_name, "server-stopping")
        for task in list(self._tasks):
            task.cancel()
        await self.site.close()
        self.writer.shutdown(wait=True)
        self.reader.shutdown(wait=True)

    def _recover_all(self) -> list[dict[str, Any]]:
        """Close what a crash left open, and index every recording on disk."""
        recovered = []
        # Sealed and indexed recordings need nothing: only the others' manifests are read
        # (all of them once, when the ledger is new: they are entered in it).
        indexed = {entry["id"]: entry["state"] for entry in self.index.summaries()}
        adopting = not self.ledger.existed
        for directory in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if indexed.get(directory.name) in SEALED_STATES and not adopting:
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
                self._enter(manifest, directory, "recovered")
            elif not is_signed(manifest) and manifest_hash_ok(manifest):
                # Sealed by a worker (or before the ledger existed), not yet signed here.
                log.warning("a sealed recording is signed and entered at start",
                            extra={"recording": manifest.get("id")})  # fmt: skip
                self._enter(manifest, directory, "found at start", event="adopted")
            elif adopting and is_signed(manifest):  # signed before the ledger was (re)made
                self.ledger.sealed(manifest, "found at start", "adopted")
                self.index.add(manifest, directory)
            else:
                self.index.add(manifest, directory)
        return recovered

    def _enter(
        self, manifest: dict[str, Any], directory: Path, reason: str, event: str = "sealed"
    ) -> dict[str, Any]:
        """Sign a sealed manifest, write it, enter it in the ledger and the index; returns it
        signed (an unsealed or mis-sealed one is indexed only: signing would bless it).
        On the index writer thread (or before the service runs)."""
        if manifest_hash_ok(manifest):
            manifest = sign_manifest(manifest, self.key)
            write_manifest(directory, manifest)
            self.ledger.sealed(manifest, reason, event)
        else:
            log.error("a recording is not sealed: not signed", extra={"dir": directory.name})
        self.index.add(manifest, directory)
        return manifest

    # -- starting and stopping ------------------------------------------------------------

    async def start_recording(
        self, room: str, started_by: str, continues: str | None = None
    ) -> Recording:
        """Start recording `room`; `continues` names the recording this one carries on.

        Raises: RecordingError 409 `already-recording`, 404 `room-not-found`."""
        if room in self.active or room in self._starting:
            raise RecordingError(409, "already-recording", f"room {room!r} is recording")
        if self.site.settings(room) is None:
            raise RecordingError(404, "room-not-found", f"no room named {room!r}")
        recording_id = self._new_id()
        request = RecordingRequest(
            id=recording_id,
            room=room,
            directory=self.root / recording_id,
            started_by=started_by,
            on_failed=lambda reason: self._failed(room, recording_id),
            on_lost=lambda reason: self._lost(room, recording_id, reason),
            continues=continues,
        )
        self._starting.add(room)
        try:
            recording = await self.site.start(request)
        except LookupError:
            raise RecordingError(404, "room-not-found", f"no room named {room!r}") from None
        finally:
            self._starting.discard(room)
        self.active[room] = recording
        linked = {"continues": continues} if continues else {}
        self.bus.publish("recording.started", room, id=recording_id, by=started_by, **linked)
        log.info("recording started", extra={"room": room, "recording": recording_id, **linked})
        return recording

    def _new_id(self) -> str:
        while True:  # the random part may repeat within a second: never reuse a folder
            found = new_recording_id(self.node)
            if not (self.root / found).exists():
                return found

    async def stop_room(self, room_name: str, reason: str = "stopped") -> dict[str, Any]:
        recording = self.active.pop(room_name, None)
        if recording is None:
            raise RecordingError(409, "not-recording", f"room {room_name!r} is not recording")
        manifest = await recording.stop(reason)
        loop = asyncio.get_running_loop()
        directory = self.root / recording.id
        manifest = await loop.run_in_executor(self.writer, self._enter, manifest, directory, reason)
        kind = "recording.failed" if manifest["state"] == "failed" else "recording.stopped"
        # The seal goes out with the event too: a copy held elsewhere (a log, an event
        # consumer) makes rewriting files, chain and manifest together detectable.
        self.bus.publish(
            kind,
            room_name,
            id=recording.id,
            reason=manifest.get("failure") or reason,
            manifest_sha256=manifest.get("manifest_sha256"),
        )
        log.info(
            "recording stopped",
            extra={"recording": recording.id, "manifest_sha256": manifest.get("manifest_sha256")},
        )
        return manifest

    async def stop_recording(self, recording_id: str) -> dict[str, Any]:
        for room_name, recording in self.active.items():
            if recording.id == recording_id:
                return await self.stop_room(room_name)
        if self.index.get(recording_id) is None:
            raise RecordingError(404, "recording-not-found", f"no recording {recording_id!r}")
        raise RecordingError(409, "not-recording", f"recording {recording_id!r} has ended")

    def live_recordings(self) -> list[LiveRecording]:
        """The recordings whose tracks this process writes."""
        return [r.live for r in self.active.values() if isinstance(r, LocalRecording)]

    def _is_active(self, room: str, recording_id: str) -> bool:
        recording = self.active.get(room)
        return recording is not None and recording.id == recording_id

    def _failed(self, room: str, recording_id: str) -> None:
        """A write failed (disk full): stop the recording, which seals it as failed."""
        if self._is_active(room, recording_id):
            self._spawn(self.stop_room(room, "failed"))

    # -- a recording whose process died ---------------------------------------------------

    def _lost(self, room: str, recording_id: str, reason: str) -> None:
        """The process writing it died: close what reached the disk, and continue it in a new
        recording once the room is back (`room.restored`)."""
        if not self._is_active(room, recording_id):
            return
        recording = self.active.pop(room)
        recovery = self._spawn(self._recover(room, recording, reason))
        self.interrupted[room] = _Interrupted(recording.id, recording.started_by, recovery)

    async def _recover(self, room: str, recording: Recording, reason: str) -> dict[str, Any] | None:
        directory = self.root / recording.id

        def recover() -> dict[str, Any]:
            recover_recording(directory)
            return self._enter(read_manifest(directory), directory, "recovered")

        try:
            manifest = await asyncio.get_running_loop().run_in_executor(self.writer, recover)
        except (ManifestError, OSError) as error:
            log.error("a lost recording could not be recovered",
                      extra={"recording": recording.id, "error": str(error)})  # fmt: skip
            return None
        log.warning("recording recovered after its process died",
                    extra={"recording": recording.id, "state": manifest["state"]})  # fmt: skip
        self.bus.publish(
            "recording.failed",
            room,
            id=recording.id,
            reason=reason,
            state=manifest["state"],
            manifest_sha256=manifest.get("manifest_sha256"),
        )
        return manifest

    async def _continue(self, room: str, lost: _Interrupted) -> None:
        """The room is back: a new recording continues the lost one, which says so."""
        await lost.recovery
        try:
            recording = await self.start_recording(room, lost.started_by, continues=lost.id)
        except Exception as error:  # the room went again, or its worker: nothing to continue
            log.warning("a lost recording was not continued",
                        extra={"recording": lost.id, "error": str(error)})  # fmt: skip
            return

        def mark(manifest: dict[str, Any]) -> None:
            manifest["continued_by"] = recording.id

        try:
            await self._amend(lost.id, mark)
        except (RecordingError, ManifestError, OSError) as error:  # it was not recovered
            log.error("could not mark a recording as continued",
                      extra={"recording": lost.id, "error": str(error)})  # fmt: skip

    # -- rooms opening and closing --------------------------------------------------------

    def _room_event(self, event: Event) -> None:
        room = event.room
        if room is None:
            return
        if event.type == "room.closed":
            self.interrupted.pop(room, None)
            if room in self.active:
                self._spawn(self.stop_room(room, "room-closed"))
        elif event.type == "room.opened":
            if room not in self.interrupted:  # else it was restored: `room.restored` follows
                self._spawn(self._start_if_configured(room))
        elif event.type == "room.restored":
            lost = self.interrupted.pop(room, None)
            if lost is not None:
                self._spawn(self._continue(room, lost))

    async def start_configured(self, rooms: list[str]) -> None:
        """Rooms opened before the recorder started: record those that say so."""
        for room in rooms:
            await self._start_if_configured(room)

    async def _start_if_configured(self, room: str) -> None:
        settings = self.site.settings(room)
        if settings is None or not settings.record:
            return
        if room in self.active or room in self._starting:
            return
        try:
            await self.start_recording(room, "auto")
        except Exception as error:  # e.g. its worker died meanwhile: logged, not raised
            log.warning("auto-recording did not start", extra={"room": room, "error": str(error)})

    # -- reading --------------------------------------------------------------------------

    def directory_of(self, recording_id: str) -> Path:
        entry = self.index.get(recording_id)
        if entry is None:
            raise RecordingError(404, "recording-not-found", f"no recording {recording_id!r}")
        return self.root / recording_id

    async def manifest(self, recording_id: str) -> dict[str, Any]:
        for recording in list(self.active.values()):
            if recording.id == recording_id:
                return await recording.manifest()
        try:
            return read_manifest(self.directory_of(recording_id))
        except ManifestError as error:
            raise RecordingError(500, "manifest-unreadable", str(error)) from None

    async def verify(self, recording_id: str) -> VerifyReport:
        """Hashes, chain and the server's signature."""
        directory = self.directory_of(recording_id)
        if self._recording_now(recording_id):
            raise RecordingError(409, "still-recording", "stop the recording before verifying it")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.reader, verify_recording, directory, self.public)

    @property
    def public(self) -> PublicKey:
        """The key verifiers check manifests and the ledger with."""
        return self.key.public

    async def verify_ledger(self) -> LedgerReport:
        """The ledger's chain and signatures, and the recordings it names against the disk."""
        live = {recording.id for recording in self.active.values()}

        def check() -> LedgerReport:
            return verify_ledger(self.ledger.path, self.root, self.public, live)

        return await asyncio.get_running_loop().run_in_executor(self.writer, check)

    def holds(self, recording_id: str) -> bool:
        """Whether the recording is one of this recorder's (live, or indexed)."""
        return self._recording_now(recording_id) or self.index.has(recording_id)

    def _recording_now(self, recording_id: str) -> bool:
        return any(recording.id == recording_id for recording in self.active.values())

    async def set_legal_hold(self, recording_id: str, hold: bool) -> dict[str, Any]:
        def change(manifest: dict[str, Any]) -> None:
            # The hold is part of the sealed manifest, so lifting it is itself on record.
            manifest["legal_hold"] = hold
            manifest.setdefault("holds", []).append(
                {"hold": hold, "at": datetime.now(UTC).isoformat(timespec="milliseconds")}
            )

        return await self._amend(recording_id, change)

    async def _amend(
        self, recording_id: str, change: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        """Change a finished recording's manifest, seal it again and index it; returns it."""
        directory = self.directory_of(recording_id)

        def amend() -> dict[str, Any]:
            manifest = read_manifest(directory)
            change(manifest)
            sealed = seal({k: v for k, v in manifest.items() if k != "manifest_sha256"})
            return self._enter(sealed, directory, "amended")

        return await asyncio.get_running_loop().run_in_executor(self.writer, amend)

    async def delete(self, recording_id: str, by: str = "api") -> None:
        entry = self.index.get(recording_id)
        if entry is None:
            raise RecordingError(404, "recording-not-found", f"no recording {recording_id!r}")
        if entry.get("legal_hold"):
            raise RecordingError(409, "legal-hold", f"recording {recording_id!r} is on legal hold")
        if self._recording_now(recording_id):
            raise RecordingError(409, "still-recording", "stop the recording before deleting it")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.writer, self._remove, recording_id, by)

    def _remove(self, recording_id: str, by: str = "retention") -> None:
        self.ledger.deleted(recording_id, by)  # first: a crash then leaves it reported, not lost
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
            settings = self.site.settings(name)
            if settings is None:
                continue
            days, megabytes = settings.retention_days, settings.retention_max_mb
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

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
