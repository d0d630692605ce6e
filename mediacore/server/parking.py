"""Parking (驻留) and pick-up: a dispatcher parks a call, any dispatcher picks it up later.

Parking moves the participant (its call kept: mediacore move) into a parking room and holds it
there (mediacore/server/holds.py: it hears the music on hold; a SIP phone is re-INVITEd so its
display shows it held). The parking room is opened on first use, one per room format, since a
move keeps the leg's rate and tick: `parking` for the default 48 kHz / 20 ms rooms,
`parking-<rate>-<ptime>` for others. Picking up resumes it and moves it into the room asked for
(by default the one it came from). The parked calls are the consoles' call queue: `GET
/api/v1/parked`, events `call.parked`, `call.picked-up` and `call.abandoned` (it hung up while
parked), in the rooms they touch."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mediacore.clock import iso8601, utc_now
from mediacore.events import Event, EventBus
from mediacore.room import MOVED, RoomError, RoomSettings
from mediacore.server.holds import Holds
from mediacore.server.rooms import Rooms

log = logging.getLogger(__name__)

PARKING = "parking"
MAX_PARKED = 500


class ParkingError(RoomError):
    """A park that cannot be (already parked, the lot is full)."""


@dataclass(slots=True)
class Parked:
    id: str
    participant: str
    name: str
    came_from: str
    lot: str  # the parking room
    by: str
    parked_at: datetime = field(default_factory=utc_now)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "participant": self.participant,
            "name": self.name,
            "from": self.came_from,
            "parking": self.lot,
            "by": self.by,
            "parked_at": iso8601(self.parked_at),
        }


def lot_for(rate: int, ptime: int) -> RoomSettings:
    """The parking room for legs of this rate and tick."""
    defaults = RoomSettings(PARKING)
    if (rate, ptime) == (defaults.rate, defaults.ptime):
        return defaults
    return RoomSettings(f"{PARKING}-{rate}-{ptime}", rate=rate, ptime=ptime)


class Parking:
    def __init__(self, rooms: Rooms, holds: Holds, bus: EventBus) -> None:
        self._rooms = rooms
        self._holds = holds
        self._bus = bus
        self._parked: dict[str, Parked] = {}
        bus.listen(self._event)

    def current(self) -> list[dict[str, Any]]:
        return [p.to_json() for p in sorted(self._parked.values(), key=lambda p: p.parked_at)]

    async def park(self, room: str, participant: str, by: str) -> Parked:
        """Raises the room calls' errors (unknown room or participant, a leg that cannot move),
        ParkingError, or HoldRefused."""
        if any(p.participant == participant for p in self._parked.values()):
            raise ParkingError(f"{participant} is parked already")
        if len(self._parked) >= MAX_PARKED:
            raise ParkingError(f"at most {MAX_PARKED} calls can be parked")
        entry = await self._rooms.participant(room, participant)
        summary = await self._rooms.summary(room)
        lot = lot_for(int(summary["rate"]), int(summary["ptime"]))
        if room == lot.name:
            raise ParkingError(f"{participant} is parked already")
        if lot.name not in self._rooms.names():
            await self._rooms.open(lot)
        parked = Parked("k-" + secrets.token_hex(5), participant, entry["name"], room, lot.name, by)
        self._parked[parked.id] = parked  # before the move: its events find the entry
        try:
            await self._rooms.move(room, participant, lot.name)
            await self._holds.hold(lot.name, participant, by)
        except BaseException:
            self._parked.pop(parked.id, None)
            raise
        for name in (room, lot.name):
            self._bus.publish("call.parked", name, **parked.to_json())
        return parked

    async def pick_up(self, parked_id: str, room: str | None, by: str) -> dict[str, Any]:
        """Resume a parked call into `room` (default: where it came from). Raises KeyError for
        an unknown one, and the room calls' errors (the call stays parked then)."""
        parked = self._parked[parked_id]
        to = room or parked.came_from
        await self._rooms.summary(to)  # NoSuchRoom before anything changes
        await self._holds.resume(parked.lot, parked.participant, by)
        del self._parked[parked_id]
        try:
            entry = await self._rooms.move(parked.lot, parked.participant, to)
        except BaseException:
            self._parked[parked_id] = parked
            await self._holds.hold(parked.lot, parked.participant, by)
            raise
        for name in (parked.lot, to):
            self._bus.publish("call.picked-up", name, **parked.to_json(), to=to, picked_up_by=by)
        return entry

    def _event(self, event: Event) -> None:
        if event.type != "participant.left" or event.data.get("reason") == MOVED:
            return
        participant = event.data.get("participant")
        for parked in list(self._parked.values()):
            if parked.participant == participant and parked.lot == event.room:
                del self._parked[parked.id]
                self._bus.publish(
                    "call.abandoned",
                    parked.lot,
                    **parked.to_json(),
                    reason=event.data.get("reason"),
                )
