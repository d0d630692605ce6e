"""Sampling a server process in the background while a benchmark phase runs."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Self

from bench.serverproc import cpu_seconds, rss_bytes


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


def process_io(pid: int) -> dict[str, int] | None:
    """`/proc/<pid>/io` as numbers (write_bytes: bytes sent to storage), None if unreadable."""
    try:
        text = Path(f"/proc/{pid}/io").read_text()
    except OSError:
        return None
    found = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        found[name.strip()] = int(value)
    return found


class ProcessSampler(PeriodicSampler):
    """A process tree's CPU (cores) and RSS (a server: its control process and media workers),
    and the process's own storage writes, every half second, tagged by the benchmark's
    current `phase`."""

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid
        self.phase = "setup"

    def begin(self) -> None:
        self._began = self._last = time.monotonic()
        self._cpu = cpu_seconds(self.pid)
        self._written = (process_io(self.pid) or {}).get("write_bytes")

    def sample(self) -> None:
        now, used = time.monotonic(), cpu_seconds(self.pid)
        io = process_io(self.pid) or {}
        elapsed = max(1e-6, now - self._last)
        sample: dict[str, Any] = {
            "t": round(now - self._began, 2),
            "phase": self.phase,
            "cores": round((used - self._cpu) / elapsed, 3),
            "rss_mb": round(rss_bytes(self.pid) / 2**20, 1),
        }
        if self._written is not None and "write_bytes" in io:
            sample["write_mb_s"] = round((io["write_bytes"] - self._written) / elapsed / 1e6, 3)
        self._written = io.get("write_bytes")
        self.samples.append(sample)
        self._last, self._cpu = now, used

    def cores(self, phase: str) -> float | None:
        values = [s["cores"] for s in self.samples if s["phase"] == phase]
        return round(sum(values) / len(values), 3) if values else None
