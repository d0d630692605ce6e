"""Emergency alarms on the console in real Chromium: an emergency floor request in a room the
console is not in shows a red banner and sounds the alarm until Acknowledge is clicked; the
emergency button of a console not in the room raises an alarm for the room it shows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import Chromium, Phone, open_console, poll
from tests.e2e.server import ServerProcess

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

BANNER = "#alarms .alarm"
SOUNDING = 0.05  # peak of the alarm sound while it plays (its tones are at 0.2)


def alarm(server: ServerProcess, alarm_id: str) -> dict[str, Any]:
    response = server.client.get(f"/api/v1/alarms/{alarm_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def sounding(page: Page) -> bool:
    return float(await page.evaluate("window.mediacoreAlarms.peak()")) > SOUNDING


async def test_an_emergency_elsewhere_sounds_until_the_console_acknowledges_it(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    page = await chromium.page()
    await open_console(page, server)  # logged in, in no room
    await page.wait_for_function("window.mediacoreAlarms && window.mediacoreAlarms.connected")
    phone = await Phone().join(server, room, name="Unit 9")
    try:
        body = {"participant": phone.participant, "action": "request", "priority": 3}
        assert server.client.post(f"/api/v1/rooms/{room}/floor", json=body).status_code == 200
        banner = page.locator(BANNER)
        await banner.wait_for()
        text = await banner.text_content()
        assert "Unit 9" in text and room in text and "紧急告警" in text
        alarm_id = await banner.get_attribute("data-id")
        # the alarm sound plays: its level is measured where it leaves for the speakers
        await poll(lambda: sounding(page), 5.0, "the alarm sound", every=0.02)
        await page.click(f"{BANNER} button.ack")
        await banner.wait_for(state="detached")
        acked = alarm(server, alarm_id)
        assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == "admin"
        beeps = await page.evaluate("window.mediacoreAlarms.beeps")
        await page.wait_for_timeout(1500)
        assert await page.evaluate("window.mediacoreAlarms.beeps") == beeps  # no more beeps
        assert not await sounding(page)
    finally:
        phone.close()
        await page.context.close()


async def test_the_emergency_button_raises_an_alarm_for_the_room_shown(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    page = await chromium.page()
    await open_console(page, server)
    await page.locator("#rooms li", has_text=f"{room} (").click()
    await page.wait_for_function("!document.querySelector('#emergency').disabled")
    await page.click("#emergency")  # not in the room: an alarm about the room itself
    banner = page.locator(BANNER)
    await banner.wait_for()
    found = alarm(server, await banner.get_attribute("data-id"))
    assert found["room"] == room and found["source"] == "manual" and found["raised_by"] == "admin"
    await page.click(f"{BANNER} button.ack")
    await banner.wait_for(state="detached")
    await page.context.close()
