"""/api/v1/rooms/{room}/floor: push-to-talk over HTTP, and who holds the floor.

A PTT button (the console's, or a dispatcher's hardware key through a small bridge) requests
and releases the floor for a participant; commanders may also revoke it from anyone."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from mediacore.room import Room, RoomError
from mediacore.server.auth import Principal
from mediacore.server.directory import RoomDirectory
from mediacore.server.errors import ApiError
from mediacore.server.requests import room_or_404
from mediacore.server.security import permission


class FloorAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    participant: str = Field(min_length=1, max_length=64)
    action: Literal["request", "release", "revoke"]
    # The request's priority; by default the participant's own (0 normal .. 3 emergency).
    priority: int | None = Field(None, ge=0, le=3)


def build_floor_router(directory: RoomDirectory) -> APIRouter:
    router = APIRouter(prefix="/api/v1/rooms", tags=["floor"])
    reader = Depends(permission("rooms:read"))

    def find_room(room: str) -> Room:
        return room_or_404(directory, room)

    @router.get("/{room}/floor", dependencies=[reader])
    async def floor_state(room: str) -> dict[str, Any]:
        """`{"holder": id|null, "since": iso8601|null, "priority", "source", "queue": [...]}`."""
        return find_room(room).floor.to_json()

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
        operator)."""
        found = find_room(room)
        if body.action == "revoke" and not principal.may("participants:write"):
            raise ApiError(403, "forbidden", f"role {principal.role!r} may not revoke the floor")
        if body.participant not in found.participants:
            raise ApiError(
                404, "participant-not-found", f"no participant {body.participant!r} in {room!r}"
            )
        try:
            if body.action == "request":
                result = found.request_floor(body.participant, "api", body.priority)
            elif body.action == "release":
                result = found.release_floor(body.participant, "api")
            else:
                revoked = found.revoke_floor(body.participant, by=principal.name)
                holder = found.floor.holder
                return {"result": "revoked" if revoked else "not-holder", "holder": holder}
        except RoomError as error:
            raise ApiError(400, "bad-request", str(error)) from None
        answer: dict[str, Any] = {"result": result.result, "holder": result.holder}
        if result.position is not None:
            answer["position"] = result.position
        if result.reason is not None:
            answer["reason"] = result.reason
        return answer

    return router
