"""/api/v1/rooms/{room}/content in-process: who shares, and stopping a share by role."""

from __future__ import annotations

import pytest

from mediacore.events import Event
from mediacore.videohub import VideoSource
from tests.server.test_api import Api, api, assert_error

__all__ = ["api"]


@pytest.mark.slow  # a whole server in-process: several seconds
async def test_operators_see_and_stop_the_rooms_content_others_may_not(api: Api) -> None:
    url = "/api/v1/rooms/command/content"
    assert (await api.as_role("expert", "GET", url)).json() == {"content": None}
    assert_error(await api.admin("GET", "/api/v1/rooms/nowhere/content"), 404, "room-not-found")
    assert_error(await api.admin("DELETE", url), 404, "no-content")
    seen: list[Event] = []
    api.server.bus.listen(seen.append)
    hub = api.server.webrtc.video_hub
    assert hub is not None
    hub.register_source(VideoSource("p-1/content", "H264", participant_id="p-1"))
    api.server.content.start("command", "p-1", "Alice", "p-1/content")
    shown = (await api.as_role("expert", "GET", url)).json()["content"]
    assert (shown["participant"], shown["source"], shown["live"]) == ("p-1", "p-1/content", True)
    room = (await api.admin("GET", "/api/v1/rooms/command")).json()
    assert room["content"]["name"] == "Alice"
    for role in ("expert", "reviewer"):
        assert_error(await api.as_role(role, "DELETE", url), 403, "forbidden")
    assert_error(await api.as_role(None, "DELETE", url), 401)
    assert (await api.as_role("operator", "DELETE", url)).status_code == 204
    stopped = [e for e in seen if e.type == "content.stopped"]
    assert [(e.data["reason"], e.data["by"]) for e in stopped] == [("stopped", "operator user")]
    assert (await api.admin("GET", url)).json() == {"content": None}
    assert "content" not in (await api.admin("GET", "/api/v1/rooms/command")).json()
    # the console's sharing module, loaded by the console page
    script = await api.http.get("/console/contentshare.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert '"share"' in script.text and "getDisplayMedia" in script.text
    page = await api.http.get("/console/")
    assert '<script src="/console/contentshare.js"></script>' in page.text
