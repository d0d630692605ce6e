"""The room's floor: who may talk on the half-duplex (push-to-talk) side of a room.

The model follows the floor control idea of 3GPP MCPTT (TS 24.380), simplified to one floor
per room and no floor arbitrator on the client side:

- The floor is **free** or **held** by one participant. A request on a free floor is granted.
- A request on a held floor is **pre-emption** when the requester's priority (0 normal,
  1 dispatcher, 2 commander, 3 emergency) is strictly higher than the holder's: the holder is
  revoked and the requester granted. Otherwise it is denied, or queued when the room's mode is
  "queue"; the queue is ordered by priority, then arrival, and its head is granted when the
  floor frees.
- A holder or a queued participant asking again at a higher priority takes that priority (the
  holder is protected by it, a queued one moves up): `floor.escalated`, e.g. an emergency PTT
  pressed while talking or waiting.
- A release ends the talk. A release with **hang** (squelch closed, VOX quiet) takes effect only
  `hang_ms` later, so a radio user who pauses for breath keeps the floor; asking again within the
  hang time cancels it. A holder who talks longer than `talk_timeout_s` is cut off.

Sans-I/O: nothing here reads a clock or sleeps. Every call takes `now` (monotonic seconds) and
`tick(now)` applies what has fallen due; state changes are reported through `publish` (events
for the bus and the recorder) and `on_holder_changed` (so the room can set `has_floor`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from mediacore.clock import iso8601, utc_now
from mediacore.participant import PRIORITIES

FloorMode = Literal["deny", "queue"]
FLOOR_MODES: tuple[FloorMode, ...] = ("deny", "queue")
# Where requests come from; carried in events and JSON, not validated (a new leg kind may add one).
KNOWN_SOURCES = ("api", "dtmf", "squelch", "vox", "websocket")
# A hang release names what ended the talk: the squelch closing, VOX going quiet, or a PTT up.
_HANG_RELEASE_REASONS = {"squelch": "squelch", "vox": "vox"}

Publish = Callable[..., None]
HolderChanged = Callable[[str | None, str | None], None]


@dataclass(frozen=True, slots=True)
class FloorSettings:
    mode: FloorMode = "deny"
    # A release with hang=True (squelch closed, VOX quiet) takes effect this much later.
    hang_ms: int = 500
    talk_timeout_s: float = 60.0  # a holder is cut off after this long; 0 = never
    max_queue: int = 32

    def __post_init__(self) -> None:
        if self.mode not in FLOOR_MODES:
            raise ValueError(f"floor mode must be 'deny' or 'queue', not {self.mode!r}")
        if self.hang_ms < 0:
            raise ValueError(f"hang_ms must be >= 0, not {self.hang_ms}")
        if not self.talk_timeout_s >= 0:  # also rejects NaN
            raise ValueError(f"talk_timeout_s must be >= 0 (0: never), not {self.talk_timeout_s}")
        if self.max_queue < 0:
            raise ValueError(f"max_queue must be >= 0, not {self.max_queue}")


@dataclass(frozen=True, slots=True)
class FloorResult:
    result: str  # "granted" | "denied" | "queued" | "released" | "not-holder"
    holder: str | None  # the holder after the call
    position: int | None = None  # 1-based queue position when queued
    reason: str | None = None  # for denied: "busy" | "queue-full"

    def to_json(self) -> dict[str, Any]:
        """The API's answer: result and holder, and the position or reason when there is one."""
        answer: dict[str, Any] = {"result": self.result, "holder": self.holder}
        if self.position is not None:
            answer["position"] = self.position
        if self.reason is not None:
            answer["reason"] = self.reason
        return answer


@dataclass(frozen=True, slots=True)
class _Grant:
    participant: str
    priority: int
    source: str
    granted_at: float  # monotonic, for held_ms and the talk time-out
    since: datetime  # wall time, for people


@dataclass(frozen=True, slots=True)
class _Waiting:
    participant: str
    priority: int
    source: str
    arrival: int  # a counter, not a time: two requests at the same instant keep their order
    since: datetime = field(default_factory=utc_now)

    @property
    def rank(self) -> tuple[int, int]:
        return (-self.priority, self.arrival)


def _held_ms(grant: _Grant, now: float) -> int:
    # A clock that went backwards must not produce a negative talk time.
    return max(0, round((now - grant.granted_at) * 1000))


def _check_participant(participant: str) -> None:
    if not participant:
        raise ValueError("participant id must be a non-empty string")


