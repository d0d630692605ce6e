"""Time sources: a monotonic clock for media, UTC wall time for people and recordings.

Media code takes `now` as an argument instead of reading a clock, so tests drive it with
`FakeClock`. The asyncio adapters read a `Clock` their owner gives them (the assembly's
`MONOTONIC`, or a test's `FakeClock`); none calls `time.monotonic()` itself."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale; only differences mean anything."""
        ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()


# The one real clock; owners that are given none use it.
MONOTONIC = MonotonicClock()


class FakeClock:
    """A clock that moves only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        self._now += seconds
        return self._now


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso8601(moment: datetime) -> str:
    """UTC time with millisecond precision, e.g. 2026-11-24T10:00:00.123Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
