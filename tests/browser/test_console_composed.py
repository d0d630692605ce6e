"""The console's composed-picture toggle in real Chromium: a browser with a camera and a red
ffmpeg field camera in one room; the browser asks for the composed picture and sees the red
camera, not its own."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Chromium, join_room, poll
from tests.e2e.server import ServerProcess
from tests.ingest.test_field_sources import H264
from tests.walls.wallreceiver import rtmp_camera

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)

VIDEO = {"layout": {"kind": "grid"}, "width": 640, "height": 360, "fps": 10}
CENTRE_RGB = """video => {
    if (!video.videoWidth) return null;
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    const context = canvas.getContext('2d');
    context.drawImage(video, 0, 0);
    return Array.from(context.getImageData(video.videoWidth / 2, video.videoHeight / 2, 1, 1).data);
}"""


async def test_the_composed_toggle_shows_the_others_not_oneself(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    assert server.client.patch(f"/api/v1/rooms/{room}", json={"video": VIDEO}).status_code == 200
    with rtmp_camera("red", "640x360", [*H264, "-r", "10"]) as (url, _):
        added = server.client.post(f"/api/v1/rooms/{room}/sources", json={"url": url})
        assert added.status_code == 201, added.text
        page = await chromium.page(440.0)
        await join_room(page, server, room, "browser", camera=True)
        await page.click("#composed")
        tile = page.locator("#tiles .tile video")
        await tile.wait_for()
        assert await page.locator("#tiles .tile span").text_content() == "composed / 合成画面"

        async def red_in_the_middle() -> list[int] | None:
            rgb = await tile.evaluate(CENTRE_RGB)
            return rgb if rgb and rgb[0] > 180 and rgb[1] < 80 and rgb[2] < 80 else None

        # the red camera alone fills the picture: the browser's own camera is left out
        await poll(red_in_the_middle, 20.0, "the red camera in the composed picture")
        assert await tile.evaluate("video => [video.videoWidth, video.videoHeight]") == [640, 360]
        await page.click("#composed")  # back to forwarded tracks only
        await tile.wait_for(state="detached")
        await page.context.close()
