"""/api/v1/rooms/{room}/sources: field cameras pulled into a room (RTSP, RTMP, HLS, SRT)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ingest.netpolicy import AddressRefused
from ingest.puller import PullError
from ingest.service import ADDRESS_REFUSED
from mediacore.server.auth import SECRETS, Principal
from mediacore.server.errors import ApiError
from mediacore.server.linklegs import LinkLegs
from mediacore.server.roomerrors import room_errors
from mediacore.server.security import permission
from mediacore.server.sources import Sources


class SourceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2048)
    name: str = Field("", max_length=128)
    # the audio of any source may join the mix unless the operator says otherwise
    audio: StrictBool = True


def build_sources_router(
    sources: Sources,
    link_legs: LinkLegs,
    extra: Callable[[str], dict[str, Any]] | None = None,
) -> APIRouter:
    """`link_legs` learns the sources join links add, to remove them when the link ends;
    `extra(source id)` adds fields to a source's entry (a transcode that runs)."""
    router = APIRouter(prefix="/api/v1/rooms", tags=["sources"])
    joiner = Depends(permission("legs:create"))

    @router.post("/{room}/sources", status_code=201)
    async def add_source(
        room: str,
        body: SourceCreate,
        response: Response,
        principal: Annotated[Principal, Depends(permission("legs:create"))],
    ) -> dict[str, Any]:
        """Pull a field camera into the room as a participant (kind "video"): `rtsp://`
        (TCP), `rtsp+udp://`, `rtmp://`, `http(s)://...m3u8` or `srt://`. H.264 goes to
        WebRTC subscribers, walls and recorders as received, H.265 to walls and recorders
        (WebRTC subscribers get its H.264 twin, transcoded once); other codecs fail the
        source. With `audio` (default true) its sound
        is mixed into the room like a talker's (mute it with the participant API). Answers its
        participant id, state and `audio`; later states arrive as `source.state` events.
        A host outside the `[outbound]` networks (link-local, metadata and loopback addresses
        by default) is `403 source-refused`, before anything connects."""
        try:
            with room_errors(full="room-full"):
                added = await sources.add(room, body.url, body.name or "camera", body.audio)
        except AddressRefused as error:
            detail = str(error) if principal.may(SECRETS) else ADDRESS_REFUSED
            raise ApiError(403, "source-refused", detail) from None
        except PullError as error:
            raise ApiError(400, "bad-source-url", error.reason) from None
        link_legs.record(principal, added["id"])
        response.headers["Location"] = f"/api/v1/rooms/{room}/sources/{added['id']}"
        return added

    @router.get("/{room}/sources")
    async def list_sources(
        room: str, principal: Annotated[Principal, Depends(permission("rooms:read"))]
    ) -> list[dict[str, Any]]:
        """Roster entries of the room's sources: state, reason, video `codec` ("H264",
        "H265"; null until connected), `audio`, `audio_codec` (FFmpeg's name: "aac",
        "pcm_mulaw"...), `audio_rate`, `audio_channels`, and counters (packets, keyframes,
        reconnects, bitrate, audio_frames, audio_errors, audio_underruns, audio_overflows,
        audio_dropped_ms, audio_buffered_ms). `url` hides credentials, stream keys and
        query tokens, and `reason` never quotes the network's errors, except for admins.
        While an H.265 source is transcoded for WebRTC subscribers and H.264 terminals,
        `transcode` says so: its H.264 twin, size, and each quality tier's source and
        subscribers."""
        with room_errors():
            entries = await sources.entries(room, reveal=principal.may(SECRETS))
        if extra is not None:
            entries = [{**entry, **extra(str(entry.get("id")))} for entry in entries]
        return entries

    @router.delete("/{room}/sources/{source_id}", status_code=204, dependencies=[joiner])
    async def remove_source(room: str, source_id: str) -> Response:
        try:
            with room_errors():
                await sources.remove(room, source_id)
        except KeyError:
            raise ApiError(
                404, "source-not-found", f"no source {source_id!r} in room {room!r}"
            ) from None
        return Response(status_code=204)

    return router
