"""/api/v1/rooms/{room}/whispers: a participant heard only by a chosen few of its room (耳语)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from mediacore.server.auth import Principal
from mediacore.server.errors import ApiError
from mediacore.server.roomerrors import room_errors
from mediacore.server.rooms import Rooms
from mediacore.server.security import permission
from mediacore.whispers import MAX_LISTENERS

WHISPERS = "participants:write"

ParticipantId = Annotated[str, Field(min_length=1, max_length=64)]


class WhisperCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    speaker: ParticipantId = Field(alias="from")
    listeners: list[ParticipantId] = Field(alias="to", min_length=1, max_length=MAX_LISTENERS)


def build_whispers_router(rooms: Rooms) -> APIRouter:
    router = APIRouter(prefix="/api/v1/rooms/{room}/whispers", tags=["dispatch"])

    @router.post("", status_code=201)
    async def start(
        room: str,
        body: WhisperCreate,
        response: Response,
        principal: Annotated[Principal, Depends(permission(WHISPERS))],
    ) -> dict[str, Any]:
        """`{"from": id, "to": [id, ...]}`: `from` is heard only by `to` (all in this room)
        until the whisper is deleted or `from` leaves; everyone else's mix leaves it out.
        Answers `{"id", "from", "to"}`; events `whisper.started` and `whisper.ended`."""
        with room_errors(bad="bad-whisper"):
            whisper = await rooms.whisper_book.start(
                room, body.speaker, body.listeners, principal.name
            )
        response.headers["Location"] = f"/api/v1/rooms/{room}/whispers/{whisper.id}"
        return whisper.to_json()

    @router.get("", dependencies=[Depends(permission("rooms:read"))])
    async def list_whispers(room: str) -> list[dict[str, Any]]:
        with room_errors():
            return rooms.whisper_book.current(room)

    @router.delete("/{whisper_id}", status_code=204)
    async def end(
        room: str,
        whisper_id: str,
        principal: Annotated[Principal, Depends(permission(WHISPERS))],
    ) -> Response:
        try:
            with room_errors():
                await rooms.whisper_book.end(room, whisper_id, by=principal.name)
        except KeyError:
            raise ApiError(404, "whisper-not-found", f"no whisper {whisper_id!r}") from None
        return Response(status_code=204)

    return router
