"""One-to-one calls (privatecalls.py) wired to the SIP side: dialled parties go out through
the SIP dial-out into the call's room, here or in a media worker."""

from __future__ import annotations

from mediacore.events import EventBus
from mediacore.room import RoomError
from mediacore.server.callparties import PartyError
from mediacore.server.config import Config
from mediacore.server.privatecalls import PrivateCalls
from mediacore.server.rooms import NoSuchRoom, Rooms
from mediacore.server.sipservice import SipService
from sip.dialout import DialError


def private_calls(rooms: Rooms, bus: EventBus, sip: SipService, config: Config) -> PrivateCalls:
    """The server's one-to-one calls, dialling with `sip`'s dial-out."""

    async def dial(room: str, uri: str, name: str, trunk: str | None) -> str:
        found = sip.agent.rooms(room)
        if found is None:
            raise NoSuchRoom(f"no room named {room!r}")
        try:
            found.check_capacity()
            return await sip.dialer.dial(found, uri, name, trunk)
        except DialError as error:
            raise PartyError(error.status, error.code, str(error)) from None
        except RoomError as error:
            raise PartyError(409, "room-full", str(error)) from None

    host = config.server.host if config.server.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    return PrivateCalls(
        rooms,
        bus,
        dial,
        sip.gateways,
        users=[user.user for user in config.sip.users],
        trunks=[(trunk.name, trunk.host_domain) for trunk in config.sip.trunks],
        host=host,
    )
