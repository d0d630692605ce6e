"""A browser (an aiortc peer on the console's signalling WebSocket) moved into another room:
the same peer connection hears the new room, and its socket's push-to-talk, mute and events
act on the new room from then on. In both modes: rooms on two media workers, and one process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import ServerProcess
from tests.webrtc.clients import Client
from tests.webrtc.test_webrtc_e2e import LEVEL, SILENT, join, rtp_leg, rtp_level, tone_payloads

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=[2, 0], ids=["workers", "single-process"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    folder = Path(tmp_path_factory.mktemp(f"webrtc-move-{request.param}"))
    process = ServerProcess(folder, workers=request.param, MEDIACORE_RTP_TIMEOUT="5")
    yield process
    assert process.stop() == 0, process.log_path.read_text()


async def test_a_moved_browser_hears_and_acts_in_its_new_room(server: ServerProcess) -> None:
    alpha, bravo = f"web-a-{server.workers}", f"web-b-{server.workers}"
    for name in (alpha, bravo):
        assert server.client.post("/api/v1/rooms", json={"name": name}).status_code == 201
    browser = Client(440.0)
    socket, me = await join(server, alpha, browser, "console")
    phone_a, _ = await rtp_leg(server, alpha, "phone-a")
    phone_b, _ = await rtp_leg(server, bravo, "phone-b")

    async def both_talk() -> tuple[float, float]:
        """Phone a says 700 Hz, phone b 1300 Hz, for 2 s: the steady window."""
        started = time.monotonic()
        await asyncio.gather(
            phone_a.play(tone_payloads(phone_a, 700.0, 2.0)),
            phone_b.play(tone_payloads(phone_b, 1300.0, 2.0)),
        )
        return started + 0.8, time.monotonic()

    start, end = await both_talk()
    assert browser.level(700.0, start, end) == pytest.approx(LEVEL, abs=2.0)
    assert browser.level(1300.0, start, end) < SILENT

    moved = await asyncio.to_thread(
        server.client.post,
        f"/api/v1/rooms/{alpha}/participants/{me}/move",
        json={"to": bravo},
    )
    assert moved.status_code == 200, moved.text
    said = await socket.expect("moved")
    assert (said["participant"], said["from"], said["to"]) == (me, alpha, bravo)

    start, end = await both_talk()
    assert browser.level(1300.0, start, end) == pytest.approx(LEVEL, abs=2.0)
    assert browser.level(700.0, start, end) < SILENT
    assert rtp_level(phone_b, 440.0, start, end) == pytest.approx(LEVEL, abs=2.0)
    assert rtp_level(phone_a, 440.0, start, end) < SILENT

    # The socket acts on the new room: its push-to-talk takes bravo's floor, its mute mutes
    # the participant in bravo, and bravo's events reach it.
    await socket.send({"type": "ptt", "action": "press"})
    floor = await socket.expect("floor")
    assert (floor["result"], floor["holder"]) == ("granted", me)
    assert server.client.get(f"/api/v1/rooms/{bravo}/floor").json()["holder"] == me
    assert server.client.get(f"/api/v1/rooms/{alpha}/floor").json()["holder"] is None
    await socket.send({"type": "mute", "muted": True})
    await socket.expect("muted")
    assert {p["id"]: p for p in server.roster(bravo)}[me]["muted"] is True
    await socket.read_events(0.3)
    granted = [e for e in socket.events if e["type"] == "floor.granted"]
    assert granted and granted[-1]["room"] == bravo
    await socket.send({"type": "leave"})
    assert (await socket.expect("left"))["reason"] == "left"
    assert me not in {p["id"] for p in server.roster(bravo)}
    await socket.close()
    await browser.close()
    for peer in (phone_a, phone_b):
        peer.close()
    for name in (alpha, bravo):
        server.client.delete(f"/api/v1/rooms/{name}")
