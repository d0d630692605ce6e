"""The first thing every request meets: who is asking, and how much it may send.

A pure ASGI middleware in front of the whole app, so that no request body is read before its
sender is known and its size allowed (FastAPI reads and validates a body before a route's
dependencies run, so a check there comes too late):

- An HTTP request to a protected path (`/api/...` but the public ones, and `/metrics`) needs a
  known bearer token, else it is answered 401 at once with its body unread. `?token=` counts
  only on GET and HEAD, which carry no body (media elements and downloads cannot set headers).
- A body declared larger than `max_body` (`PUBLIC_MAX_BODY` on the public paths: a login
  is a user name and a password) is answered 413 at once; one streamed without a
  length is counted as it arrives and cut off with 413 past the limit. Either way the
  connection is closed, so the rest of the upload is never read.
- WebSockets are counted per client address; past `max_websockets` open ones the handshake
  is refused (HTTP 403), before any route runs.

Routes still check permissions (security.permission): this only decides whether a request
gets that far."""

from __future__ import annotations

import json
from collections import Counter
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediacore.server.auth import TokenStore

PROTECTED_PREFIXES = ("/api/", "/metrics")
# Served without a token: liveness, and logging in (which gets a token).
PUBLIC_PATHS = frozenset({"/api/v1/health", "/api/v1/login"})
# What a request without a token may send: a user name and a password, nothing bigger.
PUBLIC_MAX_BODY = 4096


class BodyTooLarge(HTTPException):
    """A streamed body went past the limit (raised from `receive`; routes let it through)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"a request body is limited to {limit} bytes")


def is_protected(path: str) -> bool:
    return path.startswith(PROTECTED_PREFIXES) and path not in PUBLIC_PATHS


def bearer_token(scope: Scope) -> str | None:
    """The token the request carries: `Authorization: Bearer`, or `?token=` on GET/HEAD."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    if scope.get("method") in ("GET", "HEAD"):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        tokens = query.get("token")
        if tokens and tokens[0]:
            return tokens[0]
    return None


def declared_length(scope: Scope) -> int | None:
    """The Content-Length header as a number; None when absent or not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


def may_have_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        tokens: TokenStore,
        max_body: int,
        max_websockets: int,
        body_limits: dict[str, int] | None = None,
    ) -> None:
        """`body_limits`: other limits than `max_body` for particular paths (uploads)."""
        self.app = app
        self.tokens = tokens
        self.max_body = max_body
        self.body_limits = dict(body_limits or {})
        self.max_websockets = max_websockets
        self.websockets: Counter[str] = Counter()  # open WebSockets by client address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_body
        if is_protected(scope["path"]):
            token = bearer_token(scope)
            if token is None or self.tokens.authenticate(token) is None:
                detail = "send Authorization: Bearer <token>" if token is None else "unknown token"
                await _refuse(scope, send, 401, "unauthorized", detail)
                return
            limit = self.body_limits.get(scope["path"], self.max_body)
        elif scope["path"] in PUBLIC_PATHS:
            limit = min(limit, PUBLIC_MAX_BODY)
        length = declared_length(scope)
        if length is not None and length > limit:
            await _refuse(scope, send, 413, "too-large", str(BodyTooLarge(limit).detail))
            return
        received = 0
        cut_off = False
        started = False

        async def counted() -> Message:
            nonlocal received, cut_off
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    cut_off = True
                    raise BodyTooLarge(limit)
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if cut_off:  # the rest of the upload is never read: end the connection
                    message = {**message, "headers": [*message["headers"], _CLOSE]}
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except BodyTooLarge as error:
            if not started:
                await _refuse(scope, send, 413, "too-large", str(error.detail))

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        address = (scope.get("client") or ("?",))[0]
        if self.websockets[address] >= self.max_websockets:
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008, "reason": "too many"})
            return
        self.websockets[address] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.websockets[address] -= 1
            if not self.websockets[address]:
                del self.websockets[address]


_CLOSE = (b"connection", b"close")


async def _refuse(scope: Scope, send: Send, status: int, error: str, detail: str) -> None:
    """Answer at once in the API's error shape; with a body still on its way, close the
    connection after the answer instead of reading the body."""
    body = json.dumps({"error": error, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if may_have_body(scope):
        headers.append(_CLOSE)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
