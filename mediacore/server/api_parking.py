"""/api/v1/parked and .../park: dispatchers park calls and pick them up (the call queue)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from mediacore.server.auth import Principal
from mediacore.server.errors import ApiError
from mediacore.server.holds import HoldRefused
from mediacore.server.parking import Parking, ParkingError
from mediacore.server.roomerrors import room_errors
from mediacore.server.security import permission

PARKS = "participants:write"  # admins, commanders, operators (dispatchers)


class PickUp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room: str | None = Field(None, min_length=1, max_length=64)


def build_parking_router(parking: Parking) -> APIRouter:
    router = APIRouter(tags=["dispatch"])

    @router.post("/api/v1/rooms/{room}/participants/{participant}/park", status_code=201)
    async def park(
        room: str,
        participant: str,
        response: Response,
        principal: Annotated[Principal, Depends(permission(PARKS))],
    ) -> dict[str, Any]:
        """Park the participant (驻留): it moves, call kept, into the parking room and is held
        there with music on hold, until a dispatcher picks it up. Answers `{"id", "participant",
        "name", "from", "parking", "by", "parked_at"}`; event `call.parked` in both rooms."""
        with room_errors(bad="bad-park"):
            try:
                parked = await parking.park(room, participant, principal.name)
            except HoldRefused as error:
                raise ApiError(502, "hold-refused", str(error)) from None
            except ParkingError as error:
                raise ApiError(409, "cannot-park", str(error)) from None
        response.headers["Location"] = f"/api/v1/parked/{parked.id}"
        return parked.to_json()

    @router.get("/api/v1/parked", dependencies=[Depends(permission(PARKS))])
    async def parked() -> list[dict[str, Any]]:
        """The parked calls, longest waiting first: the consoles' call queue."""
        return parking.current()

    @router.post("/api/v1/parked/{parked_id}/pickup")
    async def pick_up(
        parked_id: str,
        principal: Annotated[Principal, Depends(permission(PARKS))],
        body: PickUp | None = None,
    ) -> dict[str, Any]:
        """`{"room": r}` (default: the room it was parked from): the call is taken off hold and
        moved there. Answers its roster entry; event `call.picked-up`."""
        with room_errors(bad="bad-park"):
            try:
                return await parking.pick_up(parked_id, body.room if body else None, principal.name)
            except KeyError:
                raise ApiError(404, "parked-not-found", f"no parked call {parked_id!r}") from None
            except HoldRefused as error:
                raise ApiError(502, "hold-refused", str(error)) from None

    return router
