"""The console's "Share screen" in real Chromium (its fake screen capture): one console shares,
the other shows the content in a video of its own while the room says who shares; stopping
takes the content away again."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Chromium, join_room, poll
from tests.e2e.server import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)


async def test_a_console_shares_its_screen_and_another_console_shows_it(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    sharer, viewer = await chromium.page(440.0), await chromium.page(440.0)
    me = await join_room(sharer, server, room, "presenter")
    await join_room(viewer, server, room, "expert")
    content_url = f"/api/v1/rooms/{room}/content"
    assert await sharer.locator("#share").text_content() == "Share screen / 共享屏幕"
    await sharer.click("#share")  # a click: getDisplayMedia needs a user's gesture

    def shared() -> dict[str, object] | None:
        content = server.client.get(content_url).json()["content"]
        return content if content and content["live"] else None

    content = await poll(shared, 15.0, "the room's content")
    assert (content["participant"], content["name"], content["source"]) == (
        me,
        "presenter",
        f"{me}/content",
    )
    assert await sharer.locator("#share").text_content() == "Stop sharing / 停止共享"
    tile = viewer.locator("#tiles .tile.content")
    await tile.wait_for()
    assert await tile.locator("span").text_content() == "content / 共享 · presenter"

    async def playing() -> list[int] | None:
        size = await tile.locator("video").evaluate("v => [v.videoWidth, v.videoHeight]")
        return size if size[0] else None

    # Chromium's fake screen: 1280x720, forwarded as the sharer's browser sent it
    assert await poll(playing, 15.0, "the content playing") == [1280, 720]
    await sharer.click("#share")  # stop
    await poll(lambda: server.client.get(content_url).json()["content"] is None, 5.0, "stopped")
    await tile.wait_for(state="detached")
    await sharer.context.close()
    await viewer.context.close()
