"""/api/v1 recordings: start and stop per room; search, manifest, playback, verify, export.

Only reviewer and admin read recordings; commanders may start and stop them; legal holds and
deletion are the admin's. Reviewers also get what proves recordings unaltered: the server's
public key, the ledger of sealed recordings and its check, and the audit entries of a
recording's room over its time (chain of custody)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from mediacore.server.api_audit import utc_text
from mediacore.server.auditlog import AuditLog, AuditQuery
from mediacore.server.auth import Principal
from mediacore.server.directory import RoomDirectory
from mediacore.server.errors import ApiError
from mediacore.server.security import permission
from recorder.diskreserve import DiskReserveError
from recorder.export import MAX_EXPORT_SECONDS
from recorder.exportjobs import ExportJobs, TooManyExports
from recorder.peaks import track_peaks
from recorder.service import RecorderService, RecordingError
from recorder.shelf import RecorderShelf
from recorder.trackkinds import is_video_track
from recorder.video import CONTENT_TYPES


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The slice, as UTC times (ISO 8601) or as seconds from the recording's start.
    start: datetime | None = None
    end: datetime | None = None
    from_s: float | None = Field(None, ge=0)
    to_s: float | None = Field(None, ge=0)
    tracks: list[str] | None = Field(
        None,
        max_length=64,
        description='default: the mix; for "video", one video track first, then the audio '
        "tracks to mix beside it (default: the mix)",
    )
    format: Literal["wav", "opus", "video"] = "wav"


class HoldRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    legal_hold: bool


def build_recordings_router(
    directory: RoomDirectory,
    recorder: RecorderService,
    exports: ExportJobs,
    audit: AuditLog | None = None,
    shelf: RecorderShelf | None = None,
) -> APIRouter:
    """`shelf`: the recordings this node serves, its recorder's and those it has taken over
    from a dead node (default: its recorder's only)."""
    router = APIRouter(prefix="/api/v1", tags=["recordings"])
    shelf = shelf or RecorderShelf(recorder)
    holder = shelf.holder
    reader = Depends(permission("recordings:read"))
    # Files are also fetched by <audio> elements and download links: ?token= is accepted.
    media_reader = Depends(permission("recordings:read", allow_query_token=True))
    admin = Depends(permission("recordings:admin"))
    writer = Depends(permission("recordings:write"))

    def failed(error: RecordingError) -> ApiError:
        return ApiError(error.status, error.code, str(error))

    @router.post("/rooms/{room}/recordings", status_code=201)
    async def start(
        room: str, principal: Annotated[Principal, Depends(permission("recordings:write"))]
    ) -> dict[str, Any]:
        """Start recording the room: every participant's audio track, the mix, and every video
        source of its participants (remuxed as sent: MP4 for H.264/H.265, WebM for VP8; video
        in rooms of this process only). A room in a media worker is recorded by that worker."""
        try:
            recording = await recorder.start_recording(room, principal.name)
        except RecordingError as error:
            raise failed(error) from None
        return await recording.summary()

    @router.get("/rooms/{room}/recordings", dependencies=[writer])
    async def room_recording(room: str) -> dict[str, Any]:
        """Whether the room is recording now: `{"recording": {id, state, started_at...}|null}`
        (for the console's start/stop button; reading recordings is the reviewers')."""
        if not directory.exists(room):
            raise ApiError(404, "room-not-found", f"no room named {room!r}")
        recording = recorder.active.get(room)
        return {"recording": await recording.summary() if recording is not None else None}

    @router.post("/recordings/{recording_id}/stop", dependencies=[writer])
    async def stop(recording_id: str) -> dict[str, Any]:
        """Stop a recording; answers its sealed manifest's summary."""
        try:
            manifest = await recorder.stop_recording(recording_id)
        except RecordingError as error:
            raise failed(error) from None
        return _summary(manifest)

    # Before /recordings/{recording_id}: "public-key" and "ledger" are no recording ids.
    @router.get("/recordings/public-key", dependencies=[reader])
    async def public_key() -> dict[str, Any]:
        """The server's Ed25519 public key, which signs every sealed manifest, the ledger and
        the audit log: `{"algorithm": "ed25519", "key": id, "pem"}`. A verifier keeps its own
        copy and checks offline (`mediacore recordings verify --data-dir --public-key`)."""
        public = recorder.public
        return {"algorithm": "ed25519", "key": public.id, "pem": public.pem()}

    @router.get("/recordings/ledger", dependencies=[reader], response_class=PlainTextResponse)
    async def ledger() -> PlainTextResponse:
        """The ledger of sealed and deleted recordings as stored (JSON lines): to check offline."""
        path = recorder.ledger.path
        text = await asyncio.to_thread(path.read_text, "utf-8") if path.is_file() else ""
        return PlainTextResponse(text, media_type="application/x-ndjson")

    @router.get("/recordings/ledger/verify", dependencies=[reader])
    async def verify_ledger() -> dict[str, Any]:
        """The ledger's chain and signatures, and the recordings it names against the disk:
        `{"ok", "problems": [{"recording"|"line", "problem", "detail"}], "entries", "head"}`;
        "missing" is a recording deleted by hand, "not-in-ledger" one that appeared."""
        return (await recorder.verify_ledger()).to_json()

    @router.get("/recordings/{recording_id}/audit", dependencies=[reader])
    async def recording_audit(recording_id: str) -> list[dict[str, Any]]:
        """The audit entries of the recording's room from its start to its stop, and those
        naming the recording (stop, holds, exports), oldest first; each keeps its hash and
        signature, so it can be checked alone against the public key."""
        if audit is None:
            return []
        try:
            manifest = await holder(recording_id).manifest(recording_id)
        except RecordingError as error:
            raise failed(error) from None
        during = AuditQuery(
            room=str(manifest.get("room")), since=manifest.get("started_at"),
            until=manifest.get("stopped_at"), limit=1000,
        )  # fmt: skip
        found = await audit.search(during)
        found += await audit.search(AuditQuery(recording=recording_id, limit=1000))
        unique = {entry.get("seq"): entry for entry in found}
        return [unique[seq] for seq in sorted(unique, key=lambda seq: int(seq or 0))]

    @router.get("/recordings", dependencies=[reader])
    async def search(
        room: str | None = None,
        participant: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        event: Annotated[str | None, Query(max_length=64)] = None,
        source: Annotated[str | None, Query(max_length=64)] = None,
        state: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
        track_kind: Annotated[str | None, Query(max_length=32)] = None,
    ) -> list[dict[str, Any]]:
        """Search by room, participant (id or name), time range and event type: e.g.
        `?event=floor.granted&participant=north` finds the floor grants of gateway "north"
        (under `matches`); `?track_kind=composite` the recordings with a conference picture.
        Recordings in progress are listed too."""
        found = shelf.search(
            room=room, participant=participant, since=utc_text(since), until=utc_text(until),
            event_type=event, source=source, state=state, limit=limit, offset=offset,
            track_kind=track_kind,
        )  # fmt: skip
        live = [
            recording.summary()
            for recording in list(recorder.active.values())
            if (room is None or recording.room_name == room)
            and (event, participant, track_kind) == (None, None, None)
        ]
        return [*await asyncio.gather(*live), *found]

    @router.get("/recordings/{recording_id}", dependencies=[reader])
    async def manifest(recording_id: str) -> dict[str, Any]:
        try:
            return await holder(recording_id).manifest(recording_id)
        except RecordingError as error:
            raise failed(error) from None

    @router.get("/recordings/{recording_id}/verify", dependencies=[reader])
    async def verify(recording_id: str) -> dict[str, Any]:
        """Recompute every segment hash and the chain: `{"ok", "problems": [...]}`."""
        try:
            report = await holder(recording_id).verify(recording_id)
        except RecordingError as error:
            raise failed(error) from None
        return {"ok": report.ok, "problems": report.problems}

    @router.get("/recordings/{recording_id}/tracks/{track_id}", dependencies=[media_reader])
    async def track(recording_id: str, track_id: str) -> FileResponse:
        """The track's file: WAV for audio, fragmented MP4 (H.264, H.265) or WebM (VP8) for
        video (`kind` "video" in the manifest); HTTP Range requests play from any moment."""
        found = await _track(holder(recording_id), recording_id, track_id)
        path = holder(recording_id).directory_of(recording_id) / found["file"]
        if not path.is_file():
            raise ApiError(404, "track-missing", f"the file of track {track_id!r} is missing")
        media, suffix = "audio/wav", ".wav"
        if is_video_track(found):
            suffix = path.suffix.lower()
            media = CONTENT_TYPES.get(suffix, "application/octet-stream")
        name = f"{recording_id}-{track_id}{suffix}"
        return FileResponse(path, media_type=media, filename=name)

    @router.get("/recordings/{recording_id}/tracks/{track_id}/peaks", dependencies=[reader])
    async def peaks(
        recording_id: str, track_id: str, points: Annotated[int, Query(ge=10, le=10000)] = 1000
    ) -> dict[str, Any]:
        """The track's waveform for drawing: `points` peak levels (0..1) over its length."""
        held = holder(recording_id)
        found = await _track(held, recording_id, track_id)
        if is_video_track(found):
            raise ApiError(409, "not-audio", f"track {track_id!r} is video: it has no waveform")
        path = held.directory_of(recording_id) / found["file"]
        try:
            values = await _in_thread(recorder, track_peaks, path, points)
        except (OSError, ValueError) as error:
            raise ApiError(409, "track-unreadable", str(error)) from None
        return {"track": track_id, "duration_ms": found.get("duration_ms"), "peaks": values}

    @router.post("/recordings/{recording_id}/exports", status_code=202, dependencies=[reader])
    async def export(recording_id: str, body: ExportRequest, request: Request) -> dict[str, Any]:
        """Render a slice (the mix, or chosen tracks mixed) as WAV or Ogg Opus, or with format
        "video" a video track's slice (copied from the keyframe before its start, never
        re-encoded; MP4 or WebM) with the mix as Opus beside it; answers a job to poll at
        `/api/v1/exports/{job}` (`progress` 0..1), then download its `url`. One client
        address may have `[server] max_exports_per_address` exports unfinished (429)."""
        held = holder(recording_id)
        try:
            manifest = await held.manifest(recording_id)
        except RecordingError as error:
            raise failed(error) from None
        if manifest.get("state") == "recording":
            raise ApiError(409, "still-recording", "stop the recording before exporting it")
        start, end = _slice(manifest, body)
        known = {t["id"] for t in manifest.get("tracks", [])}
        unknown = sorted(set(body.tracks or []) - known)
        if unknown:
            raise ApiError(400, "unknown-track", f"no track(s) {', '.join(unknown)}")
        video = {t["id"] for t in manifest.get("tracks", []) if is_video_track(t)}
        chosen = body.tracks or []
        if body.format == "video" and (not chosen or chosen[0] not in video):
            raise ApiError(400, "video-track", 'format "video" needs a video track first')
        if set(chosen[1:] if body.format == "video" else chosen) & video:
            detail = 'one video track per export, with format "video"'
            raise ApiError(400, "video-track", detail)
        address = request.client.host if request.client is not None else ""
        try:
            job = exports.start(
                held.directory_of(recording_id), manifest, start=start, end=end,
                tracks=body.tracks, fmt=body.format, owner=address,
            )  # fmt: skip
        except TooManyExports as error:
            raise ApiError(429, "too-many-exports", str(error)) from None
        except DiskReserveError as error:
            raise ApiError(507, "disk-reserve", str(error)) from None
        return job.to_json()

    @router.get("/exports/{job_id}", dependencies=[reader])
    async def export_state(job_id: str) -> dict[str, Any]:
        job = exports.get(job_id)
        if job is None:
            raise ApiError(404, "export-not-found", f"no export {job_id!r}")
        return job.to_json()

    @router.get("/exports/{job_id}/file", dependencies=[media_reader])
    async def export_file(job_id: str) -> FileResponse:
        job = exports.get(job_id)
        if job is None or job.path is None:
            raise ApiError(404, "export-not-found", f"no finished export {job_id!r}")
        media = "audio/ogg" if job.fmt == "opus" else "audio/wav"
        if job.fmt == "video":
            media = CONTENT_TYPES.get(job.path.suffix, "application/octet-stream")
        return FileResponse(job.path, media_type=media, filename=job.path.name)

    @router.patch("/recordings/{recording_id}", dependencies=[admin])
    async def hold(recording_id: str, body: HoldRequest) -> dict[str, Any]:
        """Put a recording under legal hold (retention never deletes it), or lift the hold."""
        try:
            return _summary(
                await holder(recording_id).set_legal_hold(recording_id, body.legal_hold)
            )
        except RecordingError as error:
            raise failed(error) from None

    @router.delete("/recordings/{recording_id}", status_code=204)
    async def delete(
        recording_id: str, principal: Annotated[Principal, Depends(permission("recordings:admin"))]
    ) -> None:
        """Delete a recording; the ledger says who did (verify then does not miss it)."""
        try:
            await holder(recording_id).delete(recording_id, by=principal.name)
        except RecordingError as error:
            raise failed(error) from None

    return router


async def _track(recorder: RecorderService, recording_id: str, track_id: str) -> dict[str, Any]:
    try:
        manifest = await recorder.manifest(recording_id)
    except RecordingError as error:
        raise ApiError(error.status, error.code, str(error)) from None
    for entry in manifest.get("tracks", []):
        if entry["id"] == track_id:
            return dict(entry)
    raise ApiError(404, "track-not-found", f"recording {recording_id!r} has no track {track_id!r}")


def _slice(manifest: dict[str, Any], body: ExportRequest) -> tuple[datetime, datetime]:
    began = datetime.fromisoformat(manifest["started_at"].replace("Z", "+00:00"))
    start = body.start or began + timedelta(seconds=body.from_s or 0.0)
    if body.end is not None:
        end = body.end
    elif body.to_s is not None:
        end = began + timedelta(seconds=body.to_s)
    else:
        stopped = manifest.get("stopped_at") or manifest["started_at"]
        end = datetime.fromisoformat(stopped.replace("Z", "+00:00"))
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise ApiError(400, "bad-range", "the slice must end after it starts")
    if (end - start).total_seconds() > MAX_EXPORT_SECONDS:
        raise ApiError(400, "bad-range", f"an export is at most {MAX_EXPORT_SECONDS} s long")
    return start, end


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _summary(manifest: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "room", "state", "failure", "started_at", "stopped_at", "legal_hold")
    return {key: manifest.get(key) for key in keys} | {
        "tracks": [t["id"] for t in manifest.get("tracks", [])],
        "manifest_sha256": manifest.get("manifest_sha256"),
    }


async def _in_thread(recorder: RecorderService, function: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(recorder.reader, function, *args)
