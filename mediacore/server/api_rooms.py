"""/api/v1/rooms: rooms, their roster, and plain RTP legs joined by SDP offer/answer."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Annotated, Any, Literal, get_type_hints

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from mediacore.room import RoomSettings
from mediacore.sdes import check_mode
from mediacore.sdp import SessionDescription
from mediacore.server.auth import Principal
from mediacore.server.config import Config
from mediacore.server.errors import ApiError
from mediacore.server.linklegs import LinkLegs
from mediacore.server.requests import bounded_body
from mediacore.server.roomerrors import room_errors
from mediacore.server.rooms import LegRequest, Rooms
from mediacore.server.security import permission
from mixer.conferencevideo import normalized
from mixer.layout import LayoutError
from radio.vox import VoxSettings

MAX_SDP_BYTES = 16 * 1024
DEFAULT_VOX = VoxSettings()


# Room settings are declared once, in RoomSettings; the request bodies follow its fields.
_SETTING_TYPES = get_type_hints(RoomSettings)
_FIXED_SETTINGS = ("name", "ptime", "rate")  # cannot change while a room is open

RoomCreate = create_model(  # type: ignore[call-overload]
    "RoomCreate",
    __config__=ConfigDict(extra="forbid"),
    **{
        f.name: (_SETTING_TYPES[f.name], ... if f.default is MISSING else f.default)
        for f in fields(RoomSettings)
    },
)
RoomChange = create_model(  # type: ignore[call-overload]
    "RoomChange",
    __config__=ConfigDict(extra="forbid"),
    **{
        f.name: (_SETTING_TYPES[f.name] | None, None)
        for f in fields(RoomSettings)
        if f.name not in _FIXED_SETTINGS
    },
)


# Settings that take more than rooms:write: retention makes the hourly sweep delete the
# room's recordings, which is the admin's to decide.
GUARDED_SETTINGS = {"retention_days": "retention:write", "retention_max_mb": "retention:write"}
_DEFAULTS = {f.name: f.default for f in fields(RoomSettings)}


def _check_guarded(principal: Principal, settings: dict[str, Any]) -> None:
    """Raises ApiError 403 if `settings` sets one the principal may not."""
    for key in sorted(settings.keys() & GUARDED_SETTINGS.keys()):
        if not principal.may(GUARDED_SETTINGS[key]):
            raise ApiError(403, "forbidden", f"only an admin may set {key}")


def _check_video(settings: dict[str, Any]) -> None:
    """The `video` setting (the composed picture) checked and completed with its defaults;
    raises ApiError 400 saying which key is wrong."""
    if settings.get("video") is not None:
        try:
            settings["video"] = normalized(settings["video"])
        except LayoutError as error:
            raise ApiError(400, "bad-video", f"video: {error}") from None


class MonitorEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room: str = Field(min_length=1, max_length=64)
    gain_db: float = Field(0.0, ge=-40, le=20)


# Reaching other rooms (monitor, transmit) takes more than changing a participant.
REACHING = {"monitor": "rooms:monitor", "transmit": "rooms:monitor"}


class ParticipantChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    muted: bool | None = None
    deaf: bool | None = None
    priority: int | None = Field(None, ge=0, le=3)
    gain_db: float | None = Field(None, ge=-40, le=20)
    duplex: Literal["full", "half"] | None = None
    name: str | None = Field(None, min_length=1, max_length=128)
    # Whom it hears in its room beyond mix-minus: never these / only these ([] clears).
    hear_not: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None, max_length=256
    )
    hear_only: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None, max_length=256
    )
    # Other rooms it hears (at a gain) and talks into ([] clears); needs rooms:monitor.
    monitor: list[MonitorEntry] | None = Field(None, max_length=64)
    transmit: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None, max_length=64
    )


def build_rooms_router(
    rooms: Rooms,
    config: Config,
    link_legs: LinkLegs,
    room_fields: Callable[[str], dict[str, Any]] = lambda room: {},
    takes_legs: Callable[[str], bool] | None = None,
) -> APIRouter:
    """`link_legs` learns the legs join links add, to remove them when the link ends;
    `room_fields` adds to a room's summary (a call's room says which call); `takes_legs`:
    whether a room's new legs join here (default: its rooms; in a cluster also the shards this
    node holds of other nodes' rooms)."""
    joins_here = takes_legs or (lambda name: name in rooms.names())
    router = APIRouter(prefix="/api/v1/rooms", tags=["rooms"])
    reader = Depends(permission("rooms:read"))
    writer = Depends(permission("rooms:write"))
    controller = Depends(permission("participants:write"))

    @router.get("")
    async def list_rooms(
        principal: Annotated[Principal, Depends(permission("rooms:read", room_filtered=True))],
    ) -> list[dict[str, Any]]:
        """Every room; for a join link, only its own room."""
        names = [name for name in rooms.names() if principal.room in (None, name)]
        return [{**s, **room_fields(s["name"])} for s in await rooms.summaries(names)]

    @router.post("", status_code=201)
    async def create_room(
        body: RoomCreate,  # type: ignore[valid-type]
        response: Response,
        principal: Annotated[Principal, Depends(permission("rooms:write"))],
    ) -> dict[str, Any]:
        """Open a room. Retention settings other than the defaults are the admin's (403)."""
        settings = body.model_dump()  # type: ignore[attr-defined]
        _check_guarded(principal, {k: v for k, v in settings.items() if v != _DEFAULTS[k]})
        _check_video(settings)
        with room_errors():
            summary = await rooms.open(RoomSettings(**settings))
        response.headers["Location"] = f"/api/v1/rooms/{summary['name']}"
        return summary

    @router.get("/{room}", dependencies=[reader])
    async def read_room(room: str) -> dict[str, Any]:
        with room_errors():
            return {**await rooms.summary(room), **room_fields(room)}

    @router.patch("/{room}")
    async def change_room(
        room: str,
        body: RoomChange,  # type: ignore[valid-type]
        principal: Annotated[Principal, Depends(permission("rooms:write"))],
    ) -> dict[str, Any]:
        """Change a room's settings; `retention_*` only by an admin (the hourly sweep deletes
        recordings by them), else 403."""
        changes = body.model_dump(exclude_none=True)  # type: ignore[attr-defined]
        _check_guarded(principal, changes)
        _check_video(changes)
        with room_errors():
            return await rooms.change(room, changes)

    @router.delete("/{room}", status_code=204, dependencies=[writer])
    async def close_room(room: str) -> Response:
        with room_errors():
            await rooms.close(room, "closed-by-api")
        return Response(status_code=204)

    @router.get("/{room}/participants", dependencies=[reader])
    async def roster(room: str) -> list[dict[str, Any]]:
        with room_errors():
            return await rooms.roster(room)

    @router.get("/{room}/participants/{participant_id}", dependencies=[reader])
    async def read_participant(room: str, participant_id: str) -> dict[str, Any]:
        with room_errors():
            return await rooms.participant(room, participant_id)

    @router.patch("/{room}/participants/{participant_id}")
    async def change_participant(
        room: str,
        participant_id: str,
        body: ParticipantChange,
        principal: Annotated[Principal, Depends(permission("participants:write"))],
    ) -> dict[str, Any]:
        """Change a participant. Besides muted, deaf, priority, gain_db, duplex and name:
        `hear_not` / `hear_only` (ids in this room) keep it from hearing some talkers or let it
        hear only some; `monitor` `[{"room", "gain_db"}]` makes it also hear other rooms, each
        at its own gain, and `transmit` `[room, ...]` makes it also talk into them (监听 and
        select: the monitored rooms never hear it unless it transmits there). `[]` clears.
        In a cluster a reached room of another node grows a shard onto the leg's node and
        worker. 404 room-not-found (a reached room too); 409 not-reachable (the leg's node
        holds a shard of a reached room on another media worker); 503 node-down (a reached
        room's node is down)."""
        changes = body.model_dump(exclude_none=True)
        for key in sorted(changes.keys() & REACHING.keys()):
            if not principal.may(REACHING[key]) or principal.room is not None:
                raise ApiError(403, "forbidden", f"role {principal.role!r} may not set {key}")
        with room_errors(bad="bad-change"):
            return await rooms.update(room, participant_id, changes)

    @router.delete(
        "/{room}/participants/{participant_id}", status_code=204, dependencies=[controller]
    )
    async def kick(room: str, participant_id: str) -> Response:
        with room_errors():
            await rooms.remove(room, participant_id, "kicked")
        return Response(status_code=204)

    @router.post(
        "/{room}/rtp",
        status_code=201,
        response_class=Response,
        openapi_extra={
            "requestBody": {
                "content": {"application/sdp": {"schema": {"type": "string"}}},
                "required": True,
            }
        },
        responses={201: {"content": {"application/sdp": {}}, "description": "the SDP answer"}},
    )
    async def add_rtp_leg(
        room: str,
        request: Request,
        principal: Annotated[Principal, Depends(permission("legs:create"))],
        name: Annotated[str, Query(max_length=128)] = "",
        duplex: Literal["full", "half"] = "full",
        priority: Annotated[int, Query(ge=0, le=3)] = 0,
        radio: Literal["ed137", "vox"] | None = None,
        vox_threshold_dbfs: Annotated[float, Query(ge=-90, le=0)] = DEFAULT_VOX.threshold_dbfs,
        vox_attack_ms: Annotated[int, Query(ge=0, le=2000)] = DEFAULT_VOX.attack_ms,
        vox_hang_ms: Annotated[int, Query(ge=0, le=10000)] = DEFAULT_VOX.hang_ms,
        srtp: Literal["off", "optional", "mandatory"] | None = None,
        nat: bool = False,
    ) -> Response:
        """Join a plain RTP leg, or a radio leg (`radio=ed137`: ED-137B header extension and
        keep-alives, the offer's a=type/txrxmode/R2S-* attributes honoured; `radio=vox`: a plain
        gateway whose level keys the floor, tuned by the vox_* parameters). Radio legs are
        half duplex and hear only the floor holder. `srtp` (default `[sip] srtp`) says whether
        an RTP/SAVP offer with a=crypto is answered with SRTP, required, or refused; `nat`
        lets the leg latch onto the address its RTP really comes from in its first seconds
        (otherwise it sends to, and hears only, the offer's address). An `m=video` line
        (H.264 packetization-mode 1, or VP8) is answered too: the leg's camera becomes a room
        video source and it is sent the floor holder's or latest camera; video we cannot take
        is answered with port 0 and the audio goes on."""
        if not joins_here(room):
            raise ApiError(404, "room-not-found", f"no room named {room!r}")
        body = await bounded_body(request, MAX_SDP_BYTES)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/sdp":
            raise ApiError(415, "unsupported-media-type", "send the offer as application/sdp")
        try:
            offer = SessionDescription.parse(body)
            leg = LegRequest(
                name=name or "rtp",
                local_address=_answer_address(config, request, offer),
                duplex="half" if radio is not None else duplex,
                priority=priority,
                radio=radio,
                vox=VoxSettings(vox_threshold_dbfs, vox_attack_ms, vox_hang_ms),
                srtp=srtp or check_mode(config.sip.srtp),
                nat=nat,
            )
            leg.radio_options(offer)  # a bad radio offer or VOX setting is the client's 400
        except ValueError as error:  # SdpError, RadioSdpError, VOX settings
            raise ApiError(400, "bad-sdp", str(error)) from None
        with room_errors(full="room-full"):
            participant, answer = await rooms.add_rtp_leg(room, body.decode(), leg)
        link_legs.record(principal, participant["id"])
        location = f"/api/v1/rooms/{room}/participants/{participant['id']}"
        return Response(
            answer, status_code=201, media_type="application/sdp", headers={"Location": location}
        )

    return router


def _answer_address(config: Config, request: Request, offer: SessionDescription) -> str:
    """The address written in the answer, in the offer's address family: the configured one,
    else the one the client reached us on, else the one the kernel would send from."""
    remote = _offered_address(offer)
    family = 6 if remote is not None and remote.version == 6 else 4
    for candidate in (
        config.rtp.public_address,
        config.server.host,
        (request.scope.get("server") or ("",))[0],
    ):
        if candidate:
            address = ipaddress.ip_address(candidate)
            if not address.is_unspecified and address.version == family:
                return str(address)
    if remote is not None and not remote.is_unspecified:
        return _route_source(str(remote))
    return "::1" if family == 6 else "127.0.0.1"


def _offered_address(
    offer: SessionDescription,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    for media in offer.media:
        connection = media.connection or offer.connection
        if media.kind == "audio" and connection is not None:
            try:
                return ipaddress.ip_address(connection.address)
            except ValueError:
                return None
    return None


def _route_source(remote: str) -> str:
    """The local address the kernel routes to `remote` from (a UDP connect sends nothing)."""
    family = socket.AF_INET6 if ":" in remote else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((remote, 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "::1" if family == socket.AF_INET6 else "127.0.0.1"
