"""The disk space exports may never take while a recording runs.

Recordings and exports share the data directory's disk. An export is a copy that can be made
again; a recording is evidence that cannot. So while any recording is being written, an export
must leave `reserve_bytes` free: it is refused at the start when its estimated size would eat
into the reserve, and stopped (its partial file removed) if the disk falls to the reserve while
it writes. Without a live recording exports may use the disk as they like."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from recorder.export import ExportError

CHECK_EVERY = 0.5  # seconds between free-space checks while an export writes


class DiskReserveError(ExportError):
    """An export would eat into the space kept for the recordings running now."""


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


class DiskReserve:
    def __init__(
        self,
        reserve_bytes: int,
        recording: Callable[[], bool],
        free: Callable[[Path], int] = free_bytes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`recording()` says whether a recording is being written now."""
        self.reserve_bytes = reserve_bytes
        self.recording = recording
        self.free = free
        self.clock = clock

    def admit(self, folder: Path, estimate: int) -> None:
        """Before an export of about `estimate` bytes into `folder`. Raises DiskReserveError."""
        if self.reserve_bytes and self.recording():
            free = self.free(folder)
            if free - estimate < self.reserve_bytes:
                raise DiskReserveError(_why(free, estimate, self.reserve_bytes))

    def watch(self, folder: Path) -> Callable[[], None]:
        """A check for the export's writer to call as it goes (cheap: it looks at the disk at
        most every CHECK_EVERY s). Raises DiskReserveError."""
        last = -float("inf")

        def check() -> None:
            nonlocal last
            now = self.clock()
            if now - last < CHECK_EVERY:
                return
            last = now
            if self.reserve_bytes and self.recording():
                free = self.free(folder)
                if free < self.reserve_bytes:
                    raise DiskReserveError(_why(free, 0, self.reserve_bytes))

        return check


def _why(free: int, estimate: int, reserve: int) -> str:
    mb = 1_000_000
    needs = f" and this export needs about {estimate // mb} MB" if estimate else ""
    return (
        f"a recording is running: {reserve // mb} MB of disk stay free for it; "
        f"{free // mb} MB are free{needs}"
    )
