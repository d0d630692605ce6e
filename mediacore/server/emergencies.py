"""Which events of the bus are emergency presses: the alarms' triggers. No I/O.

Every floor request is decided where its room runs (in-process, or in the room's home worker)
and said on the bus as a `floor.*` event; so alarms are raised here, in control, from those
events, the same way in both modes:

- `floor.granted`, `floor.denied`, `floor.queued` or `floor.escalated` at priority 3
  (emergency), from any leg: the API or the console (`api`, `websocket`), a radio gateway's
  emergency PTT type (`squelch`, radio/leg.py), a phone joined at priority 3 pressing `*` in PTT
  mode (`dtmf`). A grant from the queue is not a new press (its `floor.queued` was). Requests
  that are no person's (`announcement`, `broadcast`) never raise an alarm.
- A phone's DTMF `*` then `9` within DTMF_WINDOW seconds (the `dtmf` events), whether or not it
  is in PTT mode: the emergency key of any telephone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mediacore.events import Event

EMERGENCY = 3
PRESS_EVENTS = frozenset({"floor.granted", "floor.denied", "floor.queued", "floor.escalated"})
NOT_A_PERSON = frozenset({"announcement", "broadcast"})
DTMF_SEQUENCE = ("*", "9")
DTMF_WINDOW = 3.0  # seconds from `*` to `9`
DTMF = "dtmf"


@dataclass(frozen=True, slots=True)
class EmergencyPress:
    room: str
    participant: str
    source: str
    at: datetime


def floor_emergency(event: Event) -> EmergencyPress | None:
    """The emergency press a floor event says, if it says one."""
    data = event.data
    if event.type not in PRESS_EVENTS or event.room is None or data.get("priority") != EMERGENCY:
        return None
    source = str(data.get("source") or "")
    if source in NOT_A_PERSON or data.get("from_queue"):
        return None
    participant = data.get("participant")
    if not isinstance(participant, str):
        return None
    return EmergencyPress(event.room, participant, source, event.at)


class DtmfEmergencies:
    """Watches `dtmf` events for DTMF_SEQUENCE, per participant."""

    def __init__(self) -> None:
        self._started: dict[tuple[str, str], datetime] = {}  # when `*` was pressed, by leg

    def press(self, event: Event) -> EmergencyPress | None:
        """The emergency press this `dtmf` event completes, if it completes one."""
        if event.type == "participant.left" and event.room is not None:
            self._started.pop((event.room, str(event.data.get("participant"))), None)
            return None
        participant, digit = event.data.get("participant"), event.data.get("digit")
        if event.type != DTMF or event.room is None or not isinstance(participant, str):
            return None
        key = (event.room, participant)
        started = self._started.pop(key, None)
        if digit == DTMF_SEQUENCE[0]:
            self._started[key] = event.at
        elif digit == DTMF_SEQUENCE[1] and started is not None:
            if (event.at - started).total_seconds() <= DTMF_WINDOW:
                return EmergencyPress(event.room, participant, DTMF, event.at)
        return None
