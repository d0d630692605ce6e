"""One-to-one calls (privatecalls.py) wired to the SIP side: dialled parties go out through
the SIP dial-out into the call's room, here or in a media worker."""

from __future__ import annotations

from mediacore.events import EventBus
from mediacore.room import RoomError
from mediacore.server.callparties import CallRefused
from mediacore.server.parties import PartyBook
from mediacore.server.privatecalls import PrivateCalls
from mediacore.server.rooms import NoSuchRoom, Rooms
from mediacore.server.sipservice import SipService
from sip.dialout import DialError


def private_calls(rooms: Rooms, bus: EventBus, sip: SipService, book: PartyBook) -> PrivateCalls:
    """The server's one-to-one calls, dialling with `sip`'s dial-out the parties `book` says."""

    async def dial(room: str, uri: str, name: str, trunk: str | None) -> str:
        found = sip.agent.rooms(room)
        if found is None:
            raise NoSuchRoom(f"no room named {room!r}")
        try:
            found.check_capacity()
            return await sip.dialer.dial(found, uri, name, trunk)
        except DialError as error:
            raise CallRefused(error.status, error.code, str(error)) from None
        except RoomError as error:
            raise CallRefused(409, "room-full", str(error)) from None

    return PrivateCalls(rooms, bus, dial, sip.gateways, book)
