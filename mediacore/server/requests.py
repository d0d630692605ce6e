"""Reading what clients send, within bounds: request bodies and WebSocket credentials."""

from __future__ import annotations

from fastapi import Request, WebSocket

from mediacore.server.auth import Principal, TokenStore
from mediacore.server.errors import ApiError


async def bounded_body(request: Request, limit: int) -> bytes:
    """The body (an SDP offer), refused with 413 past `limit` bytes and 400 when empty; read
    in chunks so an endless upload is cut off early."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too-large", f"the body is limited to {limit} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "too-large", f"the body is limited to {limit} bytes")
    if not body.strip():
        raise ApiError(400, "bad-sdp", "the body must be an SDP offer")
    return body


def websocket_principal(websocket: WebSocket, token: str, tokens: TokenStore) -> Principal | None:
    """Who opened the socket: from ?token= (browsers cannot set headers on WebSockets) or an
    Authorization bearer header; None when neither names a known token."""
    header = websocket.headers.get("authorization", "")
    if not token and header.lower().startswith("bearer "):
        token = header[7:].strip()
    return tokens.authenticate(token) if token else None
