"""Reading the server's event WebSocket in tests."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any


async def wait_for_event(
    stream: Any, seen: list[dict[str, Any]], kind: str, timeout: float
) -> dict[str, Any]:
    """The first event of type `kind` in `seen` or arriving on `stream` within `timeout` s.

    Every event read is appended to `seen`, so a test can check the order afterwards."""
    for event in seen:
        if event["type"] == kind:
            return event
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event = json.loads(await asyncio.wait_for(stream.recv(), 0.5))
        except TimeoutError:
            continue
        seen.append(event)
        if event["type"] == kind:
            return event
    raise AssertionError(f"no {kind} event within {timeout} s; saw {[e['type'] for e in seen]}")
