"""/api/v1: SIP registrations, calls, and dial-out into a room."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from mediacore.room import RoomClosed, RoomError
from mediacore.server.auth import Principal
from mediacore.server.directory import RoomDirectory
from mediacore.server.errors import ApiError
from mediacore.server.groupdials import GroupDials
from mediacore.server.groups import GroupError
from mediacore.server.linklegs import LinkLegs
from mediacore.server.security import permission
from mediacore.server.sipradio import OutgoingRadio
from mediacore.server.sipservice import SipService
from radio.sdp import radio_offer_session
from sip.dialout import DialError


class DialRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uri: str | None = Field(
        None, min_length=5, max_length=256, description="sip: or tel: URI to call"
    )
    group: str | None = Field(
        None, min_length=1, max_length=64, description="instead of uri: dial this whole group"
    )
    name: str = Field("", max_length=128)
    trunk: str | None = Field(None, max_length=64, description="force this [[sip.trunks]] entry")
    radio: Literal["txrx", "rx", "tx"] | None = Field(
        None,
        description="call an ED-137 radio gateway: txrx both ways, rx only listen to the radio, "
        "tx only key it",
    )
    video: bool = Field(
        False,
        description="offer video too (a cascade to another MCU, 级联): the far end receives the "
        "room's composed picture and the mix, and its picture becomes a source of the room",
    )


def build_sip_router(
    directory: RoomDirectory,
    sip: SipService,
    link_legs: LinkLegs,
    group_dials: GroupDials | None = None,
) -> APIRouter:
    """`link_legs` learns the calls join links dial, to hang them up when the link ends;
    `group_dials` dials `{"group": name}` (plans)."""
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
        `call.*` events, and a failed call leaves the room with the reason.

        With `{"group": name}` instead of a uri, every member of the group is called at once
        (retried as the group says): `202` with the dial job (`id`, `members` with their
        `party` and `state`...; see `GET /rooms/{room}/dials/{job}`), progress as
        `dial.progress` events and the end as `dial.finished`."""
        found = sip.agent.rooms(room)  # here, or in a media worker
        if found is None:
            raise ApiError(404, "room-not-found", f"no room named {room!r}")
        if (body.uri is None) == (body.group is None):
            raise ApiError(400, "bad-dial", "give either a uri or a group")
        if body.group is not None:
            if body.name or body.trunk or body.radio or body.video:
                raise ApiError(400, "bad-dial", "name, trunk, radio and video go with a uri")
            response.status_code = 202
            return _dial_group(group_dials, room, body.group, principal)
        if body.video and body.radio:
            raise ApiError(400, "bad-dial", "a radio gateway carries no video")
        try:
            found.check_capacity()
            radio = OutgoingRadio(radio_offer_session(body.radio)) if body.radio else None
            uri = body.uri or ""
            participant = await sip.dialer.dial(
                found, uri, body.name, body.trunk, radio, video=body.video
            )
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


def _dial_group(
    group_dials: GroupDials | None, room: str, group: str, principal: Principal
) -> dict[str, Any]:
    if group_dials is None:
        raise ApiError(404, "group-not-found", f"no group named {group!r}")
    if principal.room is not None:  # a join link's legs end with it: a group's would not
        raise ApiError(403, "forbidden", "a join link may not dial a group")
    try:
        job = group_dials.start(room, group, principal.name)
    except GroupError as error:
        raise ApiError(error.status, error.code, str(error)) from None
    except KeyError:
        raise ApiError(404, "room-not-found", f"no room named {room!r}") from None
    return job.to_json()
