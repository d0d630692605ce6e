"""The register of emergency alarms: raised, repeated, acknowledged. No I/O, no clock.

An alarm is raised by an emergency press (a floor request at priority 3, a radio's emergency
key, a phone's `*9`) or by a dispatcher, and stays **active** until a dispatcher acknowledges it.
The same participant pressing again while its alarm is active raises nothing new: the alarm
counts the presses (`count`, `last_at`), so a console keeps one banner per person in distress.
Acknowledged alarms are kept, newest first, up to `max_kept`, as a short history."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from mediacore.clock import iso8601

AlarmState = Literal["active", "acknowledged"]
ACTIVE: AlarmState = "active"
ACKNOWLEDGED: AlarmState = "acknowledged"
STATES: tuple[AlarmState, ...] = (ACTIVE, ACKNOWLEDGED)
MANUAL = "manual"  # the source of an alarm a dispatcher raised over the API
MAX_ACTIVE = 1000
MAX_KEPT = 500  # acknowledged alarms kept as history


class AlarmLimit(Exception):
    """MAX_ACTIVE alarms are active already: acknowledge some before raising more."""


class AlreadyAcknowledged(Exception):
    """The alarm was acknowledged before (by `alarm.acknowledged_by`)."""

    def __init__(self, alarm: Alarm) -> None:
        super().__init__(f"alarm {alarm.id} was acknowledged by {alarm.acknowledged_by}")
        self.alarm = alarm


@dataclass(frozen=True, slots=True)
class Alarm:
    id: str
    room: str
    participant: str | None  # None: a dispatcher's alarm about the room itself
    name: str | None  # the participant's name when it was raised
    source: str  # the floor request's ("api", "websocket", "squelch", "dtmf"...) or MANUAL
    raised_at: datetime
    last_at: datetime  # the last press
    count: int = 1  # presses while active
    text: str | None = None
    raised_by: str | None = None  # who raised a MANUAL alarm
    state: AlarmState = ACTIVE
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room": self.room,
            "participant": self.participant,
            "name": self.name,
            "source": self.source,
            "text": self.text,
            "raised_by": self.raised_by,
            "raised_at": iso8601(self.raised_at),
            "last_at": iso8601(self.last_at),
            "count": self.count,
            "state": self.state,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": iso8601(self.acknowledged_at) if self.acknowledged_at else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alarm:
        """The alarm `to_json` wrote. Raises ValueError, KeyError or TypeError for anything else."""
        state = data["state"]
        if state not in STATES:
            raise ValueError(f"unknown alarm state {state!r}")
        acknowledged_at = data.get("acknowledged_at")
        return cls(
            id=str(data["id"]),
            room=str(data["room"]),
            participant=_text_or_none(data.get("participant")),
            name=_text_or_none(data.get("name")),
            source=str(data["source"]),
            raised_at=_time(data["raised_at"]),
            last_at=_time(data.get("last_at") or data["raised_at"]),
            count=int(data.get("count", 1)),
            text=_text_or_none(data.get("text")),
            raised_by=_text_or_none(data.get("raised_by")),
            state=state,
            acknowledged_by=_text_or_none(data.get("acknowledged_by")),
            acknowledged_at=_time(acknowledged_at) if acknowledged_at else None,
        )


class AlarmRegister:
    def __init__(
        self, alarms: Iterable[Alarm] = (), max_active: int = MAX_ACTIVE, max_kept: int = MAX_KEPT
    ) -> None:
        self.max_active = max_active
        self.max_kept = max_kept
        self._alarms: dict[str, Alarm] = {}  # in the order raised
        for alarm in sorted(alarms, key=lambda a: a.raised_at):
            self._alarms[alarm.id] = alarm
        self._trim()

    def press(
        self,
        room: str,
        participant: str | None,
        name: str | None,
        source: str,
        now: datetime,
        *,
        text: str | None = None,
        raised_by: str | None = None,
    ) -> tuple[Alarm, bool]:
        """An emergency press: (the alarm, True) when it raised a new one, (the participant's
        active alarm counting one more press, False) otherwise. A press without a participant
        always raises a new alarm. Raises AlarmLimit when MAX_ACTIVE alarms are active."""
        active = self.active_of(room, participant) if participant is not None else None
        if active is not None:
            repeated = replace(
                active, count=active.count + 1, last_at=now, name=active.name or name
            )
            self._alarms[active.id] = repeated
            return repeated, False
        if len(self.entries(ACTIVE)) >= self.max_active:
            raise AlarmLimit(f"{self.max_active} alarms are active: acknowledge some first")
        alarm = Alarm(
            id="al-" + secrets.token_hex(6),
            room=room,
            participant=participant,
            name=name,
            source=source,
            raised_at=now,
            last_at=now,
            text=text,
            raised_by=raised_by,
        )
        self._alarms[alarm.id] = alarm
        return alarm, True

    def acknowledge(self, alarm_id: str, by: str, now: datetime) -> Alarm:
        """Acknowledge an active alarm. Raises KeyError (no such alarm) or AlreadyAcknowledged."""
        alarm = self._alarms[alarm_id]
        if alarm.state != ACTIVE:
            raise AlreadyAcknowledged(alarm)
        acknowledged = replace(alarm, state=ACKNOWLEDGED, acknowledged_by=by, acknowledged_at=now)
        self._alarms[alarm_id] = acknowledged
        self._trim()
        return acknowledged

    def get(self, alarm_id: str) -> Alarm:
        """Raises KeyError."""
        return self._alarms[alarm_id]

    def active_of(self, room: str, participant: str) -> Alarm | None:
        """The participant's active alarm in `room`, if it has one."""
        return next(
            (
                a
                for a in self._alarms.values()
                if a.state == ACTIVE and a.room == room and a.participant == participant
            ),
            None,
        )

    def entries(self, state: AlarmState | None = None, room: str | None = None) -> list[Alarm]:
        """The alarms in this state and room (None: all), newest first."""
        return [
            a
            for a in reversed(self._alarms.values())
            if (state is None or a.state == state) and (room is None or a.room == room)
        ]

    def _trim(self) -> None:
        """Forget the oldest acknowledged alarms beyond `max_kept`; active ones stay."""
        done = [a.id for a in self._alarms.values() if a.state == ACKNOWLEDGED]
        for alarm_id in done[: max(0, len(done) - self.max_kept)]:
            del self._alarms[alarm_id]


def _time(text: Any) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
