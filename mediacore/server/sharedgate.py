"""The HTTP side of a cluster's shared state, as an ASGI middleware in front of the others.

Before a request is checked, the login session its token names is fetched from Redis if it was
opened on another node (once: then it is in this node's memory). Before its answer goes out,
whatever it changed here (a session, an account, a revocation) is written to Redis, so that the
change holds on every node once the client has the answer."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediacore.server.auth import TokenStore
from mediacore.server.guard import bearer_token
from mediacore.server.sharedstate import StateChannel


class SharedStateGate:
    def __init__(self, app: ASGIApp, *, tokens: TokenStore, channel: StateChannel) -> None:
        self.app = app
        self.tokens = tokens
        self.channel = channel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = _token(scope)
        if token:
            await self.tokens.fetch(token)
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def settled(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self.channel.settle()
            await send(message)

        await self.app(scope, receive, settled)


def _token(scope: Scope) -> str | None:
    """The bearer token of a request, or the ?token= a WebSocket carries."""
    token = bearer_token(scope)
    if token is None and scope["type"] == "websocket":
        found = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        token = found[0] if found else None
    return token
