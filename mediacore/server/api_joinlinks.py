"""/api/v1 join links: a commander mints a short-lived link for a remote expert, or revokes it.

The link's token admits its holder to one room only (see joinlinks.py and security.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from mediacore.clock import iso8601
from mediacore.server.auth import Principal, TokenStore
from mediacore.server.directory import RoomDirectory
from mediacore.server.errors import ApiError
from mediacore.server.joinlinks import LINK_ID, MAX_MINUTES, JoinLinks
from mediacore.server.linklegs import LinkLegs
from mediacore.server.security import permission

log = logging.getLogger(__name__)

CONSOLE = "/console/"


class JoinLinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128, description="who the link is for")
    minutes: int = Field(60, ge=1, le=MAX_MINUTES, description="how long the link is valid")
    role: Literal["expert", "operator"] = "expert"


def build_join_links_router(
    directory: RoomDirectory, tokens: TokenStore, link_legs: LinkLegs
) -> APIRouter:
    """`link_legs` knows what each link created: revoking a link ends all of it."""
    router = APIRouter(prefix="/api/v1", tags=["join links"])

    def links() -> JoinLinks:
        if tokens.links is None:
            raise ApiError(503, "no-join-links", "this server does not issue join links")
        return tokens.links

    @router.post("/rooms/{room}/join-links", status_code=201)
    async def mint(
        room: str,
        body: JoinLinkRequest,
        principal: Annotated[Principal, Depends(permission("join-links:write"))],
    ) -> dict[str, Any]:
        """A link for a remote expert: `{"id", "token", "expires_at", "url"}`. Whoever holds the
        token may, until it expires or is revoked, read and join this room only, with the
        rights of `role` (expert: read, join, talk; operator: also add legs and mute)."""
        if not directory.exists(room):
            raise ApiError(404, "room-not-found", f"no room named {room!r}")
        try:
            link = links().mint(room, body.name, body.role, body.minutes)
        except RuntimeError as error:  # no usable secret (a cluster whose Redis is away)
            raise ApiError(503, "no-join-links", str(error)) from None
        log.info(
            "join link minted",
            extra={"room": room, "link": link.id, "for": body.name, "by": principal.name},
        )
        return {
            "id": link.id,
            "room": room,
            "name": link.name,
            "role": link.role,
            "token": link.token,
            "expires_at": iso8601(datetime.fromtimestamp(link.expires, UTC)),
            "url": f"{CONSOLE}?{urlencode({'room': room, 'token': link.token})}",
        }

    @router.delete("/join-links/{link_id}", status_code=204)
    async def revoke(
        link_id: Annotated[str, Path(pattern=f"^{LINK_ID.pattern}$")],
        principal: Annotated[Principal, Depends(permission("join-links:write"))],
    ) -> Response:
        """Revoke a link before it expires: its token is refused from now on, its sockets
        close, and every participant it created (WebRTC, WHIP and WHEP sessions, RTP legs,
        sources, dial-outs) leaves the room, with a `join-link.ended` event. Any well-formed
        id is accepted (links are not stored)."""
        links().revoke(link_id)
        log.info("join link revoked", extra={"link": link_id, "by": principal.name})
        await link_legs.end(link_id)
        return Response(status_code=204)

    return router
