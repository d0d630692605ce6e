"""A console, and a dispatch console, in real Chromium whose node is killed: each opens itself on
the surviving node of the cluster and joins its room again there, once the survivor has reopened
the room."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import Chromium, chromium, join_room, poll
from tests.e2e.server import TOKEN, ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

__all__ = ["chromium"]

ROOM = "command"  # the config room: the first node to start owns it


@pytest.fixture
def nodes(redis_url: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two nodes of one cluster, n1 first (it owns the room); both stopped at the end."""
    pytest.importorskip("mediacore.server.clusterfailover")  # a survivor reopens the room
    started: list[ServerProcess] = []
    try:
        for name in ("n1", "n2"):
            config = f'[cluster]\nredis = "{redis_url}"\nnode = "{name}"\nadvertise = "127.0.0.1"\n'
            started.append(ServerProcess(tmp_path / name, config=config, workers=0))
        yield started
    finally:
        for node in started:
            node.stop()


async def test_a_console_moves_to_the_surviving_node_and_joins_its_room_again(
    chromium: Chromium, nodes: list[ServerProcess]
) -> None:
    first, survivor = nodes
    page = await chromium.page(440.0)
    before = await join_room(page, first, ROOM, "desk")
    first.process.kill()  # no goodbye: the page only sees its socket drop
    killed = time.monotonic()
    await page.wait_for_url(f"{survivor.url}/**", timeout=30_000)
    await page.wait_for_function(
        "() => { const s = window.mediacoreConsole;"
        " return s.me && s.pc && s.pc.connectionState === 'connected'; }",
        timeout=30_000,
    )
    rejoined = time.monotonic() - killed
    after = await page.evaluate("window.mediacoreConsole.me")
    print(f"\nconsole back in its room on the survivor {rejoined:.1f} s after the kill")
    roster = await poll(lambda: survivor.roster(ROOM), 5.0, "the console in the survivor's room")
    assert [(p["id"], p["name"], p["kind"]) for p in roster] == [(after, "desk", "webrtc")]
    assert after != before  # a new WebRTC session: browsers join again, they are not moved
    await page.context.close()


async def test_a_dispatch_console_moves_to_the_surviving_node_and_takes_its_seat_again(
    chromium: Chromium, nodes: list[ServerProcess]
) -> None:
    first, survivor = nodes
    page = await chromium.page(440.0)
    await page.goto(f"{first.url}/dispatch/?raw_audio=1")
    await page.fill("#token", TOKEN)
    await page.click("#login")
    await page.wait_for_selector(f"#rooms .card[data-room='{ROOM}']")
    await page.select_option("#home", ROOM)
    await page.fill("#myname", "Dispatcher 1")
    await page.click("#join")
    seated = (
        "() => { const s = window.mediacoreConsole;"
        " return s.me && s.pc && s.pc.connectionState === 'connected'; }"
    )
    await page.wait_for_function(seated, timeout=15_000)
    first.process.kill()
    await page.wait_for_url(f"{survivor.url}/**", timeout=30_000)
    assert "token=" not in page.url  # the token travels in the address, and is taken out of it
    await page.wait_for_function(seated, timeout=30_000)
    roster = await poll(lambda: survivor.roster(ROOM), 5.0, "the seat in the survivor's room")
    assert [(p["name"], p["kind"]) for p in roster] == [("Dispatcher 1", "webrtc")]
    await page.context.close()
