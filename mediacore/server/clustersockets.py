"""A room's WebSocket (WebRTC signalling) reached on a node that does not have the room: the
node connects to the owner's same WebSocket, with the caller's credentials and the signed
forwarding mark, and passes the messages both ways until either side closes (the close code
and reason pass too). Media never goes through here: the owner's answers name its own
addresses, so the browser's ICE and DTLS go to the owner directly."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

from starlette.types import Message, Receive, Scope, Send
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

OWNER_GONE = 4503  # the room's node could not be reached (4000-4999: the application's)
MAX_MESSAGE = 128 * 1024  # as the server's own limit (runner.MAX_WEBSOCKET_MESSAGE)


async def pass_socket(
    scope: Scope,
    receive: Receive,
    send: Send,
    url: str,
    headers: list[tuple[str, str]],
    context: ssl.SSLContext | None,
) -> None:
    """Join the client's socket (`scope`) to the owner's at `url`."""
    first: Message = await receive()
    if first["type"] != "websocket.connect":
        return
    try:
        upstream = await connect(
            url,
            additional_headers=headers,
            ssl=context if url.startswith("wss:") else None,
            open_timeout=10,
            max_size=MAX_MESSAGE,
        )
    except InvalidStatus as refused:  # the owner refused the handshake (too many sockets)
        await send({"type": "websocket.close", "code": 1008, "reason": str(refused)[:120]})
        return
    except (OSError, InvalidHandshake, TimeoutError):
        await send({"type": "websocket.accept"})
        reason = "the room's node did not answer"
        await send({"type": "websocket.close", "code": OWNER_GONE, "reason": reason})
        return
    await send({"type": "websocket.accept"})
    async with upstream:
        down = asyncio.ensure_future(_downstream(upstream, send))
        try:
            await _upstream(receive, upstream, down)
        finally:
            down.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await down


async def _upstream(
    receive: Receive, upstream: ClientConnection, down: asyncio.Future[None]
) -> None:
    """Client to owner, until the client leaves or the owner's side has ended."""
    while not down.done():
        getter = asyncio.ensure_future(receive())
        waiting: set[asyncio.Future[Any]] = {getter, down}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            return
        message = getter.result()
        if message["type"] == "websocket.disconnect":
            await upstream.close()
            return
        data = message.get("text") if message.get("text") is not None else message.get("bytes")
        if data is not None:
            with contextlib.suppress(ConnectionClosed):
                await upstream.send(data)


async def _downstream(upstream: ClientConnection, send: Send) -> None:
    """Owner to client; the owner's close (code and reason) is the client's."""
    try:
        async for data in upstream:
            if isinstance(data, str):
                await send({"type": "websocket.send", "text": data})
            else:
                await send({"type": "websocket.send", "bytes": data})
    except ConnectionClosed:
        pass
    code = upstream.close_code or 1000
    reason = upstream.close_reason or ""
    with contextlib.suppress(Exception):  # the client may have gone already
        await send({"type": "websocket.close", "code": code, "reason": reason})
