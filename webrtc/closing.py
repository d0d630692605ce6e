"""Who wants to know that a peer has closed: called once, with the reason, whoever closed it."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class CloseCallbacks:
    def __init__(self) -> None:
        self._callbacks: list[Callable[[str], None]] = []

    def add(self, callback: Callable[[str], None]) -> None:
        self._callbacks.append(callback)

    def fire(self, reason: str) -> None:
        """Call each callback once; one that fails does not keep the others from their call."""
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(reason)
            except Exception:
                log.exception("a close callback failed")
