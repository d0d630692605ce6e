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
    name: str, allow_query_token: bool = False, room_filtered: bool = False
) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that answers the caller's Principal if it holds permission `name`, else
    raises ApiError 401 (no or unknown token) or 403.

    A principal bound to one room (a join link) is also refused (403) on a route whose `{room}`
    path parameter names another room, and on every route without one, unless the route says
    `room_filtered=True`: it promises to show such a caller only its own room."""

    # async, though it awaits nothing: FastAPI runs plain functions in a thread pool, and a
    # thread hop per request would take the GIL from the media loop for nothing.
    async def check(request: Request) -> Principal:
        principal = authenticate(request, allow_query_token)
        if not principal.may(name):
            raise ApiError(403, "forbidden", f"role {principal.role!r} may not do {name}")
        if principal.room is not None:
            room = request.path_params.get("room")
            if room is None and not room_filtered:
                raise ApiError(403, "forbidden", f"this link is for room {principal.room} only")
            if room is not None and room != principal.room:
                raise ApiError(403, "forbidden", f"this link is for room {principal.room}")
        return principal

    return check
