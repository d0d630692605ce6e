"""Real Chromium's bandwidth feedback on the composed picture: the server offers REMB
(goog-remb with abs-send-time, no transport-cc), so Chromium's receive-side estimator sends
REMB for the picture it receives, and the server reads it from its sender. On loopback the link
is never full: Chromium's REMB stays at or above what it receives, so the browser keeps the full
tier (the drop to a lower tier under a full link is tests/e2e/test_browser_tiers.py, with a peer
whose REMB says so). On a loaded machine Chromium may see overuse and cut its REMB; a lower
tier then comes with the estimate read from it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Chromium, inbound_stats, join_room, poll
from tests.e2e.server import ServerProcess
from tests.e2e.test_browser_tiers import GRAINY, VIDEO
from tests.walls.wallreceiver import rtmp_camera

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)


async def test_chromium_sends_remb_on_the_composed_picture_and_keeps_the_full_tier(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    assert server.client.patch(f"/api/v1/rooms/{room}", json={"video": VIDEO}).status_code == 200
    with rtmp_camera("red", "640x360", GRAINY) as (url, _):
        added = server.client.post(f"/api/v1/rooms/{room}/sources", json={"url": url})
        assert added.status_code == 201, added.text
        page = await chromium.page()
        me = await join_room(page, server, room, "browser", camera=True)
        await page.click("#composed")

        def feedback() -> list[dict[str, Any]]:
            entry = server.client.get(f"/api/v1/rooms/{room}/participants/{me}").json()
            return [f for f in entry.get("video_feedback", []) if f["rembs"] >= 3]

        said = await poll(feedback, 30.0, "Chromium's REMB read on the composed picture", 0.5)
        video = await inbound_stats(page, "video")
        ours = str(await page.evaluate("window.mediacoreConsole.pc.remoteDescription.sdp"))
        composed = server.client.get(f"/api/v1/rooms/{room}").json()["composed"]
        await page.context.close()
    print(f"Chromium said {said}; it decoded {video.get('framesDecoded')} frames; {composed}")
    assert said[0]["receiver_reports"] > 0 and said[0]["last_remb"] > 0
    # what makes Chromium send REMB: goog-remb with abs-send-time, and no transport-cc
    assert "goog-remb" in ours and "abs-send-time" in ours and "transport-cc" not in ours
    assert video.get("framesDecoded", 0) > 0
    # On an idle loopback its REMB stays at or above what it receives (no limit: full tier).
    # On a loaded machine its delay-based detector may see overuse and cut its REMB below
    # what it receives: then the tier may drop, always with the estimate read from it.
    assert composed["tiers"][me] == "full" or me in composed["estimates"], composed
