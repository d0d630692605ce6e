"""WebRTC routes: the signalling WebSocket, WHIP (RFC 9725) publishing and WHEP playback.

WHIP and WHEP answer the whole offer at once, with every candidate in the answer (no trickle
ICE): PATCH on a session answers 405."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect

from mediacore.clock import MONOTONIC
from mediacore.room import RoomClosed, RoomError
from mediacore.server.api_events import LINK_RECHECK_S
from mediacore.server.auth import Principal, TokenStore
from mediacore.server.config import Config
from mediacore.server.errors import ApiError, error_response
from mediacore.server.linklegs import LinkLegs
from mediacore.server.requests import bounded_body, websocket_principal
from mediacore.server.security import permission
from webrtc.ice import loopback_addresses
from webrtc.peer import LegMode, WebRtcError
from webrtc.peerroom import PeerJoin, PeerRoom, Peers
from webrtc.settings import IceServer, WebRtcSettings
from webrtc.signalling import (
    COMPOSED,
    MAX_MESSAGE_BYTES,
    MAX_SDP_BYTES,
    ContentDesk,
    SignallingSession,
)

# Close codes (RFC 6455 section 7.4.1 and 4000-4999 for applications), as api_events uses them.
SERVICE_RESTART = 1012  # the peer's media worker died: the console reconnects and joins again
UNAUTHORIZED = 4401
FORBIDDEN = 4403
UNKNOWN_ROOM = 4404
TOO_BIG = 1009

JOIN = "rooms:join"
_SDP_BODY: dict[str, Any] = {
    "requestBody": {
        "content": {"application/sdp": {"schema": {"type": "string"}}},
        "required": True,
    }
}
_SDP_ANSWER: dict[int | str, dict[str, Any]] = {
    201: {"content": {"application/sdp": {}}, "description": "the SDP answer"}
}
_STATUS = {
    "bad-sdp": 400,
    "no-audio": 400,
    "no-common-codec": 400,
    "video-unavailable": 409,
    "video-refused": 409,
    "unknown-source": 404,
}


def build_webrtc_router(
    peer_room: Callable[[str], PeerRoom | None],
    peers: Peers,
    settings: WebRtcSettings,
    tokens: TokenStore,
    config: Config,
    link_legs: LinkLegs,
    composed: Callable[[str, str | None], Awaitable[str]] | None = None,
    playable: Callable[[str, str | None], str] | None = None,
    content: ContentDesk | None = None,
) -> APIRouter:
    """`peer_room(name)` is the open room `name` as WebRTC joins it (None: no such room);
    `peers` holds every live peer of the server; `link_legs` learns the peers join links
    make, to end them when the link ends; `composed(room, participant)` names the video
    source of a participant's composed picture (None: a player's), for `"composed"` asks;
    `playable(source, participant)` the source given for one asked (an H.265 source's H.264
    twin: a view of its own at the participant's tier; WHEP players, None, share the twin);
    `content` keeps each room's shared content (a browser's "share", WHIP's `?content=1`)."""
    router = APIRouter(prefix="/api/v1/rooms", tags=["webrtc"])
    desk = content

    def find_room(room: str) -> PeerRoom:
        found = peer_room(room)
        if found is None:
            raise ApiError(404, "room-not-found", f"no room named {room!r}")
        return found

    @router.get("/{room}/ice-servers", dependencies=[Depends(permission(JOIN))])
    async def ice_servers(room: str) -> dict[str, Any]:
        """The STUN/TURN servers (`[webrtc] ice_servers`) a browser should use to reach this
        room, as RTCIceServer dictionaries: the console asks before it makes its offer."""
        find_room(room)
        return {"ice_servers": [server.to_json() for server in settings.ice_servers]}

    def loopback(scope_server: object) -> list[str]:
        reached = scope_server[0] if isinstance(scope_server, (tuple, list)) else None
        return loopback_addresses([config.server.host, reached])

    @router.websocket("/{room}/webrtc")
    async def signalling(websocket: WebSocket, room: str, token: str = "") -> None:
        """The signalling WebSocket (JSON text messages, see webrtc/signalling.py); authenticate
        with ?token= or a bearer header. Closes 4401 (token), 4403 (role), 4404 (room)."""
        principal = websocket_principal(websocket, token, tokens)
        await websocket.accept()
        if principal is None:
            await websocket.close(UNAUTHORIZED, "unknown or missing token")
            return
        if not principal.may(JOIN):
            await websocket.close(FORBIDDEN, f"role {principal.role!r} may not join rooms")
            return
        if principal.room is not None and principal.room != room:
            await websocket.close(FORBIDDEN, f"this link is for room {principal.room}")
            return
        found = peer_room(room)
        if found is None:
            await websocket.close(UNKNOWN_ROOM, f"no room named {room!r}")
            return
        session = SignallingSession(
            found,
            user=principal.name,
            owner=principal.identity,
            may_talk=principal.may("floor:talk"),
            loopback=loopback(websocket.scope.get("server")),
            find_room=peer_room,
            composed=composed,
            playable=playable,
            content=content,
        )
        link_legs.track(principal)  # its peer is found by owner when the link ends
        session.start()
        writer = asyncio.ensure_future(_write(websocket, session))
        restart = asyncio.ensure_future(_restart(websocket, session))
        # A join link or login session is checked again every second: revoked or expired,
        # its call ends (4401).
        watchdog = (
            asyncio.ensure_future(_expire_link(websocket, token, tokens))
            if principal.expires is not None
            else None
        )
        try:
            while not writer.done():
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    session.error("bad-message", "send JSON text messages, not binary")
                    continue
                if len(text) > MAX_MESSAGE_BYTES // 4 and len(text.encode()) > MAX_MESSAGE_BYTES:
                    writer.cancel()
                    await websocket.close(TOO_BIG, f"messages are limited to {MAX_MESSAGE_BYTES}")
                    break
                await session.receive(text, MONOTONIC.now())
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            writer.cancel()
            restart.cancel()
            if watchdog is not None:
                watchdog.cancel()
            await session.close()
            with contextlib.suppress(Exception):
                await websocket.close()

    @router.post(
        "/{room}/whip",
        status_code=201,
        response_class=Response,
        openapi_extra=_SDP_BODY,
        responses=_SDP_ANSWER,
    )
    async def whip(
        room: str,
        request: Request,
        principal: Annotated[Principal, Depends(permission(JOIN))],
        name: Annotated[str, Query(max_length=128)] = "",
        content: Annotated[bool, Query()] = False,
    ) -> Response:
        """WHIP (RFC 9725): publish audio (and, with a video hub, video) into the room. The
        body is the SDP offer; the answer comes back with `Location` naming the session, which
        DELETE ends. `content=1`: its video is the room's shared content (双流) until it ends."""
        if content and desk is None:
            raise ApiError(409, "video-unavailable", "this server takes no shared content")
        name = name or principal.name
        response = await _join(request, room, principal, "publish", name, None)
        if content and desk is not None:
            participant = response.headers["Location"].rsplit("/", 1)[-1]
            desk.start(room, participant, name, participant)  # its camera's source id
        return response

    @router.post(
        "/{room}/whep",
        status_code=201,
        response_class=Response,
        openapi_extra=_SDP_BODY,
        responses=_SDP_ANSWER,
    )
    async def whep(
        room: str,
        request: Request,
        principal: Annotated[Principal, Depends(permission(JOIN))],
        name: Annotated[str, Query(max_length=128)] = "",
        video: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        """WHEP: receive the room's mix as a listen-only participant; `video=<participant>`
        also asks for that participant's video (409 video-unavailable without a video hub),
        `video=composed` for the room's composed conference picture."""
        return await _join(request, room, principal, "play", name or principal.name, video)

    async def _join(
        request: Request,
        room: str,
        principal: Principal,
        mode: LegMode,
        name: str,
        video: str | None,
    ) -> Response:
        found = find_room(room)
        if video == COMPOSED and composed is not None:
            video = await _composed(composed, found.name, None)
        elif video is not None and not found.may_watch(video):
            raise ApiError(404, "unknown-source", f"no video source {video!r} in room {room!r}")
        elif video is not None and playable is not None:
            video = playable(video, None)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/sdp":
            raise ApiError(415, "unsupported-media-type", "send the offer as application/sdp")
        body = await bounded_body(request, MAX_SDP_BYTES)
        try:
            offer = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "bad-sdp", "the offer is not UTF-8 text") from None
        try:
            peer, answer = await found.join(
                PeerJoin(
                    offer,
                    name=name,
                    owner=principal.identity,
                    mode=mode,
                    loopback=loopback(request.scope.get("server")),
                    video_source=video,
                )
            )
        except WebRtcError as error:
            raise ApiError(_STATUS.get(error.reason, 400), error.reason, str(error)) from None
        except RoomClosed as error:
            raise ApiError(409, "room-closed", str(error)) from None
        except RoomError as error:
            raise ApiError(409, "room-full", str(error)) from None
        link_legs.record(principal, peer.participant_id)
        kind = "whip" if mode == "publish" else "whep"
        headers = {"Location": f"/api/v1/rooms/{found.name}/{kind}/{peer.participant_id}"}
        links = ", ".join(_ice_link(server) for server in settings.ice_servers)
        if links:
            headers["Link"] = links
        return Response(answer, status_code=201, media_type="application/sdp", headers=headers)

    async def _end(room: str, participant_id: str, principal: Principal, mode: LegMode) -> None:
        found = find_room(room)
        try:
            peer = peers.find(room, participant_id, mode)
        except KeyError:
            raise ApiError(404, "session-not-found", f"no such session in {room!r}") from None
        if peer.owner != principal.identity and not principal.may("participants:write"):
            raise ApiError(403, "forbidden", "only its creator or an operator may end it")
        with contextlib.suppress(KeyError):
            await found.remove(participant_id, "ended")

    @router.delete("/{room}/whip/{participant_id}", status_code=204)
    async def whip_end(
        room: str,
        participant_id: str,
        principal: Annotated[Principal, Depends(permission(JOIN))],
    ) -> Response:
        """End a WHIP session (its participant leaves the room)."""
        await _end(room, participant_id, principal, "publish")
        return Response(status_code=204)

    @router.delete("/{room}/whep/{participant_id}", status_code=204)
    async def whep_end(
        room: str,
        participant_id: str,
        principal: Annotated[Principal, Depends(permission(JOIN))],
    ) -> Response:
        """End a WHEP session."""
        await _end(room, participant_id, principal, "play")
        return Response(status_code=204)

    async def trickle(room: str, participant_id: str) -> JSONResponse:
        """Trickle ICE and ICE restarts are not supported: the answer carries every candidate,
        so there is nothing to add (RFC 9725 section 4.3.1 allows 405)."""
        response = error_response(
            405,
            "method-not-allowed",
            "no trickle ICE: the SDP answer already carries every server candidate",
        )
        response.headers["Allow"] = "DELETE"
        return response

    for kind in ("whip", "whep"):
        router.add_api_route(
            f"/{{room}}/{kind}/{{participant_id}}",
            trickle,
            methods=["PATCH"],
            dependencies=[Depends(permission(JOIN))],
            response_class=JSONResponse,
            name=f"{kind}_trickle",
        )

    return router


async def _composed(
    composed: Callable[[str, str | None], Awaitable[str]], room: str, participant: str | None
) -> str:
    """The composed picture's source, or 503 when its video process cannot start."""
    try:
        return await composed(room, participant)
    except KeyError:
        raise ApiError(404, "room-not-found", f"no room named {room!r}") from None
    except (TimeoutError, OSError) as error:
        raise ApiError(503, "video-unavailable", f"the composed picture: {error}") from None


async def _expire_link(websocket: WebSocket, token: str, tokens: TokenStore) -> None:
    while True:
        await asyncio.sleep(LINK_RECHECK_S)
        if websocket_principal(websocket, token, tokens) is None:
            await websocket.close(UNAUTHORIZED, "the token expired or was revoked")
            return


async def _restart(websocket: WebSocket, session: SignallingSession) -> None:
    """The peer's media process died: close with 1012, and the console joins again."""
    await session.media_lost.wait()
    with contextlib.suppress(Exception):
        await websocket.close(SERVICE_RESTART, "the room's media process restarted")


async def _write(websocket: WebSocket, session: SignallingSession) -> None:
    """Send what the session queues, one message at a time (one writer per socket)."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await session.outbox.get()
            await websocket.send_text(json.dumps(message, separators=(",", ":")))


def _ice_link(server: IceServer) -> str:
    """An RFC 9725 section 4.6 Link header value for one STUN/TURN server."""
    parts = []
    for url in server.urls:
        link = f'<{url}>; rel="ice-server"'
        if server.username is not None:
            link += f'; username="{server.username}"; credential="{server.credential or ""}"'
            link += '; credential-type="password"'
        parts.append(link)
    return ", ".join(parts)
