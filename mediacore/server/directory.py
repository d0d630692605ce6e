"""The room directory of one server: open rooms, and the plain RTP legs joined to them."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from typing import Any

from mediacore.codecs import registry
from mediacore.dtmf import DtmfDigit
from mediacore.events import EventBus
from mediacore.offeranswer import OfferAnswerError, answer_audio
from mediacore.participant import Duplex, Participant
from mediacore.ports import PortPool
from mediacore.room import Room, RoomError, RoomSettings, TickObserver
from mediacore.rtpsession import RtpLeg
from mediacore.sdp import SessionDescription
from mediacore.server.config import Config

log = logging.getLogger(__name__)

MAX_ROOMS = 1000
MAX_PARTICIPANTS_PER_ROOM = 2000


class RoomExists(RoomError):
    pass


class RoomDirectory:
    def __init__(self, config: Config, bus: EventBus) -> None:
        self.config = config
        self.bus = bus
        self.rooms: dict[str, Room] = {}
        self.tick_observers: list[TickObserver] = []  # given to every room opened here
        self.ports = PortPool(config.rtp.port_min, config.rtp.port_max)

    async def start(self) -> None:
        for settings in self.config.rooms:
            self.open(settings)

    async def stop(self) -> None:
        for name in list(self.rooms):
            await self.close(name, "server-stopping")

    def open(self, settings: RoomSettings) -> Room:
        if settings.name in self.rooms:
            raise RoomExists(f"room {settings.name!r} exists")
        if len(self.rooms) >= MAX_ROOMS:
            raise RoomError(f"at most {MAX_ROOMS} rooms")
        room = Room(settings, self.bus)
        room.tick_observers.extend(self.tick_observers)
        self.rooms[settings.name] = room
        room.start()
        self.bus.publish("room.opened", room.name, settings=settings.to_json())
        return room

    async def close(self, name: str, reason: str) -> None:
        room = self.rooms.pop(name)
        await room.close(reason)

    def get(self, name: str) -> Room:
        return self.rooms[name]

    async def add_rtp_leg(
        self,
        room: Room,
        offer: SessionDescription,
        *,
        name: str,
        duplex: Duplex,
        priority: int,
        local_address: str,
    ) -> tuple[Participant, str]:
        """Answer an SDP offer with a new RTP leg in `room`; returns the participant and answer.

        Raises OfferAnswerError (offer unusable), RoomError, or PortsExhausted."""
        if len(room.participants) >= MAX_PARTICIPANTS_PER_ROOM:
            raise RoomError(f"at most {MAX_PARTICIPANTS_PER_ROOM} participants per room")
        # Negotiate before binding so that a bad offer never takes a port.
        bind_host = self._bind_host(local_address)
        session_id = _session_id()
        _, negotiation = answer_audio(
            offer, registry.supported(), local_address, 9, session_id=session_id
        )
        clock_rate = negotiation.codec.clock_rate
        leg = RtpLeg(
            negotiation,
            room_rate=room.settings.rate,
            tick_ms=room.settings.ptime,
            timeout=self.config.rtp.timeout,
            # DTMF can only arrive once the leg is in the room, so `participant` is bound by then.
            on_dtmf=lambda digit: self._publish_dtmf(room, participant, digit, clock_rate),
        )
        port, rtp, rtcp = await self.ports.bind(
            bind_host,
            lambda: leg,
            None if negotiation.rtcp_mux else (lambda: leg),
        )
        leg.attach(port, rtp, rtcp, release=lambda: self.ports.release(port))
        answer, _ = answer_audio(
            offer, registry.supported(), local_address, port, session_id=session_id
        )
        participant = Participant(name=name, endpoint=leg, duplex=duplex, priority=priority)
        try:
            room.add(participant)
        except RoomError:
            await leg.close("rejected")
            raise
        return participant, answer.serialize()

    def _publish_dtmf(
        self, room: Room, participant: Participant, digit: DtmfDigit, clock_rate: int
    ) -> None:
        self.bus.publish(
            "dtmf",
            room.name,
            participant=participant.id,
            digit=digit.digit,
            duration_ms=digit.duration * 1000 // clock_rate,
        )

    def _bind_host(self, local_address: str) -> str:
        """Where RTP sockets listen: the configured host, or every address of the answer's family.

        Raises OfferAnswerError when the server listens on one address of the other family."""
        host = self.config.server.host or "0.0.0.0"
        wanted = 6 if ":" in local_address else 4
        if ipaddress.ip_address(host).is_unspecified:
            return "::" if wanted == 6 else "0.0.0.0"
        if ipaddress.ip_address(host).version != wanted:
            raise OfferAnswerError(
                "bad-address", f"the offer wants IPv{wanted} media but the server listens on {host}"
            )
        return host

    def summary(self, room: Room) -> dict[str, Any]:
        return {
            **room.settings.to_json(),
            "participants": len(room.participants),
            "talking": [p.id for p in room.participants.values() if p.talking],
            "clock": {
                "ticks": room.clock.ticks,
                "late_ticks": room.clock.late_ticks,
                "skipped_ticks": room.clock.skipped_ticks,
                "max_lateness_ms": round(room.clock.max_lateness * 1000, 2),
            },
        }


def _session_id() -> int:
    return secrets.randbits(62)
