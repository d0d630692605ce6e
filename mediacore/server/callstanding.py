"""What was set on a call's participant after it joined, carried on with the call.

A call's record in Redis (callrecord.py) keeps its participant's standing: the changes made to
it since it joined, as its room said them (`participant.updated`: muted, deaf, priority, gain,
duplex, whom it hears, the rooms it monitors and transmits into) and the whispers it speaks
(to whom). The node that carries a dead node's calls on (clustercalls.py) applies them again
once the room's calls are back, so a muted phone comes back muted and a whisper goes on between
those of its people who came back. A broadcast is not carried on (its node is gone; the
dispatcher starts it again), nor is a hold."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from mediacore.events import Event, EventBus
from mediacore.room import MOVED, RoomError
from mediacore.server.rooms import NoSuchParticipant, Rooms

log = logging.getLogger(__name__)

KEPT = frozenset(
    {"muted", "deaf", "priority", "gain_db", "duplex", "hear_not", "hear_only", "monitor",
     "transmit"}
)  # fmt: skip
PENDING_S = 10.0  # how long a carried-on participant's changes wait for it to join
CARRIED_BY = "failover"  # who restarts a carried whisper, as its events say


class CallStanding:
    def __init__(self, bus: EventBus, rooms: Rooms) -> None:
        self.rooms = rooms
        self._changes: dict[str, dict[str, Any]] = {}  # by participant id
        # Carried-on participants whose changes wait for them to join: {id: (room, changes)}.
        self._pending: dict[str, tuple[str, dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        bus.listen(self._event)

    def changes(self, participant: str) -> dict[str, Any]:
        """What was changed on `participant` since it joined, as it stands now."""
        return dict(self._changes.get(participant, {}))

    def fields(self, room: str, participant: str) -> dict[str, str]:
        """The record's `changes` and `whispers` (JSON) for `participant` of `room`."""
        try:
            whispers = self.rooms.whisper_book.current(room)
        except LookupError:
            whispers = []
        speaks = [entry["to"] for entry in whispers if entry["from"] == participant]
        return {
            "changes": json.dumps(self.changes(participant), sort_keys=True),
            "whispers": json.dumps(speaks),
        }

    async def reapply(self, room: str, participant: str, changes: str) -> None:
        """Give `participant`, carried on into `room`, its changes again (`changes`: JSON, as
        its record keeps them). Never raises: what cannot be applied (a monitored room not
        open here) is logged and left."""
        wanted = _object(changes)
        if not wanted:
            return
        try:
            await self._apply(room, participant, wanted)
        except NoSuchParticipant:  # its media worker has not said it joined yet: then
            self._pending[participant] = (room, wanted)
            asyncio.get_running_loop().call_later(PENDING_S, self._pending.pop, participant, None)

    async def rewhisper(self, room: str, carried: Iterable[tuple[str, str]]) -> None:
        """Once a room's calls are back: the whispers the carried participants spoke, to those
        of their listeners who are back too (`carried`: id, whispers JSON). Never raises."""
        try:
            here = {entry["id"] for entry in await self.rooms.roster(room)}
        except LookupError:
            return
        for participant, whispers in carried:
            for listeners in _lists(whispers):
                present = [listener for listener in listeners if listener in here]
                if participant in here and present:
                    await self._whisper(room, participant, present)

    async def _apply(self, room: str, participant: str, changes: Mapping[str, Any]) -> None:
        """Raises NoSuchParticipant; logs the other failures."""
        try:
            await self.rooms.update(room, participant, {k: changes[k] for k in KEPT & set(changes)})
        except NoSuchParticipant:
            raise
        except (LookupError, RoomError, ConnectionError) as error:
            log.info(
                "participant's changes not carried on: %s", error,
                extra={"room": room, "participant": participant},
            )  # fmt: skip

    async def _whisper(self, room: str, speaker: str, listeners: list[str]) -> None:
        try:
            await self.rooms.whisper_book.start(room, speaker, listeners, CARRIED_BY)
        except (LookupError, RoomError, ConnectionError) as error:
            log.info("whisper not carried on: %s", error, extra={"room": room})

    async def _apply_pending(self, room: str, participant: str, changes: dict[str, Any]) -> None:
        try:
            await self._apply(room, participant, changes)
        except NoSuchParticipant:
            log.info("participant's changes not carried on: it left", extra={"room": room})

    def _event(self, event: Event) -> None:
        if event.type == "participant.joined":
            joined = event.data.get("participant")
            found = joined.get("id") if isinstance(joined, dict) else None
            pending = self._pending.pop(found, None) if isinstance(found, str) else None
            if pending is not None and isinstance(found, str) and pending[0] == event.room:
                task = asyncio.get_running_loop().create_task(
                    self._apply_pending(pending[0], found, pending[1])
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return
        participant = event.data.get("participant")
        if not isinstance(participant, str):
            return
        if event.type == "participant.updated":
            changed = event.data.get("changes")
            if isinstance(changed, dict):
                kept = {k: v for k, v in changed.items() if k in KEPT}
                if kept:
                    self._changes.setdefault(participant, {}).update(kept)
        elif event.type == "participant.left" and event.data.get("reason") != MOVED:
            self._changes.pop(participant, None)


def _object(text: str) -> dict[str, Any]:
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _lists(text: str) -> list[list[str]]:
    try:
        found = json.loads(text)
    except ValueError:
        return []
    if not isinstance(found, list):
        return []
    return [
        [item for item in entry if isinstance(item, str)]
        for entry in found
        if isinstance(entry, list)
    ]
