"""POST /api/v1/rooms/{room}/shards `{"node"}`: a room of this node grows a shard on another
node of the cluster (跨节点房间), joined to its other shards by cascade links; that node takes
the room's new legs from then on (the room's intake, in the cluster's directory)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from mediacore.server.auth import Principal
from mediacore.server.errors import ApiError
from mediacore.server.remoteshard import UnknownNode
from mediacore.server.roomerrors import room_errors
from mediacore.server.security import permission
from mediacore.server.shardedrooms import AlreadySpanned, NotClustered

Grow = Callable[[str, str], Awaitable[dict[str, Any]]]  # (room, node) -> the room's summary


class ShardRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node: str = Field(min_length=1, max_length=64)


def build_shards_router(grow: Grow | None) -> APIRouter:
    """`grow`: ShardedRooms.grow_on_node; None when this node runs no media workers."""
    router = APIRouter(prefix="/api/v1/rooms", tags=["rooms"])

    @router.post("/{room}/shards", status_code=201)
    async def add_shard(
        room: str,
        body: ShardRequest,
        principal: Annotated[Principal, Depends(permission("rooms:write"))],
    ) -> dict[str, Any]:
        """Grow a shard of the room on node `node`: the room's summary, its `shards` each with
        `node`. 400 not-clustered (no `[cluster]`, or `[server] workers = 0` here or there);
        404 room-not-found, node-not-found (unknown or dead); 409 already-there."""
        if grow is None:
            raise ApiError(400, "not-clustered", "a room spans nodes only with media workers")
        with room_errors(bad="not-clustered"):
            try:
                return await grow(room, body.node)
            except NotClustered as error:
                raise ApiError(400, "not-clustered", str(error)) from None
            except UnknownNode as error:
                raise ApiError(404, "node-not-found", str(error)) from None
            except AlreadySpanned as error:
                raise ApiError(409, "already-there", str(error)) from None

    return router
