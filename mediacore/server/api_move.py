"""POST /api/v1/rooms/{room}/participants/{id}/move: move a participant into another room
(动态重组) with its leg open: the same participant id, the same SIP call, RTP socket or
WebRTC connection, no redial."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from mediacore.server.auth import Principal
from mediacore.server.errors import ApiError
from mediacore.server.roomerrors import room_errors
from mediacore.server.rooms import Rooms
from mediacore.server.security import permission

# Moving people between groups is the dispatcher's: admins, commanders and operators.
MOVES = "participants:write"


class MoveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=64)


def build_move_router(rooms: Rooms) -> APIRouter:
    router = APIRouter(prefix="/api/v1/rooms", tags=["rooms"])

    @router.post("/{room}/participants/{participant_id}/move")
    async def move(
        room: str,
        participant_id: str,
        body: MoveRequest,
        principal: Annotated[Principal, Depends(permission(MOVES))],
    ) -> dict[str, Any]:
        """Move the participant into room `to`; its audio follows within a tick. Answers its
        roster entry in the new room (with `room`). Events: `participant.left` (reason
        "moved", `to`) in the old room, `participant.joined` (`from`) in the new one, and
        `participant.moved` (`from`, `to`) in both. 404 room-not-found or
        participant-not-found; 409 same-room, room-full (counted across the room's shards,
        on every node), room-format (another rate or ptime), not-movable (announcements,
        field video; in a cluster, a room whose shard on the leg's node is on another
        media worker than the leg); 503 node-down (`to` is on a node that is down)."""
        if principal.room is not None and body.to != principal.room:
            raise ApiError(403, "forbidden", f"this link is for room {principal.room}")
        return {**await move_participant(rooms, room, participant_id, body.to), "room": body.to}

    return router


async def move_participant(rooms: Rooms, room: str, participant: str, to: str) -> dict[str, Any]:
    """`rooms.move` with its failures as the API's errors (404, 409, 503)."""
    with room_errors(full="room-full"):
        return await rooms.move(room, participant, to)
