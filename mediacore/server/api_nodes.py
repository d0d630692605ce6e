"""GET /api/v1/nodes: the servers of the cluster (just this one when it runs alone)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends

from mediacore.server.security import permission

Listing = Callable[[], Awaitable[list[dict[str, Any]]]]


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


def build_nodes_router(listing: Listing) -> APIRouter:
    router = APIRouter(prefix="/api/v1/nodes", tags=["cluster"])

    @router.get("", dependencies=[Depends(permission("rooms:read"))])
    async def nodes() -> list[dict[str, Any]]:
        """Every node: `name`, `address`, `state` (up, draining, or dead when silent past
        `[cluster] dead_after_ms`), `rooms`, `legs`, `last_seen` (Unix ms), and `http`, `sip`,
        `load` (0..1), `cores` in a cluster. 503 while the cluster's Redis is unreachable."""
        return await listing()

    return router
