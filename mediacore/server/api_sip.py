"""/api/v1: SIP registrations, calls, and dial-out into a room."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from mediacore.room import RoomClosed, RoomError
from mediacore.server.auth import Principal
from mediacore.server.directory import RoomDirectory
from mediacore.server.errors import ApiError
from mediacore.server.linklegs import LinkLegs
from mediacore.server.security import permission
from mediacore.server.sipradio import OutgoingRadio
from mediacore.server.sipservice import SipService
from radio.sdp import radio_offer_session
from sip.dialout import DialError


class DialRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uri: str = Field(min_length=5, max_length=256, description="sip: or tel: URI to call")
    name: str = Field("", max_length=128)
    trunk: str | None = Field(None, max_length=64, description="force this [[sip.trunks]] entry")
    radio: Literal["txrx", "rx", "tx"] | None = Field(
        None,
        description="call an ED-137 radio gateway: txrx both ways, rx only listen to the radio, "
        "tx only key it",
    )


def build_sip_router(directory: RoomDirectory, sip: SipService, link_legs: LinkLegs) -> APIRouter:
    """`link_legs` learns the calls join links dial, to hang them up when the link ends."""
    router = APIRouter(prefix="/api/v1", tags=["sip"])
    # Registrations carry phones' contact addresses: not for experts (join only) or links.
    reader = Depends(permission("sip:read"))

    @router.get("/registrations", dependencies=[reader])
    async def registrations() -> dict[str, Any]:
        """Registered SIP users (contacts, expiry) and the trunks' registration state."""
        return sip.registrations()

    @router.get("/calls", dependencies=[reader])
    async def calls() -> list[dict[str, Any]]:
        """SIP calls in progress, both directions."""
        return sip.agent.calls_json()

    @router.post("/rooms/{room}/dial", status_code=201)
    async def dial(
        room: str,
        body: DialRequest,
        response: Response,
        principal: Annotated[Principal, Depends(permission("legs:create"))],
    ) -> dict[str, Any]:
        """Call a registered user, a trunk number or a SIP URI into the room.

        Answers at once with the new participant's id; ringing, answer and failure follow as
        `call.*` events, and a failed call leaves the room with the reason."""
        found = sip.agent.rooms(room)  # here, or in a media worker
        if found is None:
            raise ApiError(404, "room-not-found", f"no room named {room!r}")
        try:
            found.check_capacity()
            radio = OutgoingRadio(radio_offer_session(body.radio)) if body.radio else None
            participant = await sip.dialer.dial(found, body.uri, body.name, body.trunk, radio)
        except DialError as error:
            raise ApiError(error.status, error.code, str(error)) from None
        except RoomClosed as error:
            raise ApiError(409, "room-closed", str(error)) from None
        except RoomError as error:
            raise ApiError(409, "room-full", str(error)) from None
        link_legs.record(principal, participant)
        response.headers["Location"] = f"/api/v1/rooms/{room}/participants/{participant}"
        return {"id": participant, "participant": participant, "state": "calling"}

    return router
