"""Roll calls (点名) as data: at most one per room, each naming the participant asked to speak,
until it is ended, replaced by the next roll call of the room, or runs out of time.

Pure, aioquic-style: `start(..., now)` and `end(...)` change the book and say which roll call
ended and why; `timer()` is the earliest deadline and `handle_timer(now)` ends those past it.
The server's adapter (mediacore.server.rollcalls) publishes the events, asks the participant
to speak and arms one asyncio timer at `timer()`."""

from __future__ import annotations

from dataclasses import dataclass

# Why a roll call ended.
ENDED = "ended"  # DELETE
REPLACED = "replaced"  # the next roll call of the room
TIMEOUT = "timeout"
LEFT = "left"  # the participant left the room (or moved out)
ROOM_CLOSED = "room-closed"


@dataclass(frozen=True, slots=True)
class RollCall:
    room: str
    participant: str
    name: str
    by: str
    started: float  # on the book's clock
    timeout_s: float

    @property
    def deadline(self) -> float:
        return self.started + self.timeout_s


@dataclass(frozen=True, slots=True)
class Ended:
    roll_call: RollCall
    reason: str


class RollCalls:
    def __init__(self) -> None:
        self._calls: dict[str, RollCall] = {}

    def get(self, room: str) -> RollCall | None:
        return self._calls.get(room)

    def focus(self, room: str) -> str | None:
        """The participant the room's picture focuses on now, if a roll call runs."""
        call = self._calls.get(room)
        return call.participant if call is not None else None

    def start(
        self,
        room: str,
        participant: str,
        name: str,
        by: str,
        timeout_s: float,
        now: float,
    ) -> tuple[RollCall, Ended | None]:
        """A new roll call of `room`; the one it replaces, if any, ended. Raises ValueError
        for a timeout that is not positive."""
        if not timeout_s > 0:
            raise ValueError("a roll call's timeout must be positive")
        before = self._calls.get(room)
        call = RollCall(room, participant, name, by, now, timeout_s)
        self._calls[room] = call
        return call, None if before is None else Ended(before, REPLACED)

    def end(self, room: str, reason: str = ENDED) -> Ended | None:
        """End the room's roll call; None when there is none."""
        call = self._calls.pop(room, None)
        return None if call is None else Ended(call, reason)

    def left(self, room: str, participant: str) -> Ended | None:
        """`participant` left `room`: its roll call ends (reason "left")."""
        if self.focus(room) != participant:
            return None
        return self.end(room, LEFT)

    def timer(self) -> float | None:
        """The earliest deadline, None with no roll call."""
        return min((call.deadline for call in self._calls.values()), default=None)

    def handle_timer(self, now: float) -> list[Ended]:
        """End every roll call whose time is up."""
        due = [room for room, call in self._calls.items() if call.deadline <= now]
        return [Ended(self._calls.pop(room), TIMEOUT) for room in due]
