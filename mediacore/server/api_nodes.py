"""GET /api/v1/nodes: the servers of the cluster (just this one when it runs alone)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from mediacore.server.errors import ApiError
from mediacore.server.security import permission

Listing = Callable[[], Awaitable[list[dict[str, Any]]]]
Drain = Callable[[str, bool], Awaitable[dict[str, Any]]]


def single_node(name: str, address: str, counts: Callable[[], tuple[int, int]]) -> Listing:
    """The listing of a server running alone: itself, up, named after the host."""

    async def listing() -> list[dict[str, Any]]:
        rooms, legs = counts()
        return [
            {
                "name": name,
                "address": address,
                "state": "up",
                "rooms": rooms,
                "legs": legs,
                "last_seen": int(time.time() * 1000),
            }
        ]

    return listing


class NodeChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    draining: bool


def build_nodes_router(listing: Listing, drain: Drain | None = None) -> APIRouter:
    """`drain`: the cluster's (None: a server alone, which cannot drain)."""
    router = APIRouter(prefix="/api/v1/nodes", tags=["cluster"])

    @router.get("", dependencies=[Depends(permission("rooms:read"))])
    async def nodes() -> list[dict[str, Any]]:
        """Every node: `name`, `address`, `state` (up, draining, or dead when silent past
        `[cluster] dead_after_ms`), `rooms`, `legs`, `last_seen` (Unix ms), and `http`, `sip`,
        `load` (0..1), `cores` in a cluster. 503 while the cluster's Redis is unreachable."""
        return await listing()

    @router.patch("/{name}", dependencies=[Depends(permission("cluster:write"))])
    async def change(name: str, body: NodeChange) -> dict[str, Any]:
        """`{"draining": true}`: the node takes no new rooms and no calls for rooms not placed
        yet (its rooms stay until they close); `false` ends it. 409 for a server alone."""
        if drain is None:
            raise ApiError(409, "not-clustered", "a server alone has no cluster to drain from")
        return await drain(name, body.draining)

    return router
