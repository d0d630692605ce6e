"""The FastAPI dependency that turns a bearer token into a principal with a permission."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from mediacore.server.auth import Principal, TokenStore
from mediacore.server.errors import ApiError


def authenticate(request: Request, allow_query_token: bool = False) -> Principal:
    """The caller, from `Authorization: Bearer <token>`, or `?token=` where allowed (media
    files fetched by <audio> elements, which cannot send headers)."""
    store: TokenStore = request.app.state.tokens
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if allow_query_token and not header and request.query_params.get("token"):
        scheme, token = "bearer", request.query_params["token"]
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    principal = store.authenticate(token.strip())
    if principal is None:
        raise ApiError(401, "unauthorized", "unknown token")
    return principal


def permission(
    name: str, allow_query_token: bool = False
) -> Callable[[Request], Awaitable[Principal]]:
    # async, though it awaits nothing: FastAPI runs plain functions in a thread pool, and a
    # thread hop per request would take the GIL from the media loop for nothing.
    async def check(request: Request) -> Principal:
        principal = authenticate(request, allow_query_token)
        if not principal.may(name):
            raise ApiError(403, "forbidden", f"role {principal.role!r} may not do {name}")
        return principal

    return check
