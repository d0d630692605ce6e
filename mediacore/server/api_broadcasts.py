"""/api/v1/broadcasts: one participant heard in several rooms, or all, at emergency priority."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from mediacore.server.auth import Principal
from mediacore.server.broadcasts import Broadcasts
from mediacore.server.errors import ApiError
from mediacore.server.roomerrors import room_errors
from mediacore.server.security import permission

BROADCASTS = "rooms:broadcast"


class BroadcastCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    participant: str = Field(min_length=1, max_length=64)
    rooms: list[Annotated[str, Field(min_length=1, max_length=64)]] | Literal["all"] = Field(
        min_length=1, max_length=1000
    )


def build_broadcasts_router(broadcasts: Broadcasts) -> APIRouter:
    router = APIRouter(prefix="/api/v1/broadcasts", tags=["dispatch"])

    @router.post("", status_code=201)
    async def start(
        body: BroadcastCreate,
        response: Response,
        principal: Annotated[Principal, Depends(permission(BROADCASTS))],
    ) -> dict[str, Any]:
        """`{"participant": id, "rooms": [room, ...] | "all"}`: the participant is heard in
        every listed room at emergency priority (3): it takes each room's floor, pre-empting
        lower holders, so radio gateways there are keyed with its voice. Answers `{"id",
        "participant", "room", "rooms", "by", "started_at"}`; events `broadcast.started` and
        `broadcast.ended` in every room it reaches. It ends on DELETE or when it leaves."""
        with room_errors(bad="bad-broadcast", full="room-full"):
            broadcast = await broadcasts.start(body.participant, body.rooms, principal.name)
        response.headers["Location"] = f"/api/v1/broadcasts/{broadcast.id}"
        return broadcast.to_json()

    @router.get("", dependencies=[Depends(permission(BROADCASTS))])
    async def list_broadcasts() -> list[dict[str, Any]]:
        return broadcasts.current()

    @router.delete("/{broadcast_id}", status_code=204)
    async def end(
        broadcast_id: str,
        principal: Annotated[Principal, Depends(permission(BROADCASTS))],
    ) -> Response:
        try:
            with room_errors():
                await broadcasts.end(broadcast_id, by=principal.name)
        except KeyError:
            raise ApiError(404, "broadcast-not-found", f"no broadcast {broadcast_id!r}") from None
        return Response(status_code=204)

    return router
