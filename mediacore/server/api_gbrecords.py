"""GB/T 28181 recordings (录像): search a channel's recordings on the device, steer a recording
played into a room, and download one to the server.

- `GET /api/v1/gb28181/devices/{id}/channels/{ch}/records?start=&end=`: the device's
  RecordInfo answer, every page of it.
- `POST /api/v1/rooms/{room}/sources/{source}/playback`: pause, resume, seek or change the
  speed of a `gb28181://…?start=&end=` source (MANSRTSP over INFO); `gb.playback` events.
- `POST /api/v1/gb28181/devices/{id}/channels/{ch}/downloads`, `GET
  /api/v1/gb28181/downloads/{job}` and `…/file`: s=Download to a file the server keeps
  (ingest.gbdownload); `gb.download` events."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from ingest.gbdownload import GbDownloads, TooManyDownloads
from ingest.gbmansrtsp import MAX_SCALE, MIN_SCALE, MansrtspError, PlaybackControl
from ingest.gbplatform import GbPlatform
from ingest.gbreader import GbReader
from ingest.gbrecordings import RecordsError
from ingest.gbrecords import RECORD_TYPES, RecordItem, time_range
from mediacore.clock import iso8601
from mediacore.events import EventBus
from mediacore.server.errors import ApiError
from mediacore.server.roomerrors import room_errors
from mediacore.server.security import permission
from mediacore.server.sources import Sources

RECORDS_TIMEOUT = 10.0  # seconds a device has for every page of its RecordInfo answer
ACTIONS = ("pause", "resume", "seek", "speed")


class PlaybackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str = Field(max_length=16)
    position: float | None = None  # seek: seconds from the playback's start
    speed: float | None = None  # speed: 0.25 to 4


class DownloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str = Field(max_length=40)
    end: str = Field(max_length=40)
    speed: int = 4
    # as a source URL's transport: TCP passive (we listen) or active (we connect)
    transport: Literal["udp", "tcp", "tcp-passive", "tcp-active"] = "udp"


def build_gb_records_router(
    platform: GbPlatform | None,
    sources: Sources,
    downloads: GbDownloads | None,
    bus: EventBus,
) -> APIRouter:
    """`platform` None: GB/T 28181 is not configured (no device is known)."""
    router = APIRouter(prefix="/api/v1", tags=["gb28181"])
    reader = Depends(permission("rooms:read"))
    steerer = Depends(permission("legs:create"))
    recorder = Depends(permission("recordings:write"))
    file_reader = Depends(permission("recordings:write", allow_query_token=True))
    cseqs = itertools.count(1)

    @router.get("/gb28181/devices/{device_id}/channels/{channel_id}/records", dependencies=[reader])
    async def records(
        device_id: str, channel_id: str, start: str = "", end: str = "", type: str = "all"
    ) -> list[dict[str, Any]]:
        """The channel's recordings between `start` and `end` (ISO 8601; no zone is UTC; at
        most 7 days), of `type` all (default), time, alarm or manual, as the device answers
        RecordInfo: `[{"start", "end", "name",
        "file_path", "address", "type", "secrecy", "recorder_id", "file_size", "channel"}]`
        in time order. 400 bad times, 404 unknown device or channel, 409 device offline,
        502 the device refused, 504 it did not answer."""
        first, last = _range(start, end)
        if type not in RECORD_TYPES:
            raise ApiError(400, "bad-type", f"type must be one of {', '.join(RECORD_TYPES)}")
        gb = _online(platform, device_id, channel_id)
        try:
            found = await gb.recordings.query(
                device_id, channel_id, first, last, timeout=RECORDS_TIMEOUT, kind=type
            )
        except RecordsError as error:
            raise ApiError(502, "device-refused", str(error)) from None
        except RuntimeError as error:  # too many queries in flight
            raise ApiError(503, "busy", str(error)) from None
        if found is None:
            raise ApiError(504, "device-timeout", f"device {device_id} did not answer")
        return [_record(item) for item in found]

    @router.post("/rooms/{room}/sources/{source_id}/playback", dependencies=[steerer])
    async def playback(room: str, source_id: str, body: PlaybackRequest) -> dict[str, Any]:
        """Steer a played-back recording (a `gb28181://…?start=&end=` source): `{"action":
        "pause"|"resume"|"seek"|"speed", "position": seconds from the playback's start (seek),
        "speed": 0.25-4 (speed)}`, sent to the device as MANSRTSP in an INFO. 400 bad
        action or value, 404 no such room or source, 409 not a recording or not playing now,
        502 the device refused. Published as a `gb.playback` event."""
        control = _control(body, next(cseqs))
        try:
            with room_errors():
                source = await sources.find(room, source_id)
        except KeyError:
            raise ApiError(
                404, "source-not-found", f"no source {source_id!r} in room {room!r}"
            ) from None
        current = source.reader
        if not isinstance(current, GbReader) or current.playback is None:
            if "start=" not in source.url or not source.url.startswith("gb28181:"):
                raise ApiError(409, "not-a-playback", "the source is no GB/T 28181 recording")
            raise ApiError(409, "not-playing", f"the recording is {source.state}, not playing")
        start, end = current.playback
        if body.action == "seek" and (body.position or 0) >= end - start:
            detail = f"the recording is {end - start} s long: seek to 0 to {end - start - 1}"
            raise ApiError(400, "bad-position", detail)
        play = current.play
        if platform is None or play is None or play.ended:
            raise ApiError(409, "not-playing", "the recording is not playing now")
        status = await platform.recordings.control(play, control)
        if status != 200:
            raise ApiError(502, "device-refused", f"the device answered {status}")
        if body.action == "pause":
            current.paused.set()
        else:
            current.paused.clear()
        source.pause(body.action == "pause")
        details = {"position": body.position, "speed": body.speed}
        bus.publish(
            "gb.playback",
            room,
            participant=source_id,
            action=body.action,
            **{k: v for k, v in details.items() if v is not None},
        )
        return {"source": source_id, "action": body.action, "state": source.state, **details}

    @router.post(
        "/gb28181/devices/{device_id}/channels/{channel_id}/downloads",
        status_code=202,
        dependencies=[recorder],
    )
    async def download(device_id: str, channel_id: str, body: DownloadRequest) -> dict[str, Any]:
        """Download the channel's recording from `start` to `end` (ISO 8601) at `speed` (1-16)
        times real time into a file the server keeps (MPEG-PS, `.mpg`): answers the job; poll
        `/api/v1/gb28181/downloads/{job}` (`progress` 0..1, `bytes`) or follow `gb.download`
        events, then fetch its `url`. 400 bad times or speed, 404 unknown device or channel,
        409 device offline, 429 too many downloads running."""
        first, last = _range(body.start, body.end)
        _online(platform, device_id, channel_id)
        if downloads is None:
            raise ApiError(404, "device-not-found", "GB/T 28181 is not configured")
        try:
            job = downloads.start(
                device_id, channel_id, first, last, body.speed, transport=body.transport
            )
        except ValueError as error:
            raise ApiError(400, "bad-speed", str(error)) from None
        except TooManyDownloads as error:
            raise ApiError(429, "too-many-downloads", str(error)) from None
        return job.to_json()

    @router.get("/gb28181/downloads/{job_id}", dependencies=[recorder])
    async def download_state(job_id: str) -> dict[str, Any]:
        job = downloads.get(job_id) if downloads is not None else None
        if job is None:
            raise ApiError(404, "download-not-found", f"no download {job_id[:40]!r}")
        return job.to_json()

    @router.get("/gb28181/downloads/{job_id}/file", dependencies=[file_reader])
    async def download_file(job_id: str) -> FileResponse:
        job = downloads.get(job_id) if downloads is not None else None
        if job is None or job.path is None:
            raise ApiError(404, "download-not-found", f"no finished download {job_id[:40]!r}")
        return FileResponse(job.path, media_type="video/MP2P", filename=job.path.name)

    return router


def _range(start: str, end: str) -> tuple[int, int]:
    try:
        return time_range(start, end)
    except ValueError as error:
        raise ApiError(400, "bad-time-range", str(error)) from None


def _online(platform: GbPlatform | None, device_id: str, channel_id: str) -> GbPlatform:
    """The platform, once the device is known and online and the channel is one of its."""
    device = platform.devices.get(device_id) if platform is not None else None
    if platform is None or device is None:
        raise ApiError(404, "device-not-found", f"no GB/T 28181 device {device_id[:40]!r}")
    if device.channels and channel_id not in device.channels and channel_id != device_id:
        raise ApiError(404, "channel-not-found", f"device {device_id} has no {channel_id[:40]!r}")
    if device.state != "online":
        raise ApiError(409, "device-offline", f"GB/T 28181 device {device_id} is offline")
    return platform


def _control(body: PlaybackRequest, cseq: int) -> PlaybackControl:
    """The MANSRTSP control a request asks for; ApiError 400 when it asks for no valid one."""
    if body.action not in ACTIONS:
        raise ApiError(400, "bad-action", f"action must be one of {', '.join(ACTIONS)}")
    if body.action == "seek" and body.position is None:
        raise ApiError(400, "bad-position", "seek needs a position (seconds from the start)")
    if body.action == "speed" and body.speed is None:
        raise ApiError(400, "bad-speed", f"speed needs a speed ({MIN_SCALE:g} to {MAX_SCALE:g})")
    control = {
        "pause": PlaybackControl("PAUSE", cseq),
        "resume": PlaybackControl("PLAY", cseq),
        "seek": PlaybackControl("PLAY", cseq, position=body.position),
        "speed": PlaybackControl("PLAY", cseq, scale=body.speed),
    }[body.action]
    try:
        control.encode()
    except MansrtspError as error:
        raise ApiError(400, f"bad-{body.action}", str(error)) from None
    return control


def _record(item: RecordItem) -> dict[str, Any]:
    return {
        "start": _iso(item.start),
        "end": _iso(item.end),
        "name": item.name,
        "channel": item.device_id,
        "file_path": item.file_path,
        "address": item.address,
        "type": item.type,
        "secrecy": item.secrecy,
        "recorder_id": item.recorder_id,
        "file_size": item.file_size,
    }


def _iso(unix: int | None) -> str | None:
    return iso8601(datetime.fromtimestamp(unix, UTC)) if unix is not None else None
