"""The console's camera pad (云台) in real Chromium: holding an arrow moves the GB/T 28181
camera until the button is released, zoom likewise, and the preset buttons set and call a
preset; the simulated device receives exactly those PTZCmds, in that order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.browser.conftest import Chromium, open_console, poll
from tests.e2e.server import ServerProcess
from tests.ingest.test_gb28181_e2e import DOMAIN, PASSWORD, SERVER_ID
from tools.gbdevice import DeviceConfig, GbDeviceSimulator

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


async def test_the_pad_steers_the_camera_while_pressed_and_calls_presets(
    chromium: Chromium, server: ServerProcess, camera: GbDeviceSimulator
) -> None:
    channel = camera.channels[0]
    page = await chromium.page()
    await open_console(page, server)
    await page.wait_for_function(
        "(value) => [...document.querySelectorAll('#ptzcamera option')]"
        ".some((o) => o.value === value)",
        arg=f"{DEVICE}/{channel}",
    )
    await page.select_option("#ptzcamera", f"{DEVICE}/{channel}")

    async def hold(action: str) -> None:
        await page.hover(f"#camerapad button[data-action='{action}']")
        await page.mouse.down()
        await poll(lambda: len(camera.ptz.received) % 2 == 1, 5.0, f"{action} received")
        await asyncio.sleep(0.2)  # still held: nothing more is sent
        assert len(camera.ptz.received) % 2 == 1
        await page.mouse.up()
        await poll(lambda: len(camera.ptz.received) % 2 == 0, 5.0, f"stop after {action}")

    await hold("left")
    await hold("zoom_in")
    await page.fill("#ptzpreset", "5")
    await page.click("#ptzset")
    await poll(lambda: len(camera.ptz.received) == 5, 5.0, "preset set")
    await page.click("#ptzcall")
    await poll(lambda: len(camera.ptz.received) == 6, 5.0, "preset called")

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
