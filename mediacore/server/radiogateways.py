"""Configured radio gateways (`[[radio.gateways]]`) the server calls and keeps in their rooms.

A gateway that is not in its room (never called, refused, hung up, timed out) is called again
with a growing back-off, so a radio link that drops comes back by itself once the gateway does.
Outgoing ED-137 set-up: INVITE with `Subject: radio`, `WG67-Version` and our radio SDP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from mediacore.room import RoomError
from mediacore.server.sipradio import OutgoingRadio
from radio.gateways import RadioGateway
from radio.sdp import radio_offer_session
from sip.call import SipCall
from sip.dialout import Dialer, DialError, DialProgress
from sip.roomport import CallRoom

log = logging.getLogger(__name__)

FIRST_RETRY = 2.0
LONGEST_RETRY = 60.0
CHECK_EVERY = 1.0


async def dial_gateway(
    dialer: Dialer,
    gateway: RadioGateway,
    room: CallRoom,
    *,
    ring_timeout: float | None = None,
    progress: DialProgress | None = None,
) -> str:
    """Call `gateway` into `room` as a radio leg at its configured priority; answers the
    participant id at once (see Dialer.dial). Raises DialError or RoomError."""
    participant = await dialer.dial(
        room,
        gateway.uri,
        gateway.name,
        None,
        OutgoingRadio(radio_offer_session(gateway.mode)),
        dialer.agent.settings.policy(gateway.srtp, gateway.nat),
        ring_timeout=ring_timeout,
        progress=progress,
    )
    room.update(participant, priority=gateway.priority)
    return participant


class GatewayKeeper:
    def __init__(
        self,
        gateways: tuple[RadioGateway, ...],
        dialer: Dialer,
        rooms: Callable[[str], CallRoom | None],
    ) -> None:
        self.gateways = gateways
        self.dialer = dialer
        self.rooms = rooms
        self.state: dict[str, dict[str, Any]] = {
            g.name: {"gateway": g.name, "room": g.room, "participant": None, "attempts": 0}
            for g in gateways
        }
        self._tasks: list[asyncio.Task[None]] = []
        self.held: set[str] = set()  # lent to one-to-one calls: away from their rooms
        # Whether this node calls the gateway (in a cluster: the node that claims it).
        self.may_dial: Callable[[str], bool] = lambda name: True

    def up(self, name: str) -> tuple[str, str] | None:
        """Gateway `name`'s (participant, room) while its call is up in its room, else None.
        Raises KeyError for a gateway not configured."""
        state = self.state[name]
        room = self.rooms(state["room"])
        participant = state["participant"]
        if room is None or participant is None or participant not in room.participants:
            return None
        call = room.participants[participant].endpoint
        if not isinstance(call, SipCall) or call.state != "confirmed":
            return None
        return participant, room.name

    def gateway_of(self, participant: str) -> str:
        """The name of the gateway whose call `participant` is ("" for none)."""
        return next(
            (name for name, state in self.state.items() if state["participant"] == participant),
            "",
        )

    def hold(self, name: str) -> None:
        """Lend the gateway to a call: while away from its room it is not called again."""
        self.held.add(name)

    def give_back(self, name: str) -> None:
        self.held.discard(name)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._keep(gateway)) for gateway in self.gateways]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _keep(self, gateway: RadioGateway) -> None:
        state = self.state[gateway.name]
        retry = FIRST_RETRY
        while True:
            if gateway.name in self.held or not self.may_dial(gateway.name):
                await asyncio.sleep(CHECK_EVERY)
                continue
            room = self.rooms(gateway.room)
            participant = state["participant"]
            if room is None:
                await asyncio.sleep(CHECK_EVERY)
                continue
            if participant is not None and participant in room.participants:
                call = room.participants[participant].endpoint
                if isinstance(call, SipCall) and call.state == "confirmed":
                    retry = FIRST_RETRY  # up: the next drop starts the back-off afresh
                await asyncio.sleep(CHECK_EVERY)
                continue
            if participant is not None:  # it was called and has left: refused, hung up, lost
                state["participant"] = None
                await asyncio.sleep(retry)
                retry = min(retry * 2, LONGEST_RETRY)
                continue
            state["participant"] = await self._dial(gateway, room, state)
            if state["participant"] is None:
                await asyncio.sleep(retry)
                retry = min(retry * 2, LONGEST_RETRY)

    async def _dial(
        self, gateway: RadioGateway, room: CallRoom, state: dict[str, Any]
    ) -> str | None:
        state["attempts"] += 1
        try:
            return await dial_gateway(self.dialer, gateway, room)
        except (DialError, RoomError) as error:
            log.info(
                "radio gateway not called", extra={"gateway": gateway.name, "error": str(error)}
            )
            return None

    def status(self) -> list[dict[str, Any]]:
        return list(self.state.values())
