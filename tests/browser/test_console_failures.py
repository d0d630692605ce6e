"""What the console tells its user when things go wrong, in real Chromium: a denied microphone,
and a server that goes away and comes back (the page rejoins by itself)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import Chromium, join_room, poll
from tests.e2e.server import TOKEN, ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

DENIED = "Microphone access was denied"
ROOM = "fallback"
ROOM_CONFIG = f'[[rooms]]\nname = "{ROOM}"\n'  # both server lives have the room


async def test_a_denied_microphone_is_explained_and_stays_explained(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    page = await chromium.page(grant=False)  # no fake UI: the prompt is denied
    await page.goto(f"{server.url}/console/?room={room}")
    await page.fill("#token", TOKEN)
    await page.click("#login")
    await page.wait_for_selector("#rooms li.current")  # ?room= selected it
    await page.click("#join")
    banner = page.locator("#banner")
    await page.wait_for_function(
        f"document.querySelector('#banner').textContent.includes({DENIED!r})"
    )
    for _ in range(2):  # the roster polls go on; they must not wipe the explanation
        async with page.expect_response(lambda r: r.url.endswith("/participants")):
            pass
    assert DENIED in (await banner.text_content() or "")
    assert await banner.is_visible()
    assert await page.is_enabled("#join") and not await page.is_enabled("#leave")
    assert server.roster(room) == []
    await page.context.close()


@pytest.fixture
def fallback(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """A server of the test's own, which it may kill and start again on the same port
    (the list holds the live one last); all are stopped at the end."""
    for life in ("first", "second"):
        (tmp_path / life).mkdir()
    servers = [ServerProcess(tmp_path / "first", config=ROOM_CONFIG)]
    yield servers
    for server in servers:
        server.stop()


async def test_the_console_says_the_server_is_gone_and_rejoins_when_it_is_back(
    chromium: Chromium, fallback: list[ServerProcess], tmp_path: Path
) -> None:
    first = fallback[0]
    page = await chromium.page(440.0)
    before = await join_room(page, first, ROOM, "survivor")
    first.process.kill()  # no goodbye: the page only sees its socket drop
    killed = time.monotonic()
    await page.wait_for_function(
        "document.querySelector('#banner').textContent.includes('reconnecting')"
    )
    assert "reconnecting" in (await page.text_content("#status") or "")
    assert await page.evaluate("window.mediacoreConsole.me") is None

    second = ServerProcess(tmp_path / "second", config=ROOM_CONFIG, http_port=first.http_port)
    fallback.append(second)
    assert second.url == first.url
    await page.wait_for_function(
        "() => { const s = window.mediacoreConsole;"
        " return s.me && s.pc && s.pc.connectionState === 'connected'; }",
        timeout=30_000,
    )
    rejoined = time.monotonic() - killed
    after = await page.evaluate("window.mediacoreConsole.me")
    roster = await poll(lambda: second.roster(ROOM), 5.0, "the rejoined console in the roster")
    print(f"rejoined {rejoined:.1f} s after the kill, as {after} (was {before})")
    assert [(p["id"], p["name"], p["kind"]) for p in roster] == [(after, "survivor", "webrtc")]
    assert not await page.locator("#banner").is_visible()
    assert "in room" in (await page.text_content("#status") or "")
    await page.locator(f"tr[data-id='{after}']").wait_for()
    await page.context.close()
