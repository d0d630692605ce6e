"""/api/v1/rooms/{room}/rollcall: call on a participant (点名): in the focus of the room's
picture and asked to speak (mediacore/server/rollcalls.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from mediacore.server.auth import Principal
from mediacore.server.errors import ApiError
from mediacore.server.rollcalls import DEFAULT_TIMEOUT_S, RollCallRefused, RollCallService
from mediacore.server.roomerrors import room_errors
from mediacore.server.security import permission

# Calling on participants is the dispatcher's: those who may broadcast (admin, commander,
# operator).
ROLL_CALLS = "rooms:broadcast"


class RollCallCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    participant: str = Field(min_length=1, max_length=64)
    timeout: float = Field(DEFAULT_TIMEOUT_S, ge=1, le=3600)  # seconds
    announce: bool = True
    lang: Literal["zh", "en"] | None = None  # default: "zh" when the name holds Chinese


def _none(room: str) -> ApiError:
    return ApiError(404, "no-rollcall", f"no roll call in {room!r}")


def build_rollcall_router(rollcalls: RollCallService) -> APIRouter:
    router = APIRouter(prefix="/api/v1/rooms", tags=["conference"])
    caller = Depends(permission(ROLL_CALLS))

    @router.post("/{room}/rollcall", status_code=201)
    async def start(
        room: str,
        body: RollCallCreate,
        response: Response,
        principal: Annotated[Principal, Depends(permission(ROLL_CALLS))],
    ) -> dict[str, Any]:
        """Call on `participant`: the room's composed picture shows it in the focus region
        (whoever talks) until the roll call ends; an announcement asks it to speak ("请<name>
        发言" / "<name>, please speak"; `"announce": false` skips it); a half-duplex
        participant (radio, PTT) is granted the floor once the announcement has played, at
        the caller's floor priority. The room's roll call before, if any, ends (reason
        "replaced"). It ends by DELETE, after `timeout` seconds (default 60), or when the
        participant leaves. Answers `{"room", "participant", "name", "by", "timeout_s",
        "remaining_s", "announcement", "floor"}` (and `announcement_error` when the speech
        could not be played); events `conference.rollcall` "started" and "ended". 404 for an
        unknown room or participant, 409 `not-callable` for a participant that cannot speak
        (an announcement)."""
        try:
            with room_errors():
                called = await rollcalls.start(
                    room,
                    body.participant,
                    principal.name,
                    priority=principal.floor_priority,
                    timeout_s=body.timeout,
                    announce=body.announce,
                    lang=body.lang,
                )
        except RollCallRefused as error:
            raise ApiError(409, "not-callable", str(error)) from None
        response.headers["Location"] = f"/api/v1/rooms/{room}/rollcall"
        return called

    @router.get("/{room}/rollcall", dependencies=[Depends(permission("rooms:read"))])
    async def current(room: str) -> dict[str, Any]:
        """The room's roll call; 404 `no-rollcall` when none runs."""
        try:
            return rollcalls.describe(room)
        except KeyError:
            raise _none(room) from None

    @router.delete("/{room}/rollcall", status_code=204, dependencies=[caller])
    async def end(room: str) -> Response:
        """End the roll call (reason "ended"): the picture follows its layout again, the
        floor it granted is released. 404 `no-rollcall` when none runs."""
        try:
            rollcalls.end(room)
        except KeyError:
            raise _none(room) from None
        return Response(status_code=204)

    return router
