"""The console over HTTPS in real Chromium: loaded from a server on its self-signed certificate,
it signals over WSS (the page picks wss: from https:) and its microphone is heard in the room."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.browser.conftest import TONE_LEVEL, Chromium, Phone, join_room
from tests.e2e.server import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SERVER_TLS = True


async def test_the_console_over_https_signals_over_wss_and_is_heard(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    assert server.url.startswith("https://")
    page = await chromium.page(440.0, accept_certificate=True)
    await join_room(page, server, room, "secure browser")
    assert await page.evaluate("location.protocol") == "https:"
    assert str(await page.evaluate("window.mediacoreConsole.ws.url")).startswith("wss://")
    phone = await Phone().join(server, room)
    start = time.monotonic() + 0.6  # past the jitter buffers' start
    await asyncio.sleep(2.6)
    heard = phone.level(440.0, start, time.monotonic())
    assert heard == pytest.approx(TONE_LEVEL, abs=3.0)
    phone.close()
    await page.context.close()
