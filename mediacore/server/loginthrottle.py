"""Failed logins, counted per client address and per user name, and the lockouts they earn.

Pure: the caller passes the time. `limit` failures of one key within `window` seconds lock it
for `window` seconds; each lockout after that (before the key has been quiet for a day)
doubles, up to `MAX_LOCK`. A success clears the user's count, never the address's (one
account known to an attacker must not reset the count of its guesses at others)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_LOCK = 3600.0  # seconds: the longest lockout
FORGET_AFTER = 86400.0  # a key quiet this long starts again from the first lockout's length
MAX_KEYS = 100_000  # keys remembered at most; the stalest go first (memory stays bounded)


@dataclass(slots=True)
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    lockouts: int = 0  # so far, for the doubling
    last: float = 0.0


class LoginThrottle:
    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a login throttle needs a limit of at least 1 and a positive window")
        self.limit = limit
        self.window = window
        self._records: dict[str, _Record] = {}

    def retry_after(self, keys: tuple[str, ...], now: float) -> float:
        """Seconds until every key in `keys` may try again (0: they may now)."""
        waits = [self._records[key].locked_until - now for key in keys if key in self._records]
        return max([0.0, *waits])

    def failed(self, keys: tuple[str, ...], now: float) -> float:
        """Count a failure against each key; returns the lockout it started (seconds, the
        longest of them) or 0 when none started."""
        longest = 0.0
        for key in keys:
            record = self._record(key, now)
            record.failures.append(now)
            while record.failures and record.failures[0] <= now - self.window:
                record.failures.popleft()
            if len(record.failures) >= self.limit:
                lock = min(self.window * 2**record.lockouts, MAX_LOCK)
                record.locked_until = now + lock
                record.lockouts += 1
                record.failures.clear()
                longest = max(longest, lock)
        return longest

    def succeeded(self, key: str) -> None:
        """Forget `key`'s failures (the user's, after a correct password)."""
        self._records.pop(key, None)

    def _record(self, key: str, now: float) -> _Record:
        record = self._records.pop(key, None)  # re-inserted last: the dict is oldest-first
        if record is None or now - record.last > FORGET_AFTER:
            record = _Record()
        record.last = now
        self._records[key] = record
        while len(self._records) > MAX_KEYS:
            del self._records[next(iter(self._records))]
        return record
