"""/api/v1/rooms/{room}/floor: push-to-talk over HTTP, and who holds the floor.

A PTT button (the console's, or a dispatcher's hardware key through a small bridge) requests
and releases the floor for a participant; commanders may also revoke it from anyone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from mediacore.server.auth import Principal
from mediacore.server.errors import ApiError
from mediacore.server.roomerrors import room_errors
from mediacore.server.rooms import Rooms
from mediacore.server.security import permission


class FloorAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    participant: str = Field(min_length=1, max_length=64)
    action: Literal["request", "release", "revoke"]
    # The request's priority; by default the participant's own (0 normal .. 3 emergency).
    priority: int | None = Field(None, ge=0, le=3)


def build_floor_router(rooms: Rooms, owner_of: Callable[[str], str | None]) -> APIRouter:
    """`owner_of(participant)`: the identity of the principal that created a participant
    (WebRTC, WHIP, WHEP), None for others; a principal that may not revoke acts only for its
    own participants."""
    router = APIRouter(prefix="/api/v1/rooms", tags=["floor"])
    reader = Depends(permission("rooms:read"))

    @router.get("/{room}/floor", dependencies=[reader])
    async def floor_state(room: str) -> dict[str, Any]:
        """`{"holder": id|null, "since": iso8601|null, "priority", "source", "queue": [...]}`."""
        with room_errors():
            return await rooms.floor(room)

    @router.post("/{room}/floor")
    async def floor_action(
        room: str,
        body: FloorAction,
        principal: Annotated[Principal, Depends(permission("floor:talk"))],
    ) -> dict[str, Any]:
        """Request or release the floor for a participant (PTT down / up), or revoke it.

        Answers `{"result": "granted"|"denied"|"queued"|"released"|"not-holder", "holder": id}`;
        a queued request also says its `position`, a denied one its `reason`. Revoking
        (`"result": "revoked"`) takes the participants:write permission (admin, commander,
        operator); without it a caller requests and releases only for the participants it
        created itself (403 `not-yours`). The `priority` asked is capped by role: commanders
        and admins 3, operators 2, experts 1 (403 `priority-too-high`)."""
        may_revoke = principal.may("participants:write")
        if body.action == "revoke" and not may_revoke:
            raise ApiError(403, "forbidden", f"role {principal.role!r} may not revoke the floor")
        if not may_revoke and owner_of(body.participant) != principal.identity:
            raise ApiError(
                403, "not-yours", "a participant's floor is its own: act for your own only"
            )
        if body.priority is not None and body.priority > principal.floor_priority:
            raise ApiError(
                403,
                "priority-too-high",
                f"role {principal.role!r} may ask the floor at priority "
                f"{principal.floor_priority} at most",
            )
        with room_errors(bad="bad-request"):
            return await rooms.floor_action(
                room, body.participant, body.action, body.priority, principal.name
            )

    return router
