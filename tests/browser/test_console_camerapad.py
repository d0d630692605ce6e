"""The console's camera pad (云台) in real Chromium: holding an arrow moves the GB/T 28181
camera until the button is released, zoom likewise, and the preset buttons set and call a
preset; the simulated device receives exactly those PTZCmds, in that order. The dispatch
console carries the same pad."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from tests.browser.conftest import Chromium, open_console, poll
from tests.e2e.server import TOKEN, ServerProcess
from tests.ingest.test_gb28181_e2e import DOMAIN, PASSWORD, SERVER_ID
from tools.gbdevice import DeviceConfig, GbDeviceSimulator

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

DEVICE = "34020000001320000041"
SERVER_CONFIG = f"""
[gb28181]
domain = "{DOMAIN}"
server_id = "{SERVER_ID}"
password = "{PASSWORD}"
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def camera(server: ServerProcess) -> AsyncIterator[GbDeviceSimulator]:
    config = DeviceConfig(
        server=("127.0.0.1", server.sip_port),
        device_id=DEVICE,
        password=PASSWORD,
        local_host="127.0.0.1",
        keepalive=5.0,
    )
    device = GbDeviceSimulator(config)
    await device.start()
    try:
        yield device
    finally:
        await device.stop()


async def choose_channel(page: Page, channel: str) -> None:
    """Once the pad lists the device's channel, choose it."""
    await page.wait_for_function(
        "(value) => [...document.querySelectorAll('#ptzcamera option')]"
        ".some((o) => o.value === value)",
        arg=f"{DEVICE}/{channel}",
    )
    await page.select_option("#ptzcamera", f"{DEVICE}/{channel}")


async def hold(page: Page, camera: GbDeviceSimulator, action: str) -> None:
    """Press the pad's `action` button, check it moves and nothing more is sent while held,
    release it and see the stop arrive."""
    before = len(camera.ptz.received)
    await page.hover(f"#camerapad button[data-action='{action}']")
    await page.mouse.down()
    await poll(lambda: len(camera.ptz.received) == before + 1, 5.0, f"{action} received")
    await asyncio.sleep(0.2)  # still held
    assert len(camera.ptz.received) == before + 1
    await page.mouse.up()
    await poll(lambda: len(camera.ptz.received) == before + 2, 5.0, f"stop after {action}")


async def test_the_pad_steers_the_camera_while_pressed_and_calls_presets(
    chromium: Chromium, server: ServerProcess, camera: GbDeviceSimulator
) -> None:
    channel = camera.channels[0]
    page = await chromium.page()
    await open_console(page, server)
    await choose_channel(page, channel)

    await hold(page, camera, "left")
    await hold(page, camera, "zoom_in")
    await page.fill("#ptzpreset", "5")
    await page.click("#ptzset")
    await poll(lambda: len(camera.ptz.commands(channel)) == 5, 5.0, "preset set")
    await page.click("#ptzcall")
    await poll(lambda: len(camera.ptz.commands(channel)) == 6, 5.0, "preset called")

    assert camera.ptz.commands(channel) == [
        "A50F010280000037",  # left at the pad's default speed 128 (0x80)
        "A50F0100000000B5",  # released: stop
        "A50F011000008045",  # zoom in, zoom speed 8 (128 >> 4)
        "A50F0100000000B5",
        "A50F01810005003B",  # set preset 5
        "A50F01820005003C",  # call preset 5
    ]
    assert camera.ptz.called[channel] == 5
    # the page says what it sent, once the server's answer is back
    await page.wait_for_function(
        "document.querySelector('#ptzstate').textContent.includes('A50F01820005003C')"
    )


async def test_the_dispatch_console_has_the_same_pad(
    chromium: Chromium, server: ServerProcess, camera: GbDeviceSimulator
) -> None:
    channel = camera.channels[0]
    page = await chromium.page()
    await page.goto(f"{server.url}/dispatch/")
    await page.fill("#token", TOKEN)
    await page.click("#login")
    await choose_channel(page, channel)
    before = len(camera.ptz.received)
    await hold(page, camera, "down_right")
    assert camera.ptz.commands()[before:] == ["A50F0105808000BA", "A50F0100000000B5"]
