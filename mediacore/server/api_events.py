"""WebSocket /api/v1/events: the event bus, one JSON object per event, optionally one room."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from mediacore.events import Event, EventBus
from mediacore.server.alarms import ALARM_EVENTS
from mediacore.server.auth import TokenStore
from mediacore.server.requests import websocket_principal

# Close codes (RFC 6455 section 7.4.2 leaves 4000-4999 to applications).
UNAUTHORIZED = 4401
FORBIDDEN = 4403
UNKNOWN_ROOM = 4404

LINK_RECHECK_S = 1.0


def build_events_router(bus: EventBus, tokens: TokenStore, room_exists: object) -> APIRouter:
    router = APIRouter(tags=["events"])

    @router.websocket("/api/v1/events")
    async def events(websocket: WebSocket, token: str = "", room: str | None = None) -> None:
        """Stream events as JSON text frames; authenticate with ?token= or a bearer header.
        A join link streams only its own room (another `room` closes with 4403). With `room`,
        the events of that room, the server's (room null) and the alarms (`alarm.*`) of every
        room."""
        principal = websocket_principal(websocket, token, tokens)
        await websocket.accept()
        if principal is None:
            await websocket.close(UNAUTHORIZED, "unknown or missing token")
            return
        if not principal.may("rooms:read"):
            await websocket.close(FORBIDDEN, f"role {principal.role!r} may not read room events")
            return
        if principal.room is not None:  # a join link: its room's events, and no one else's
            if room is not None and room != principal.room:
                await websocket.close(FORBIDDEN, f"this link is for room {principal.room}")
                return
            room = principal.room
        if room is not None and not room_exists(room):  # type: ignore[operator]
            await websocket.close(UNKNOWN_ROOM, f"no room named {room!r}")
            return
        # Alarms of every room reach every console, whichever room it follows.
        subscription = bus.subscribe(room, everywhere=ALARM_EVENTS)
        reader = asyncio.ensure_future(_drain(websocket))
        getter: asyncio.Future[Event] | None = None
        # A link or a login session is checked again every second and before each event:
        # when it expires or is revoked, its stream ends (4401) instead of outliving it.
        recheck = LINK_RECHECK_S if principal.expires is not None else None
        try:
            while not reader.done():
                if getter is None:
                    getter = asyncio.ensure_future(subscription.get())
                waiting: set[asyncio.Future[Any]] = {getter, reader}
                await asyncio.wait(waiting, timeout=recheck, return_when=asyncio.FIRST_COMPLETED)
                if recheck is not None and websocket_principal(websocket, token, tokens) is None:
                    await websocket.close(UNAUTHORIZED, "the token expired or was revoked")
                    break
                if reader.done() or not getter.done():
                    continue
                event, getter = getter.result(), None
                # A room's subscription also carries server-wide events (room None: SIP
                # registrations, trunks); a link sees only its room's.
                if principal.room is None or event.room == principal.room:
                    await websocket.send_json(event.to_json())
        except WebSocketDisconnect:
            pass
        finally:
            subscription.close()
            reader.cancel()
            if getter is not None:
                getter.cancel()
            with contextlib.suppress(Exception):
                await websocket.close()

    return router


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
