"""A child process's scheduling priority: media workers ahead of the machine's other work, video
processes behind it (Linux nice values; the threads a process starts later inherit them)."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def renice(increment: int) -> None:
    """Add `increment` to this thread's niceness. Call it first thing in a process, before any
    thread exists. Lowering niceness needs root or CAP_SYS_NICE: without, it stays as it was
    and a warning says so."""
    if increment:
        try:
            os.nice(increment)
        except PermissionError:
            log.warning(
                "cannot lower this process's niceness (needs root or CAP_SYS_NICE)",
                extra={"increment": increment},
            )
