"""/api/v1/calls: one-to-one calls (单呼), ending them (强拆) and barging in (强插); see
mediacore/server/privatecalls.py. `GET /api/v1/calls` itself lists the SIP dialogs (api_sip.py);
the one-to-one calls are listed at `GET /api/v1/calls/private`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from mediacore.server.auth import Principal
from mediacore.server.callparties import CallRefused
from mediacore.server.errors import ApiError
from mediacore.server.parties import MAX_PARTY
from mediacore.server.privatecalls import CallNotFound, PrivateCalls
from mediacore.server.roomerrors import room_errors
from mediacore.server.security import permission

# Calls dial out and move people: for those who add legs to rooms (admins, commanders,
# operators); a join link, bound to one room, makes none.
CALLS = "legs:create"
READS = "sip:read"


class CallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: str = Field(min_length=1, max_length=MAX_PARTY)
    b: str = Field(min_length=1, max_length=MAX_PARTY)


class BargeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    participant: str = Field(min_length=1, max_length=64)


@contextmanager
def call_errors() -> Iterator[None]:
    """The failures of a call request as the API's errors."""
    try:
        with room_errors(full="room-full"):  # a party's room's node down: 503 node-down
            yield
    except CallRefused as error:
        raise ApiError(error.status, error.code, str(error)) from None
    except CallNotFound as error:
        raise ApiError(404, "call-not-found", str(error)) from None


def build_calls_router(calls: PrivateCalls) -> APIRouter:
    router = APIRouter(prefix="/api/v1/calls", tags=["calls"])
    maker = Depends(permission(CALLS))

    @router.post("", status_code=201)
    async def start(
        body: CallRequest,
        response: Response,
        principal: Annotated[Principal, Depends(permission(CALLS))],
    ) -> dict[str, Any]:
        """Join parties `a` and `b` in a private room `call-<id>`. A party is a `sip:` URI,
        a number (a SIP account of that name, else the first trunk), a SIP user name,
        `radio:<gateway>` (a configured gateway that is up: moved in from its room), or a
        participant id in some room (moved in, moved back when the call ends; in a cluster
        one of another node's rooms too, moved in by that room's node). Answers
        `{"id", "room", "state", "parties": [{"party", "kind", "participant", "state",
        "from", "reason"}], ...}` at once; dialled parties go dialling → ringing → answered
        (`call.party` events). Either party leaving ends the call. 400 bad-party, 404
        unknown-party (or not-registered), 409 busy / unavailable / room-full /
        room-format, 503 node-down (a node that may have the party did not answer)."""
        with call_errors():
            call = await calls.start(body.a, body.b, principal.name)
        response.headers["Location"] = f"/api/v1/calls/{call.id}"
        return call.to_json()

    @router.get("/private", dependencies=[Depends(permission(READS))])
    async def listed() -> list[dict[str, Any]]:
        """The one-to-one calls, active and recently ended."""
        return calls.entries()

    @router.get("/{call_id}", dependencies=[Depends(permission(READS))])
    async def read(call_id: str) -> dict[str, Any]:
        """One call with its parties' states."""
        with call_errors():
            return calls.get(call_id).to_json()

    @router.delete("/{call_id}", status_code=204, dependencies=[maker])
    async def end(call_id: str) -> Response:
        """End the call (强拆): dialled parties are hung up, moved ones go back to their
        rooms, the room closes; `call.ended` with reason "ended"."""
        with call_errors():
            await calls.end(call_id)
        return Response(status_code=204)

    @router.post("/{call_id}/barge", dependencies=[maker])
    async def barge(call_id: str, body: BargeRequest) -> dict[str, Any]:
        """Barge in (强插): participant `participant` (a dispatcher's console, say) is moved
        into the call's room at priority 2 and is heard by both parties; it goes back to its
        room when the call ends. 409 call-ended / already-in-call."""
        with call_errors():
            party = await calls.barge(call_id, body.participant)
        return party.to_json()

    return router