class Floor:
    """One room's floor. Calls never raise on valid input; see the module docstring."""

    def __init__(
        self,
        settings: FloorSettings,
        publish: Publish,
        on_holder_changed: HolderChanged | None = None,
    ) -> None:
        self.settings = settings
        self._publish = publish
        self._on_holder_changed = on_holder_changed
        self._grant: _Grant | None = None
        self._queue: list[_Waiting] = []  # kept sorted by _Waiting.rank
        self._arrivals = 0
        self._release_at = math.inf  # a pending hang release of the holder; inf: none
        self._release_source = ""
        # State changes first, then the events that explain them, then the holder callback:
        # a publisher that raises or re-enters never sees a half-done transition.
        self._events: list[tuple[str, dict[str, Any]]] = []

    # -- what the room reads ----------------------------------------------------------------

    @property
    def holder(self) -> str | None:
        return self._grant.participant if self._grant is not None else None

    @property
    def holder_priority(self) -> int | None:
        return self._grant.priority if self._grant is not None else None

    @property
    def holder_source(self) -> str | None:
        return self._grant.source if self._grant is not None else None

    def to_json(self) -> dict[str, Any]:
        """The `GET /rooms/{room}/floor` answer: holder, since, priority, source, mode, queue."""
        grant = self._grant
        return {
            "holder": grant.participant if grant else None,
            "since": iso8601(grant.since) if grant else None,
            "priority": grant.priority if grant else None,
            "source": grant.source if grant else None,
            "mode": self.settings.mode,
            "queue": [
                {
                    "participant": w.participant,
                    "priority": w.priority,
                    "source": w.source,
                    "since": iso8601(w.since),
                }
                for w in self._queue
            ],
        }

    # -- what participants do ---------------------------------------------------------------

    def request(self, participant: str, priority: int, source: str, now: float) -> FloorResult:
        """A PTT press (or squelch open, VOX active). Returns granted, denied or queued.

        Raises ValueError for an empty participant id or a priority outside 0-3."""
        _check_participant(participant)
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be 0-3, not {priority!r}")
        before = self.holder
        result = self._request(participant, priority, source, now)
        self._finish(before)
        return result

    def release(self, participant: str, source: str, now: float, hang: bool = False) -> FloorResult:
        """A PTT release. With `hang` the holder keeps the floor `hang_ms` longer (see `tick`).

        Returns released (the holder, or a queued participant leaving the queue) or not-holder.
        With a pending hang the result is released while `holder` is still the participant."""
        _check_participant(participant)
        before = self.holder
        result = self._release(participant, source, now, hang)
        self._finish(before)
        return result

    def revoke(self, participant: str, reason: str, now: float, by: str | None = None) -> bool:
        """Take the floor (or a queued request) away, e.g. reason "admin", "lost", "muted".

        Returns True when the participant held the floor or was queued."""
        _check_participant(participant)
        before = self.holder
        if self._grant is not None and self._grant.participant == participant:
            grant = self._grant
            self._emit(
                "floor.revoked",
                participant=participant,
                reason=reason,
                by=by,
                held_ms=_held_ms(grant, now),
            )
            self._free_and_grant_next(now)
            changed = True
        else:
            changed = self._dequeue(participant, reason, by=by)
        self._finish(before)
        return changed

    def remove(self, participant: str, now: float) -> None:
        """The participant left the room: its floor or its place in the queue goes with it."""
        _check_participant(participant)
        before = self.holder
        if self._grant is not None and self._grant.participant == participant:
            self._emit(
                "floor.released",
                participant=participant,
                reason="left",
                held_ms=_held_ms(self._grant, now),
            )
            self._free_and_grant_next(now)
        else:
            self._dequeue(participant, "left")
        self._finish(before)

    # -- what the room's clock does ---------------------------------------------------------

    def tick(self, now: float) -> None:
        """Apply a due hang release, then the talk time-out. O(1) when nothing is due."""
        grant = self._grant
        if grant is None:
            return
        before = grant.participant
        if now >= self._release_at:
            self._emit(
                "floor.released",
                participant=grant.participant,
                source=self._release_source,
                reason=_HANG_RELEASE_REASONS.get(self._release_source, "ptt-up"),
                held_ms=_held_ms(grant, now),
            )
            self._free_and_grant_next(now)
        grant = self._grant
        timeout = self.settings.talk_timeout_s
        if grant is not None and timeout > 0 and now - grant.granted_at >= timeout:
            self._emit(
                "floor.timeout",
                participant=grant.participant,
                held_ms=_held_ms(grant, now),
                source=grant.source,
            )
            self._free_and_grant_next(now)
        self._finish(before)

    def reconfigure(self, settings: FloorSettings) -> None:
        """Apply new settings. The time-out applies to the current holder from its grant; a
        pending hang release keeps its deadline. Switching to "deny" empties the queue (reason
        "mode-changed") and a smaller `max_queue` drops the lowest-ranked (reason "queue-full"),
        each with a `floor.dequeued` event, so the queue never contradicts the settings."""
        self.settings = settings
        keep = 0 if settings.mode == "deny" else settings.max_queue
        reason = "mode-changed" if settings.mode == "deny" else "queue-full"
        dropped, self._queue = self._queue[keep:], self._queue[:keep]
        for waiting in dropped:
            self._emit("floor.dequeued", participant=waiting.participant, reason=reason)
        self._finish(self.holder)

    # -- transitions ------------------------------------------------------------------------

    def _request(self, participant: str, priority: int, source: str, now: float) -> FloorResult:
        grant = self._grant
        if grant is None:
            self._grant_to(participant, priority, source, now)
            return FloorResult("granted", participant)
        if grant.participant == participant:
            # Squelch reopening within the hang time: the talk goes on, nothing to announce.
            # A higher priority pressed by the holder protects it from pre-emption from now on.
            self._release_at = math.inf
            if priority > grant.priority:
                self._grant = replace(grant, priority=priority)
                self._escalated(participant, priority, source, grant.priority)
            return FloorResult("granted", participant)
        if priority > grant.priority:
            self._remove_waiting(participant)  # a pre-empting queued request is served, not kept
            self._emit(
                "floor.revoked",
                participant=grant.participant,
                by=participant,
                reason="preempted",
                held_ms=_held_ms(grant, now),
            )
            self._grant_to(participant, priority, source, now, previous=grant.participant)
            return FloorResult("granted", participant)
        return self._wait_or_deny(participant, priority, source, grant.participant)

    def _wait_or_deny(
        self, participant: str, priority: int, source: str, holder: str
    ) -> FloorResult:
        waiting = self._find_waiting(participant)
        if waiting is not None:
            if priority > waiting.priority:
                self._queue.remove(waiting)
                previous = waiting.priority
                waiting = replace(waiting, priority=priority)
                bisect.insort(self._queue, waiting, key=lambda w: w.rank)
                self._escalated(participant, priority, source, previous)
            return FloorResult("queued", holder, position=self._queue.index(waiting) + 1)
        if self.settings.mode == "queue" and len(self._queue) < self.settings.max_queue:
            self._arrivals += 1
            waiting = _Waiting(participant, priority, source, self._arrivals)
            bisect.insort(self._queue, waiting, key=lambda w: w.rank)
            position = self._queue.index(waiting) + 1
            self._emit(
                "floor.queued",
                participant=participant,
                priority=priority,
                source=source,
                position=position,
            )
            return FloorResult("queued", holder, position=position)
        reason = "queue-full" if self.settings.mode == "queue" else "busy"
        self._emit(
            "floor.denied",
            participant=participant,
            priority=priority,
            source=source,
            holder=holder,
            reason=reason,
        )
        return FloorResult("denied", holder, reason=reason)

    def _release(self, participant: str, source: str, now: float, hang: bool) -> FloorResult:
        grant = self._grant
        if grant is not None and grant.participant == participant:
            hang_s = self.settings.hang_ms / 1000
            if hang and hang_s > 0:
                if self._release_at == math.inf:  # a second squelch close does not extend it
                    self._release_at = now + hang_s
                    self._release_source = source
                return FloorResult("released", participant)
            reason = _HANG_RELEASE_REASONS.get(source, "ptt-up") if hang else "ptt-up"
            self._emit(
                "floor.released",
                participant=participant,
                source=source,
                reason=reason,
                held_ms=_held_ms(grant, now),
            )
            self._free_and_grant_next(now)
            return FloorResult("released", self.holder)
        if self._dequeue(participant, "cancelled"):
            return FloorResult("released", self.holder)
        return FloorResult("not-holder", self.holder)

    def _grant_to(
        self,
        participant: str,
        priority: int,
        source: str,
        now: float,
        *,
        previous: str | None = None,
        from_queue: bool = False,
    ) -> None:
        self._grant = _Grant(participant, priority, source, now, utc_now())
        self._release_at = math.inf
        data: dict[str, Any] = {"participant": participant, "priority": priority, "source": source}
        if previous is not None:
            data["previous"] = previous
        if from_queue:
            data["from_queue"] = True
        self._emit("floor.granted", **data)

    def _free_and_grant_next(self, now: float) -> None:
        self._grant = None
        self._release_at = math.inf
        if self._queue:
            head = self._queue.pop(0)
            self._grant_to(head.participant, head.priority, head.source, now, from_queue=True)

    def _escalated(self, participant: str, priority: int, source: str, previous: int) -> None:
        self._emit(
            "floor.escalated",
            participant=participant,
            priority=priority,
            source=source,
            previous_priority=previous,
        )

    def _dequeue(self, participant: str, reason: str, by: str | None = None) -> bool:
        if not self._remove_waiting(participant):
            return False
        data: dict[str, Any] = {"participant": participant, "reason": reason}
        if by is not None:
            data["by"] = by
        self._emit("floor.dequeued", **data)
        return True

    def _find_waiting(self, participant: str) -> _Waiting | None:
        # A linear scan: the queue is short (max_queue, 32 by default) and rarely non-empty.
        return next((w for w in self._queue if w.participant == participant), None)

    def _remove_waiting(self, participant: str) -> bool:
        waiting = self._find_waiting(participant)
        if waiting is None:
            return False
        self._queue.remove(waiting)
        return True

    # -- reporting --------------------------------------------------------------------------

    def _emit(self, event_type: str, **data: Any) -> None:
        self._events.append((event_type, data))

    def _finish(self, before: str | None) -> None:
        """Publish what happened, then report the holder change once (if there was one)."""
        events, self._events = self._events, []
        after = self.holder
        for event_type, data in events:
            self._publish(event_type, **data)
        if after != before and self._on_holder_changed is not None:
            self._on_holder_changed(before, after)
