"""A child process that dies with its parent, however the parent dies (Linux prctl(2))."""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux for SIGTERM when the parent dies. Call it first thing in the child (a
    worker's start; never a `preexec_fn`, which deadlocks in a threaded parent): a server or
    worker must never outlive its parent holding ports. Elsewhere than Linux it does nothing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
