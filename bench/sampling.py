"""Sampling a server process in the background while a benchmark phase runs."""

from __future__ import annotations

import threading
from typing import Any, Self


class PeriodicSampler:
    """Calls `sample()` every `interval` seconds in a thread while the `with` block runs;
    subclasses measure there and append to `samples`."""

    interval = 0.5

    def __init__(self) -> None:
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def begin(self) -> None:
        """Take the starting readings (in the sampling thread, before the first interval)."""

    def sample(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        self.begin()
        while not self._stop.wait(self.interval):
            self.sample()
