"""Room PIN guessing, bounded across calls: wrong PINs are counted per source address and per
room, each locked out past its limit, and calls still entering a PIN are capped per source
address and in total (each holds media ports and a prompt encoder).

Sans-I/O: `now` comes from the caller. The user agent asks `refusal()` before it answers a
caller without an account, reports each call with `entering()`/`left()`, and each wrong PIN
with `wrong()`, which names the lockouts it began (for their events)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass

from sip.throttle import AuthThrottle


@dataclass(frozen=True, slots=True)
class PinLimits:
    """`[sip] pin_*` settings."""

    failures_per_source: int = 10  # wrong PINs from one address within `window` lock it out
    failures_per_room: int = 30  # wrong PINs for one room within `window` lock its PIN entry
    window: float = 600.0
    lockout: float = 600.0
    calls_per_source: int = 2  # calls entering a PIN at once from one address
    calls: int = 50  # calls entering a PIN at once, in total


@dataclass(frozen=True, slots=True)
class Lockout:
    """A lockout that just began: of a source address or of a room's PIN entry."""

    kind: str  # "source" or "room"
    key: str
    failures: int
    seconds: float


class PinGuard:
    def __init__(self, limits: PinLimits | None = None) -> None:
        self.limits = limits = limits or PinLimits()
        self._sources = AuthThrottle(limits.failures_per_source, limits.window, limits.lockout)
        self._rooms = AuthThrottle(limits.failures_per_room, limits.window, limits.lockout)
        self._entering: dict[Hashable, str] = {}  # call -> its source address
        self._per_source: Counter[str] = Counter()

    def refusal(self, source: str | None, room: str, now: float) -> tuple[int, str] | None:
        """The (status, reason) a caller from `source` without an account gets instead of
        the PIN prompt of `room`, or None to let it try. `source` is None for a trusted trunk,
        whose one address carries many callers: only the room's lockout and the total apply."""
        if self.locked(source, room, now):
            return 403, "PIN Entry Locked"
        if source is not None and self._per_source[source] >= self.limits.calls_per_source:
            return 486, "Too Many PIN Calls From Here"
        if len(self._entering) >= self.limits.calls:
            return 503, "Too Many PIN Calls"
        return None

    def entering(self, call: Hashable, source: str | None) -> None:
        """`call` from `source` was answered and waits for its PIN."""
        if call not in self._entering:
            self._entering[call] = source or ""
            if source is not None:
                self._per_source[source] += 1

    def left(self, call: Hashable) -> None:
        """`call` is done with PIN entry (let in, refused or gone); harmless twice."""
        source = self._entering.pop(call, None)
        if source:
            self._per_source[source] -= 1
            if self._per_source[source] <= 0:
                del self._per_source[source]

    def wrong(self, source: str | None, room: str, now: float) -> list[Lockout]:
        """Count a wrong PIN; the lockouts it began (each reported once)."""
        limits = self.limits
        begun = []
        if source is not None and self._sources.failed(source, now):
            begun.append(Lockout("source", source, limits.failures_per_source, limits.lockout))
        if self._rooms.failed(room, now):
            begun.append(Lockout("room", room, limits.failures_per_room, limits.lockout))
        return begun

    def locked(self, source: str | None, room: str, now: float) -> bool:
        """Whether either lockout holds now (a call in progress is hung up)."""
        source_locked = source is not None and self._sources.blocked(source, now)
        return source_locked or self._rooms.blocked(room, now)

    @property
    def calls_entering(self) -> int:
        return len(self._entering)
