"""WebSocket /api/v1/events: the event bus, one JSON object per event, optionally one room."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from mediacore.events import EventBus
from mediacore.server.auth import TokenStore

# Close codes (RFC 6455 section 7.4.2 leaves 4000-4999 to applications).
UNAUTHORIZED = 4401
FORBIDDEN = 4403
UNKNOWN_ROOM = 4404


def build_events_router(bus: EventBus, tokens: TokenStore, room_exists: object) -> APIRouter:
    router = APIRouter(tags=["events"])

    @router.websocket("/api/v1/events")
    async def events(websocket: WebSocket, token: str = "", room: str | None = None) -> None:
        """Stream events as JSON text frames; authenticate with ?token= or a bearer header."""
        header = websocket.headers.get("authorization", "")
        if not token and header.lower().startswith("bearer "):
            token = header[7:].strip()
        principal = tokens.authenticate(token) if token else None
        await websocket.accept()
        if principal is None:
            await websocket.close(UNAUTHORIZED, "unknown or missing token")
            return
        if not principal.may("rooms:read"):
            await websocket.close(FORBIDDEN, f"role {principal.role!r} may not read room events")
            return
        if room is not None and not room_exists(room):  # type: ignore[operator]
            await websocket.close(UNKNOWN_ROOM, f"no room named {room!r}")
            return
        subscription = bus.subscribe(room)
        reader = asyncio.ensure_future(_drain(websocket))
        try:
            while not reader.done():
                getter = asyncio.ensure_future(subscription.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                await websocket.send_json(getter.result().to_json())
        except WebSocketDisconnect:
            pass
        finally:
            subscription.close()
            reader.cancel()
            with contextlib.suppress(Exception):
                await websocket.close()

    return router


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
