"""The console's GB/T 28181 positions panel in real Chromium: a simulated device's catalog
location, its positions and its alarm appear in the offline SVG plot and the alarm list, live
from the event stream (no map tiles)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Chromium, open_console, poll
from tests.e2e.server import ServerProcess
from tools.gbdevice import DeviceConfig, GbDeviceSimulator
from tools.gbdevice_events import DeviceEvents

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

DEVICE = "34020000001320000001"
SERVER_CONFIG = """
[gb28181]
domain = "3402000000"
password = "gb-secret"
keepalive_interval = 1.0
subscribe_alarm = false
"""


async def test_positions_and_alarms_show_in_the_panel(
    chromium: Chromium, server: ServerProcess
) -> None:
    config = DeviceConfig(
        server=("127.0.0.1", server.sip_port),
        device_id=DEVICE,
        password="gb-secret",
        local_host="127.0.0.1",
        keepalive=1.0,
        name="执法记录仪",
    )
    device = GbDeviceSimulator(config)
    events = DeviceEvents.attach(device)
    await device.start()
    page = await chromium.page()
    try:
        await open_console(page, server)
        await page.wait_for_function("window.mediacoreGbMap && window.mediacoreGbMap.connected")
        for _ in range(3):  # it walks: three fixes make a trail
            assert await events.send_message(events.position()) == 200
        trail = f"((window.mediacoreGbMap.points.get('{DEVICE}') || {{}}).trail || []).length"
        await poll(
            lambda: page.evaluate(f"{trail} === 3"), 10.0, "the device's three fixes in the panel"
        )
        point = await page.evaluate(f"window.mediacoreGbMap.points.get('{DEVICE}')")
        assert point["lon"] == pytest.approx(events.longitude)
        assert point["lat"] == pytest.approx(events.latitude)
        assert len(point["trail"]) == 3
        assert await page.locator("#gbmap svg circle").count() >= 1
        assert await page.locator("#gbmap svg polyline.trail").count() == 1
        assert await events.send_message(events.alarm("越界报警")) == 200
        alarm = page.locator("#gbmap li.alarm")
        await alarm.wait_for()
        assert "越界报警" in (await alarm.text_content() or "")
        assert await page.locator("#gbmap svg circle.alarmed").count() >= 1
    finally:
        await page.context.close()
        events.stop()
        await device.stop()
