"""A look taken again and again: `look()` runs at start, then every `interval` seconds, and at
once after `poke()` (something it depends on changed). A failed look is logged and the loop goes
on, so one error never ends what the looks keep up (a leg's picture)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


class LookLoop:
    def __init__(self, look: Callable[[], Awaitable[Any]], interval: float, what: str) -> None:
        self.look = look
        self.interval = interval
        self.what = what  # for the log: "a leg's picture"
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def poke(self) -> None:
        """Look again now."""
        self._wake.set()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.look()
            except Exception:  # a failed look must not end what the looks keep up
                log.exception("choosing %s failed", self.what)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
