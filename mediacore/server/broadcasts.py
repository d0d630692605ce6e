"""Broadcasts (广播): one participant heard in several rooms, or all, at emergency priority.

A broadcast makes the participant transmit into every listed room through its relays
(mediacore/relays.py) at priority 3: each relay takes its room's floor, pre-empting a lower
holder, so the radio gateways there are keyed with the broadcaster's voice. Listed with its own
room, the participant also takes that room's floor at priority 3. `broadcast.started` and
`broadcast.ended` are published in every room it reaches, so each room's timeline has them. It
ends when deleted or when the broadcaster leaves its room."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mediacore.clock import iso8601, utc_now
from mediacore.events import Event, EventBus
from mediacore.room import RoomError
from mediacore.server.rooms import NoSuchParticipant, NoSuchRoom, Rooms

log = logging.getLogger(__name__)

EMERGENCY = 3
ALL = "all"


class BroadcastError(RoomError):
    """A broadcast that cannot start (the participant broadcasts already, no rooms)."""


@dataclass(slots=True)
class Broadcast:
    id: str
    participant: str
    room: str  # the broadcaster's own room
    rooms: list[str]  # every room it is heard in (its own one included when listed)
    by: str
    started_at: datetime = field(default_factory=utc_now)
    priority_before: int | None = None  # its own priority, raised to 3 in its own room

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "participant": self.participant,
            "room": self.room,
            "rooms": list(self.rooms),
            "by": self.by,
            "started_at": iso8601(self.started_at),
        }


class Broadcasts:
    def __init__(self, rooms: Rooms, bus: EventBus) -> None:
        self._rooms = rooms
        self._bus = bus
        self._broadcasts: dict[str, Broadcast] = {}
        bus.listen(self._event)

    def current(self) -> list[dict[str, Any]]:
        return [b.to_json() for b in self._broadcasts.values()]

    def get(self, broadcast_id: str) -> Broadcast:
        return self._broadcasts[broadcast_id]

    async def start(self, participant: str, rooms: list[str] | str, by: str) -> Broadcast:
        home = self._rooms.locate(participant)
        if home is None:
            raise NoSuchParticipant(f"no participant {participant!r} in any room")
        if any(b.participant == participant for b in self._broadcasts.values()):
            raise BroadcastError(f"{participant} is broadcasting already")
        names = self._rooms.names()
        wanted = names if rooms == ALL else list(dict.fromkeys(rooms))
        for name in wanted:
            if name not in names:
                raise NoSuchRoom(f"no room named {name!r}")
        others = [name for name in wanted if name != home]
        if not wanted:
            raise BroadcastError("a broadcast needs at least one room")
        broadcast = Broadcast("b-" + secrets.token_hex(5), participant, home, wanted, by)
        await self._rooms.update(home, participant, {"broadcast": others})
        if home in wanted:
            entry = await self._rooms.participant(home, participant)
            broadcast.priority_before = int(entry["priority"])
            await self._rooms.update(home, participant, {"priority": EMERGENCY})
            await self._rooms.floor_action(
                home, participant, "request", EMERGENCY, by=by, source="broadcast"
            )
        self._broadcasts[broadcast.id] = broadcast
        said = {k: v for k, v in broadcast.to_json().items() if k != "room"}
        for name in self._reached(broadcast):
            self._bus.publish("broadcast.started", name, home=home, **said)
        log.info("broadcast started", extra={"broadcast": broadcast.id, "rooms": len(wanted)})
        return broadcast

    async def end(self, broadcast_id: str, reason: str = "ended", by: str = "") -> None:
        """Raises KeyError for an unknown broadcast."""
        broadcast = self._broadcasts.pop(broadcast_id)
        if reason != "left":  # one that left took its relays with it
            await self._restore(broadcast)
        for name in self._reached(broadcast):
            self._bus.publish(
                "broadcast.ended",
                name,
                id=broadcast.id,
                participant=broadcast.participant,
                reason=reason,
                **({"by": by} if by else {}),
            )

    async def _restore(self, broadcast: Broadcast) -> None:
        home, participant = broadcast.room, broadcast.participant
        try:
            await self._rooms.update(home, participant, {"broadcast": []})
            if broadcast.priority_before is not None:
                await self._rooms.floor_action(
                    home, participant, "release", None, by=broadcast.by, source="broadcast"
                )
                await self._rooms.update(home, participant, {"priority": broadcast.priority_before})
        except (LookupError, RoomError, ConnectionError):  # gone meanwhile: nothing to restore
            log.debug("restoring after a broadcast failed", exc_info=True)

    @staticmethod
    def _reached(broadcast: Broadcast) -> list[str]:
        if broadcast.room in broadcast.rooms:
            return broadcast.rooms
        return [broadcast.room, *broadcast.rooms]

    def _event(self, event: Event) -> None:
        if event.type != "participant.left":
            return
        participant = event.data.get("participant")
        for broadcast in list(self._broadcasts.values()):
            if broadcast.participant != participant or broadcast.room != event.room:
                continue
            reason = "left"
            moved_to = event.data.get("to")
            if event.data.get("reason") == "moved" and isinstance(moved_to, str):
                broadcast.room, reason = moved_to, "moved"  # it keeps its call: undo it there
            asyncio.get_running_loop().create_task(self._end_quietly(broadcast.id, reason))

    async def _end_quietly(self, broadcast_id: str, reason: str) -> None:
        try:
            await self.end(broadcast_id, reason=reason)
        except KeyError:
            pass  # deleted meanwhile
