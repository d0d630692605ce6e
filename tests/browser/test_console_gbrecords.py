"""The console's record search (录像检索) in real Chromium: the camera pad's channel searched
over a time range lists what the simulated device recorded; "Play into this room" adds the
recording as a source of the console's room, and pause and speed reach the device as MANSRTSP."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.conftest import Chromium, open_console, poll
from tests.browser.test_console_camerapad import SERVER_CONFIG, camera, choose_channel
from tests.e2e.server import ServerProcess
from tests.ingest.test_gb28181_records_e2e import LONG, NOW, spec
from tools.gbdevice import GbDeviceSimulator
from tools.gbdevice_records import DeviceRecordings

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
__all__ = ["SERVER_CONFIG", "camera"]  # the module's server and device, as the pad's test has

SET_LOCAL = """([id, ms]) => {
  const d = new Date(ms);
  document.getElementById(id).value =
    new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
}"""


async def test_records_are_searched_played_into_the_room_and_steered(
    chromium: Chromium, server: ServerProcess, camera: GbDeviceSimulator
) -> None:
    recordings = DeviceRecordings.attach(camera, [spec(LONG)])
    channel = camera.channels[0]
    page = await chromium.page()
    await open_console(page, server, "raw_audio=1&room=command")
    await choose_channel(page, channel)
    await page.evaluate(SET_LOCAL, ["recstart", (NOW - 3600) * 1000])
    await page.evaluate(SET_LOCAL, ["recend", NOW * 1000])
    await page.click("#recsearch")
    await page.wait_for_function("document.querySelectorAll('#reclist button').length === 1")
    await page.click("#reclist button")
    await page.wait_for_function("window.mediacoreRecords.source !== null")
    source = await page.evaluate("window.mediacoreRecords.source")

    async def live() -> bool:
        roster = await asyncio.to_thread(server.roster, "command")
        return any(e["id"] == source and e["state"] == "live" for e in roster)

    await poll(live, 8.0, "the recording live in the room")
    await page.click("#recpause")
    await poll(lambda: len(recordings.stats.controls) == 1, 5.0, "PAUSE at the device")
    await page.select_option("#recspeed", "2")
    await page.click("#recspeedset")
    await poll(lambda: len(recordings.stats.controls) == 2, 5.0, "the speed at the device")
    assert [(c.method, c.scale) for c in recordings.stats.controls] == [
        ("PAUSE", None),
        ("PLAY", 2.0),
    ]
    assert await page.evaluate("window.mediacoreRecords.error") is None
