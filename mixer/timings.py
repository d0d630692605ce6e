"""A sliding window of durations for status pages: the last N values and their percentiles."""

from __future__ import annotations

import collections


class TimingWindow:
    """Keeps the last `size` durations (seconds); thread-safe enough for one writer and
    readers that take a copy (a deque append is atomic)."""

    def __init__(self, size: int = 500) -> None:
        self._values: collections.deque[float] = collections.deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self._values.append(seconds)

    def percentile_ms(self, q: float) -> float | None:
        """The `q` quantile (0..1) in milliseconds, one decimal; None while empty."""
        values = sorted(self._values)
        if not values:
            return None
        return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 1)
