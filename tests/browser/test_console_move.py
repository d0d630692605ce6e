"""A console in real Chromium moved into another room by a dispatcher (动态重组): the same
peer connection is heard in the new room, the page shows that room, and its push-to-talk
takes the new room's floor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.browser.conftest import Chromium, Phone, join_room, poll
from tests.e2e.server import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)

LEVEL = -20.0  # the fake microphone's tone, as a listener hears it (roughly)


@pytest.fixture
def second_room(server: ServerProcess, room: str) -> Iterator[str]:
    name = f"{room[:50]}-b"
    assert server.client.post("/api/v1/rooms", json={"name": name}).status_code == 201
    yield name
    server.client.delete(f"/api/v1/rooms/{name}")


async def test_a_moved_console_is_heard_shown_and_talks_in_its_new_room(
    chromium: Chromium, server: ServerProcess, room: str, second_room: str
) -> None:
    page = await chromium.page(440.0)
    me = await join_room(page, server, room, "dispatcher", ptt=True)
    old, new = await Phone().join(server, room, "old"), await Phone().join(server, second_room)
    pc_before = await page.evaluate("window.mediacoreConsole.pc.remoteDescription.sdp")
    moved = await asyncio.to_thread(
        server.client.post,
        f"/api/v1/rooms/{room}/participants/{me}/move",
        json={"to": second_room},
    )
    assert moved.status_code == 200, moved.text
    await page.wait_for_function(f"window.mediacoreConsole.room === {second_room!r}")
    await page.locator("#rooms li.current", has_text=f"{second_room} (").wait_for()
    await page.locator(f"tr[data-id='{new.participant}']").wait_for()  # the new roster
    # The same peer connection, never renegotiated, never redialled.
    assert await page.evaluate("window.mediacoreConsole.me") == me
    assert await page.evaluate("window.mediacoreConsole.pc.remoteDescription.sdp") == pc_before

    floor = f"/api/v1/rooms/{second_room}/floor"
    await page.hover("#ptt")
    await page.mouse.down()
    await poll(lambda: server.client.get(floor).json()["holder"] == me, 5.0, "floor in b")
    start = time.monotonic()
    await asyncio.sleep(1.5)
    heard_new, heard_old = (
        new.level(440.0, start, time.monotonic()),
        old.level(440.0, start, time.monotonic()),
    )
    await page.mouse.up()
    await poll(lambda: server.client.get(floor).json()["holder"] is None, 5.0, "release")
    assert heard_new > LEVEL - 15.0, heard_new  # heard in the new room
    assert heard_old < -50.0, heard_old  # and no more in the old one
    assert server.client.get(f"/api/v1/rooms/{room}/floor").json()["holder"] is None
    old.close()
    new.close()
