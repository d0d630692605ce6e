"""Emergency alarms, as the server runs them: raised from the bus, kept until acknowledged.

Presses come from the bus (emergencies.py: floor requests at priority 3 and phones' `*9`, from
whichever process decided them) or from a dispatcher over the API; the register
(alarmregister.py) decides whether a press raises a new alarm or counts on an active one. Each
change is published in the alarm's room (`alarm.raised`, `alarm.updated`,
`alarm.acknowledged`), so that recordings of the room have it in their timeline, and the event
WebSocket passes these types to every subscriber whatever room it follows (api_events.py): a
console sees every room's alarms. The register is written to `<data_dir>/alarms.json` (0600,
replaced atomically) after every change, so a restart keeps what was not acknowledged."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mediacore.clock import utc_now
from mediacore.events import Event, EventBus
from mediacore.server.alarmregister import (
    MANUAL,
    Alarm,
    AlarmLimit,
    AlarmRegister,
    AlarmState,
)
from mediacore.server.emergencies import DtmfEmergencies, EmergencyPress, floor_emergency
from mediacore.server.joinlinks import replace_private
from mediacore.server.rooms import NoSuchParticipant

log = logging.getLogger(__name__)

ALARMS_FILE = "alarms.json"
RAISED, UPDATED, ACKNOWLEDGED = "alarm.raised", "alarm.updated", "alarm.acknowledged"
ALARM_EVENTS = frozenset({RAISED, UPDATED, ACKNOWLEDGED})
# (room) -> its roster entries; raises NoSuchRoom (see mediacore.server.rooms.Rooms.roster).
Roster = Callable[[str], Awaitable[list[dict[str, Any]]]]


class Alarms:
    def __init__(self, data_dir: Path, bus: EventBus, roster: Roster) -> None:
        """Raises ValueError when alarms.json exists but cannot be read as alarms."""
        self.bus = bus
        self.roster = roster
        self.path = data_dir / ALARMS_FILE
        self.register = AlarmRegister(_load(self.path))
        # Worker mode: what is published here reaches the recordings running in the rooms'
        # workers this way (ShardedRecordingSite.note); None when they listen to this bus.
        self.timeline: Callable[[Event], None] | None = None
        self._dtmf = DtmfEmergencies()
        self._tasks: set[asyncio.Task[None]] = set()
        bus.listen(self._event)

    def close(self) -> None:
        self.bus.unlisten(self._event)
        for task in list(self._tasks):
            task.cancel()

    # -- what the API does --------------------------------------------------------------------

    async def raise_manual(
        self, room: str, participant: str | None, text: str | None, by: str
    ) -> tuple[Alarm, bool]:
        """A dispatcher's alarm about `room` (and one of its participants): (alarm, new).
        Raises NoSuchRoom, NoSuchParticipant or AlarmLimit."""
        roster = await self.roster(room)
        name = None
        if participant is not None:
            entry = next((e for e in roster if e.get("id") == participant), None)
            if entry is None:
                raise NoSuchParticipant(f"no participant {participant!r} in room {room!r}")
            name = entry.get("name")
        return self._press(room, participant, name, MANUAL, text=text, raised_by=by)

    def acknowledge(self, alarm_id: str, by: str) -> Alarm:
        """Raises KeyError (no such alarm) or AlreadyAcknowledged."""
        alarm = self.register.acknowledge(alarm_id, by, utc_now())
        self._changed(ACKNOWLEDGED, alarm)
        return alarm

    def entries(self, state: AlarmState | None = None, room: str | None = None) -> list[Alarm]:
        return self.register.entries(state, room)

    def get(self, alarm_id: str) -> Alarm:
        """Raises KeyError."""
        return self.register.get(alarm_id)

    # -- what the bus says --------------------------------------------------------------------

    def _event(self, event: Event) -> None:
        press = floor_emergency(event) or self._dtmf.press(event)
        if press is not None:
            task = asyncio.get_running_loop().create_task(self._pressed(press))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pressed(self, press: EmergencyPress) -> None:
        try:
            self._press(press.room, press.participant, await self._name(press), press.source)
        except AlarmLimit as error:
            log.error("emergency press not raised", extra={"room": press.room, "error": str(error)})

    async def _name(self, press: EmergencyPress) -> str | None:
        """The participant's name, from its room's roster (None once it has left)."""
        try:
            roster = await self.roster(press.room)
        except Exception:  # the room closed, or its worker restarts: the alarm goes up anyway
            return None
        entry = next((e for e in roster if e.get("id") == press.participant), None)
        return None if entry is None else entry.get("name")

    # -- raising and saying -------------------------------------------------------------------

    def _press(
        self,
        room: str,
        participant: str | None,
        name: str | None,
        source: str,
        *,
        text: str | None = None,
        raised_by: str | None = None,
    ) -> tuple[Alarm, bool]:
        alarm, new = self.register.press(
            room, participant, name, source, utc_now(), text=text, raised_by=raised_by
        )
        self._changed(RAISED if new else UPDATED, alarm)
        if new:
            log.warning(
                "alarm raised",
                extra={"room": room, "participant": participant, "source": source},
            )
        return alarm, new

    def _changed(self, kind: str, alarm: Alarm) -> None:
        self._save()
        data = alarm.to_json()
        del data["room"]  # the event's own
        event = self.bus.publish(kind, alarm.room, **data)
        if self.timeline is not None:
            self.timeline(event)

    def _save(self) -> None:
        alarms = [a.to_json() for a in reversed(self.register.entries())]
        try:
            replace_private(self.path, json.dumps({"alarms": alarms}, ensure_ascii=False))
        except OSError as error:  # the alarm still goes up; the next change tries again
            log.error("alarms not saved", extra={"path": str(self.path), "error": str(error)})


def _load(path: Path) -> list[Alarm]:
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Alarm.from_json(entry) for entry in data["alarms"]]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} does not hold alarms: {error}") from None
