"""Throttling of repeated authentication failures from one address (password guessing).

After `limit` failures within `window` seconds an address is blocked for `block` seconds: its
requests are dropped unanswered, so a scanner learns nothing and costs us little."""

from __future__ import annotations

from collections import deque

MAX_TRACKED = 10000  # addresses remembered at once; the oldest are forgotten first


class AuthThrottle:
    def __init__(self, limit: int, window: float = 60.0, block: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self.block = block
        self._failures: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}

    def blocked(self, address: str, now: float) -> bool:
        until = self._blocked_until.get(address)
        if until is None:
            return False
        if now >= until:
            del self._blocked_until[address]
            return False
        return True

    def failed(self, address: str, now: float) -> bool:
        """Count a failure; True when this one makes the address blocked (report it once)."""
        failures = self._failures.get(address)
        if failures is None:
            if len(self._failures) >= MAX_TRACKED:
                del self._failures[next(iter(self._failures))]
            failures = self._failures[address] = deque()
        failures.append(now)
        while failures and now - failures[0] > self.window:
            failures.popleft()
        if len(failures) >= self.limit:
            del self._failures[address]
            if address not in self._blocked_until and len(self._blocked_until) >= MAX_TRACKED:
                del self._blocked_until[next(iter(self._blocked_until))]  # the earliest to end
            self._blocked_until[address] = now + self.block
            return True
        return False

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
