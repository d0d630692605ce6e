"""A node's load: the CPU share its own process tree (control, media workers, video
processes) used since the last reading, from the kernel's per-process run time.

`/proc/<pid>/schedstat` holds the nanoseconds a process (all its threads) has run; children are
listed in `/proc/<pid>/task/<tid>/children`. A reading walks the tree once: a few small files
per process, every heartbeat. Where /proc is missing the load reads 0."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

PROC = Path("/proc")


def _run_ns(pid: int) -> int:
    return int((PROC / str(pid) / "schedstat").read_text().split()[0])


def _kids(pid: int) -> list[int]:
    kids: list[int] = []
    for task in (PROC / str(pid) / "task").iterdir():
        try:
            kids.extend(int(kid) for kid in (task / "children").read_text().split())
        except OSError:  # a thread that ended meanwhile
            continue
    return kids


def tree_run_seconds(root: int) -> float:
    """The run time of `root` and every live process below it, in seconds."""
    total, pending, seen = 0, [root], {root}
    while pending:
        pid = pending.pop()
        try:
            total += _run_ns(pid)
            kids = _kids(pid)
        except (OSError, ValueError, IndexError):  # it exited while we looked
            continue
        for kid in kids:
            if kid not in seen:
                seen.add(kid)
                pending.append(kid)
    return total / 1e9


class LoadMeter:
    """Each `read()` is the tree's CPU share (0..1 of all cores) since the previous one."""

    def __init__(
        self,
        pid: int | None = None,
        cores: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        run_seconds: Callable[[int], float] = tree_run_seconds,
    ) -> None:
        self.pid = os.getpid() if pid is None else pid
        self.cores = max(1, cores or os.cpu_count() or 1)
        self.clock = clock
        self.run_seconds = run_seconds
        self._last = (clock(), self._sample())

    def _sample(self) -> float:
        try:
            return self.run_seconds(self.pid)
        except (OSError, ValueError, IndexError):
            return 0.0

    def read(self) -> float:
        now, used = self.clock(), self._sample()
        then, before = self._last
        self._last = (now, used)
        if now <= then:
            return 0.0
        return min(1.0, max(0.0, (used - before) / (now - then) / self.cores))
