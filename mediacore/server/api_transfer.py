"""/api/v1/rooms/{room}/participants/{id}/hold, /resume and /transfer: a dispatcher holds a
participant (music on hold) or transfers it to another party (mediacore/server/holds.py,
sip/transfer.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from mediacore.server.auth import Principal
from mediacore.server.errors import ApiError
from mediacore.server.holds import HoldRefused, Holds
from mediacore.server.parties import PartyBook, PartyError
from mediacore.server.roomerrors import room_errors
from mediacore.server.rooms import Rooms
from mediacore.server.security import permission
from sip.address import SipSyntaxError, SipUri
from sip.dialout import DialError
from sip.refer import ReferTarget
from sip.transfer import Transfers
from sip.useragent import SipUserAgent

PATH = "/api/v1/rooms/{room}/participants/{participant}"
DISPATCHES = "participants:write"  # hold and resume: admins, commanders, operators
TRANSFERS = "legs:create"  # a transfer dials: the same roles, and what dial-out needs


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=256, description="sip:/tel: URI, SIP user or number")
    mode: Literal["blind", "refer"] = "blind"
    name: str = Field("", max_length=128)


def build_transfer_router(
    rooms: Rooms, holds: Holds, transfers: Transfers, agent: SipUserAgent, parties: PartyBook
) -> APIRouter:
    router = APIRouter(tags=["dispatch"])

    @router.post(PATH + "/hold")
    async def hold(
        room: str,
        participant: str,
        principal: Annotated[Principal, Depends(permission(DISPATCHES))],
    ) -> dict[str, Any]:
        """Hold a participant: it leaves the room's mix and hears music on hold (`[sip]
        hold_music`, or a built-in melody). A SIP phone is re-INVITEd with our session
        `sendonly` (502 when it refuses). Answers the roster entry (`"held": true`); event
        `participant.held` {participant, by}."""
        with room_errors():
            try:
                return await holds.hold(room, participant, principal.name)
            except HoldRefused as error:
                raise ApiError(502, "hold-refused", str(error)) from None

    @router.post(PATH + "/resume")
    async def resume(
        room: str,
        participant: str,
        principal: Annotated[Principal, Depends(permission(DISPATCHES))],
    ) -> dict[str, Any]:
        """Take a participant off hold (a SIP phone is re-INVITEd sendrecv); a phone that holds
        the call itself stays held until it resumes. Event `participant.resumed`."""
        with room_errors():
            try:
                return await holds.resume(room, participant, principal.name)
            except HoldRefused as error:
                raise ApiError(502, "hold-refused", str(error)) from None

    @router.post(PATH + "/transfer", status_code=202)
    async def transfer(
        room: str,
        participant: str,
        body: TransferRequest,
        principal: Annotated[Principal, Depends(permission(TRANSFERS))],
    ) -> dict[str, Any]:
        """Transfer a participant to `to` (a sip: URI, one of our SIP users, or a number on
        the first trunk). `"mode": "blind"` (default, any kind of leg): the server dials `to`
        into the room and, once it answered, the participant leaves (reason "transferred");
        if the target fails, the participant stays. `"mode": "refer"` (SIP phones): the
        server sends the phone a REFER and follows its NOTIFYs. Answers 202 `{"id", "mode",
        "to", "state", "target"}` (`target`: the dialled participant, blind only); events
        `transfer.progress` {id, participant, to, mode, status, reason, state} and
        `transfer.finished` {id, participant, to, mode, result, status, target}."""
        target = _target(parties, body.to, body.name)
        with room_errors():
            await rooms.participant(room, participant)  # 404s
        if transfers.in_progress(room, participant):
            raise ApiError(409, "transfer-in-progress", "this participant is being transferred")
        try:
            if body.mode == "refer":
                call = agent.call_in(room, participant)
                if call is None:
                    raise ApiError(409, "not-a-sip-call", "only a SIP phone can be sent a REFER")
                started = await transfers.refer(call, room, target)
            else:

                def answered() -> None:
                    agent.spawn(_leave(rooms, room, participant))

                started = await transfers.transfer_blind(
                    room,
                    participant,
                    target,
                    mode="blind",
                    on_answered=answered,
                    name=body.name,
                )
        except DialError as error:
            raise ApiError(error.status, error.code, str(error)) from None
        return started.to_json()

    return router


def _target(parties: PartyBook, party: str, name: str) -> ReferTarget:
    """Where a transfer goes, as a party (mediacore/server/parties.py). Raises ApiError: 404
    for an unknown user, 400 otherwise (a radio gateway takes no transfer)."""
    try:
        target = parties.target(party)
        if target.kind == "radio":
            raise PartyError("bad-party", "a radio gateway cannot take a transferred call")
        uri = SipUri.parse(target.uri)
    except (PartyError, SipSyntaxError) as error:
        code = getattr(error, "code", "bad-party")
        raise ApiError(404 if code == "unknown-user" else 400, code, str(error)) from None
    return ReferTarget(uri, name or target.name, None, ())


async def _leave(rooms: Rooms, room: str, participant: str) -> None:
    try:
        await rooms.remove(room, participant, "transferred")
    except LookupError:
        pass  # it left meanwhile
