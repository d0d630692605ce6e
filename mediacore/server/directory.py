"""The room directory of one server: open rooms, and the plain RTP legs joined to them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mediacore.clock import MONOTONIC, Clock
from mediacore.clockphase import spread
from mediacore.dtmf import DtmfDigit
from mediacore.events import EventBus
from mediacore.legpolicy import PLAIN_RTP, LegPolicy
from mediacore.legs import LegFactory, publish_dtmf
from mediacore.participant import Duplex, Participant
from mediacore.ports import PortPool
from mediacore.room import Room, RoomError, RoomSettings, TickObserver
from mediacore.rtpsession import RtpLeg
from mediacore.sdp import SessionDescription
from mediacore.server.config import Config
from mixer.audiomixer import AudioMixer
from radio.leg import RadioLeg, RadioOptions
from radio.sdp import add_radio_attributes

log = logging.getLogger(__name__)

MAX_ROOMS = 1000


class RoomExists(RoomError):
    pass


class RoomDirectory:
    def __init__(self, config: Config, bus: EventBus, clock: Clock = MONOTONIC) -> None:
        self.config = config
        self.clock = clock  # the rooms' and their legs' (the SIP stack takes it from here too)
        self.bus = bus
        self.rooms: dict[str, Room] = {}
        self.tick_observers: list[TickObserver] = []  # given to every room opened here
        self.ports = PortPool(config.rtp.port_min, config.rtp.port_max)
        self.legs = LegFactory(self.ports, config.server.host, config.rtp.timeout, clock)
        # Worker mode: rooms that run in media workers, not here (see shardedrooms.py).
        self.placed_elsewhere: Callable[[str], bool] = lambda name: False

    async def stop(self) -> None:
        for name in list(self.rooms):
            await self.close(name, "server-stopping")

    def open(self, settings: RoomSettings, phase: float | None = None) -> Room:
        """Open a room whose clock ticks at `phase` (mediacore/clockphase.py), or else in the
        middle of the widest gap between the phases of the rooms here."""
        if settings.name in self.rooms:
            raise RoomExists(f"room {settings.name!r} exists")
        if len(self.rooms) >= MAX_ROOMS:
            raise RoomError(f"at most {MAX_ROOMS} rooms")
        room = Room(settings, self.bus, make_mixer=AudioMixer, clock=self.clock)
        room.tick_observers.extend(self.tick_observers)
        if phase is None:
            peers = [r.phase for r in self.rooms.values() if r.period == room.period]
            phase = spread(peers, room.period)
        self.rooms[settings.name] = room
        room.start(phase)
        self.bus.publish("room.opened", room.name, settings=settings.to_json())
        return room

    async def close(self, name: str, reason: str) -> None:
        room = self.rooms.pop(name)
        await room.close(reason)

    def get(self, name: str) -> Room:
        return self.rooms[name]

    def exists(self, name: str) -> bool:
        """Whether a room of this name is open, here or in a media worker."""
        return name in self.rooms or self.placed_elsewhere(name)

    async def add_rtp_leg(
        self,
        room: Room,
        offer: SessionDescription,
        *,
        name: str,
        duplex: Duplex,
        priority: int,
        local_address: str,
        radio: RadioOptions | None = None,
        policy: LegPolicy = PLAIN_RTP,
    ) -> tuple[Participant, str]:
        """Answer an SDP offer with a new RTP leg in `room`; returns the participant and answer.

        With `radio` the leg is a half-duplex radio leg (ED-137 or VOX) keyed by the floor;
        `policy` says whether it is SRTP and whether it may latch (NAT).
        Raises OfferAnswerError (offer unusable), RoomError, or PortsExhausted."""
        room.check_capacity()
        joined: list[Participant] = []  # DTMF can only arrive once the leg is in the room

        def dtmf(digit: DtmfDigit) -> None:
            here = self.room_of(joined[0].id)  # the room it is in now: it may have moved
            if here is not None:
                publish_dtmf(self.bus, here, joined[0], digit, leg.negotiation.codec.clock_rate)

        leg: RtpLeg
        if radio is None:
            leg, answer = await self.legs.answer(
                offer, room, local_address, RtpLeg, policy, on_dtmf=dtmf
            )
        else:
            leg, answer = await self.legs.answer(
                offer, room, local_address, RadioLeg, policy, on_dtmf=dtmf, radio=radio
            )
            if radio.mode == "ed137":
                add_radio_attributes(answer, radio.session)
            duplex = "half"
        participant = Participant(name=name, endpoint=leg, duplex=duplex, priority=priority)
        joined.append(participant)
        try:
            room.add(participant)
        except RoomError:
            await leg.close("rejected")
            raise
        return participant, answer.serialize()

    def room_of(self, participant_id: str) -> Room | None:
        """The open room that holds participant `participant_id`, if any."""
        return next((r for r in self.rooms.values() if participant_id in r.participants), None)

    def summary(self, room: Room) -> dict[str, Any]:
        return {
            **room.settings.to_json(),
            "participants": len(room.participants),
            "talking": [p.id for p in room.participants.values() if p.talking],
            "floor_state": room.floor.to_json(),
            "clock": {
                "ticks": room.clock.ticks,
                "late_ticks": room.clock.late_ticks,
                "skipped_ticks": room.clock.skipped_ticks,
                "max_lateness_ms": round(room.clock.max_lateness * 1000, 2),
                "phase_ms": round(room.phase * 1000, 2),
            },
        }
