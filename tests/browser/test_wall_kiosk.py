"""The wall PC: real Chromium opens the kiosk page, which plays the wall's WHEP output."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Chromium, join_room, open_console, poll
from tests.e2e.server import TOKEN, ServerProcess
from tests.walls.wallreceiver import near, rtmp_camera

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)

# The pixel at (x, y) of what the <video> shows, drawn on a canvas.
READ_PIXEL = """([x, y]) => {
    const video = document.querySelector('video');
    if (!video.videoWidth) return null;
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    const context = canvas.getContext('2d');
    context.drawImage(video, 0, 0);
    return Array.from(context.getImageData(x, y, 1, 1).data.slice(0, 3));
}"""


async def test_kiosk_page_plays_the_composite_full_screen(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    with rtmp_camera("red") as (url, _camera):
        added = server.client.post(
            f"/api/v1/rooms/{room}/sources", json={"url": url, "name": "Drone 1"}
        )
        assert added.status_code == 201, added.text
        wall = {
            "canvas": {"width": 640, "height": 360, "fps": 25},
            "layout": {"kind": "grid"},
            "room": room,
            "outputs": [{"kind": "whep"}],
        }
        response = server.client.put("/api/v1/walls/kiosk", json=wall)
        assert response.status_code in (200, 201), response.text
        page = await chromium.page()
        try:
            await page.goto(f"{server.url}/wall/kiosk?token={TOKEN}")
            size = await poll(
                lambda: page.evaluate(
                    "() => { const v = document.querySelector('video');"
                    " return v.videoWidth ? [v.videoWidth, v.videoHeight] : null; }"
                ),
                15.0,
                "the kiosk video playing",
            )
            assert size == [640, 360]
            # one 4:3 camera letterboxed in the middle of the 16:9 canvas
            pixel = await poll(
                lambda: _red_at(page, 320, 180), 10.0, "the camera's red in the middle"
            )
            assert near(tuple(pixel), (255, 0, 0))  # type: ignore[arg-type]
            assert await page.evaluate("document.querySelector('#status').textContent") == ""
            roster = server.client.get(f"/api/v1/rooms/{room}/participants").json()
            assert any(p["name"] == "wall kiosk" for p in roster)
        finally:
            await page.context.close()
            server.client.delete("/api/v1/walls/kiosk")


async def _red_at(page: object, x: int, y: int) -> list[int] | None:
    pixel = await page.evaluate(READ_PIXEL, [x, y])  # type: ignore[attr-defined]
    if pixel and near(tuple(pixel), (255, 0, 0)):
        return list(pixel)
    return None


async def test_commander_switches_the_wall_layout_from_the_console(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    wall = {
        "canvas": {"width": 320, "height": 180, "fps": 10},
        "layout": {"kind": "grid"},
        "room": room,
    }
    assert server.client.put("/api/v1/walls/hall", json=wall).status_code in (200, 201)
    page = await chromium.page()
    try:
        await open_console(page, server)
        await page.locator("#rooms li", has_text=f"{room} (").click()
        await page.wait_for_function("document.querySelector('#wallname').value === 'hall'")
        await page.select_option("#walllayout", "pip")
        await page.select_option("#wallmain", "floor")
        await page.click("#wallapply")
        await poll(
            lambda: (
                server.client.get("/api/v1/walls/hall").json()["layout"]
                == {"kind": "pip", "main": "floor"}
            ),
            5.0,
            "the wall in picture-in-picture",
        )
        status = server.client.get("/api/v1/walls/hall").json()["status"]
        assert status["layout_switches"] == 1  # switched live, not restarted
        await page.wait_for_function(
            "document.querySelector('#wallstate').textContent.startsWith('pip')"
        )
    finally:
        await page.context.close()
        server.client.delete("/api/v1/walls/hall")


async def test_a_browser_camera_is_decoded_onto_the_wall(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    """WebRTC publishers (the console, WHIP) reach walls like field cameras: decoded once."""
    page = await chromium.page(440.0)
    try:
        source = await join_room(page, server, room, "commander cam", camera=True)
        wall = {
            "canvas": {"width": 640, "height": 360, "fps": 15},
            "layout": {"kind": "focus", "main": source},
            "room": room,
        }
        assert server.client.put("/api/v1/walls/cam", json=wall).status_code in (200, 201)

        def decoded() -> int:
            status = server.client.get("/api/v1/walls/cam").json()["status"]
            stats = status["decoders"].get(source, {})
            return (
                int(stats.get("frames_decoded", 0)) if stats.get("frames_decoded", 0) >= 10 else 0
            )

        await poll(decoded, 15.0, "the browser camera decoded for the wall")
        status = server.client.get("/api/v1/walls/cam").json()["status"]
        assert status["decoders"][source]["codec"] in ("VP8", "H264")
        assert status["decoders"][source]["errors"] == 0
        assert status["tiles"][0] == {
            **status["tiles"][0],
            "source": source,
            "label": "commander cam",
        }
    finally:
        await page.context.close()
        server.client.delete("/api/v1/walls/cam")
