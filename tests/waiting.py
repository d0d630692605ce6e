"""Waiting in tests until something the server does in the background has happened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def wait_for(check: Callable[[], Any], timeout: float) -> Any:
    """Call `check` every 50 ms, letting the event loop run in between, until it returns
    something truthy, which is returned. Raises: AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


async def wait_for_async(check: Callable[[], Awaitable[Any]], timeout: float) -> Any:
    """Like `wait_for`, for a check that must await (an HTTP request, a channel request)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Like `wait_for`, blocking, for a server in another process or thread. Raises:
    AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")
