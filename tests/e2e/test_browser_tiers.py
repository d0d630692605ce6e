"""A browser's composed picture follows its bandwidth, on a real server (media workers, its
default; the in-process path is tests/webrtc/test_subscriber_estimate.py): a browser-like aiortc
peer joins over the signalling socket and asks for the composed picture of a room with a grainy
camera; at first it receives the full tier; then it sends REMB far below what it receives (a
full link, as Chromium says it) and its picture moves to the quarter tier: the room's
description and /metrics say so, and the bytes it receives drop to the quarter tier's cap, well
under what the full tier sent, while the picture keeps its size. The same holds for a browser
watching an H.265 camera: its view of the camera's H.264 twin moves to the twin's quarter tier.
(Chromium's own REMB is checked in tests/browser/test_composed_tiers.py.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiortc import RTCRtpReceiver

from mediacore.qualitytiers import TIERS, encode_cap
from tests.e2e.server import ServerProcess
from tests.e2e.test_conference_video import Picture, patch_video, until
from tests.e2e.test_reach import SIZE, h265_camera
from tests.e2e.test_video_legs import participant
from tests.ingest.test_field_sources import H264
from tests.walls.wallreceiver import rtmp_camera
from tests.webrtc.clients import Client, crafted_remb
from tests.webrtc.test_video_forwarding import SolidColourTrack
from tests.webrtc.test_webrtc_e2e import join

pytestmark = pytest.mark.slow

VIDEO: dict[str, Any] = {"layout": {"kind": "grid"}, "width": 640, "height": 360, "fps": 10}
# Moving grain: x264 must spend bits on it, so a tier's cap shows in the bytes.
SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)
GRAINY = ["-vf", "noise=alls=24:allf=t", *H264, "-r", "10"]
CRAFTED_REMB = 20_000  # bit/s, far below any tier: the link is full


class VideoBytes:
    """Counts the RTP payload bytes a receiver gets (wrapping its packet handler)."""

    def __init__(self, receiver: RTCRtpReceiver) -> None:
        self.bytes = 0
        handle = receiver._handle_rtp_packet

        async def counted(packet: Any, arrival_time_ms: int) -> None:
            self.bytes += len(packet.payload)
            await handle(packet, arrival_time_ms)

        receiver._handle_rtp_packet = counted  # type: ignore[method-assign]

    async def rate(self, seconds: float) -> float:
        """bit/s over the next `seconds`."""
        start, began = self.bytes, time.monotonic()
        await asyncio.sleep(seconds)
        return (self.bytes - start) * 8 / (time.monotonic() - began)


async def subscribe(
    socket: Any, browser: Client, source: str
) -> tuple[str, RTCRtpReceiver, VideoBytes, Picture]:
    """The browser subscribes to `source` and decodes it: the video it was given, its
    receiver, a byte counter on it and its decoded picture."""
    await socket.send({"type": "subscribe", "source": source})
    video = str((await socket.expect("subscribed"))["video"])
    offer = await socket.expect("offer")
    await socket.send({"type": "answer", "sdp": await browser.answer_offer(offer["sdp"])})
    await until(lambda: bool(browser.video_tracks), 10, f"the track of {source}")
    receiver = next(r for r in browser.pc.getReceivers() if r.track in browser.video_tracks)
    counter, picture = VideoBytes(receiver), Picture(browser.video_tracks[0])
    await until(lambda: picture.frames > 10, 20, f"{source} decoding")
    return video, receiver, counter, picture


def described(server: ServerProcess, room: str) -> Callable[[], dict[str, Any]]:
    return lambda: dict(server.client.get(f"/api/v1/rooms/{room}").json().get("composed", {}))


async def test_a_browser_that_reports_a_full_link_gets_the_quarter_tier(
    server: ServerProcess, room: str
) -> None:
    assert patch_video(server, room, VIDEO).status_code == 200
    with rtmp_camera("red", "640x360", GRAINY) as (url, _):
        added = server.client.post(f"/api/v1/rooms/{room}/sources", json={"url": url})
        assert added.status_code == 201, added.text
        browser = Client(None)
        browser.pc.addTransceiver(SolidColourTrack(), direction="sendrecv")
        socket, me = await join(server, room, browser, "Narrow")
        composed = described(server, room)
        try:
            video, receiver, counter, picture = await subscribe(socket, browser, "composed")
            assert video == f"composed-{room}-{me}"
            assert composed()["tiers"][me] == "full"
            await asyncio.sleep(2.0)  # past the first keyframes
            full_rate = await counter.rate(4.0)
            ssrc = max(receiver.getSynchronizationSources(), key=lambda s: s.timestamp).source
            async with crafted_remb(receiver, ssrc, CRAFTED_REMB):
                await until(lambda: composed()["tiers"][me] == "quarter", 10, "the quarter tier")
                estimate = composed()["estimates"][me]
                assert estimate <= CRAFTED_REMB * 1.2, estimate
                await asyncio.sleep(2.0)  # the switch waits for the new tier's keyframe
                quarter_rate = await counter.rate(4.0)
                metrics = server.metrics()
                feedback = participant(server, room, me)["video_feedback"]
        finally:
            await socket.close()
            await browser.close()
    print(f"full tier {full_rate / 1000:.0f} kbit/s, quarter {quarter_rate / 1000:.0f} kbit/s")
    # the quarter tier's encode keeps within its cap; the full one spends clearly more
    quarter_cap = encode_cap(VIDEO["width"], VIDEO["height"], VIDEO["fps"]) * TIERS[2]
    assert quarter_rate < 1.3 * quarter_cap, (quarter_rate, quarter_cap)
    assert full_rate > 1.6 * quarter_rate, (full_rate, quarter_rate)
    assert picture.latest is not None and picture.latest.shape[:2] == (360, 640)  # same size
    assert f'mediacore_conference_viewer_tier{{room="{room}",viewer="{me}"}} 2.0' in metrics
    assert f'mediacore_conference_viewer_estimate_bps{{room="{room}",viewer="{me}"}}' in metrics
    assert feedback and feedback[0]["rembs"] > 0, feedback


async def test_a_browser_watching_an_h265_camera_moves_to_the_quarter_tier_of_its_twin(
    server: ServerProcess, room: str
) -> None:
    """The same browser-like peer subscribes to an H.265 camera (x265 over SRT): it is given a
    view of its own of the camera's H.264 twin, at the full tier, then at the quarter tier once
    its REMB says the link is full; the source listing shows the view's tier."""
    async with h265_camera(server, room) as (cam, listed):
        browser = Client(None)
        browser.pc.addTransceiver(SolidColourTrack(), direction="sendrecv")
        socket, me = await join(server, room, browser, "Narrow")
        view = f"{cam}~h264~v~{me}"

        def tier() -> str | None:
            return listed().get("transcode", {}).get("views", {}).get(view)

        try:
            video, receiver, counter, picture = await subscribe(socket, browser, cam)
            assert video == view
            assert tier() == "full"
            await asyncio.sleep(1.0)
            full_rate = await counter.rate(3.0)
            ssrc = max(receiver.getSynchronizationSources(), key=lambda s: s.timestamp).source
            async with crafted_remb(receiver, ssrc, CRAFTED_REMB):
                await until(lambda: tier() == "quarter", 15, "the quarter tier")
                await asyncio.sleep(1.5)  # past the quarter tier's keyframe
                quarter_rate = await counter.rate(3.0)
                frames = picture.frames
                await asyncio.sleep(1.0)
                assert picture.frames > frames  # the picture goes on across the move
                tiers = listed()["transcode"]["tiers"]
        finally:
            await socket.close()
            await browser.close()
    print(f"twin full tier {full_rate / 1000:.0f} kbit/s, quarter {quarter_rate / 1000:.0f}")
    assert "quarter" in tiers, tiers
    assert full_rate > 1.6 * quarter_rate, (full_rate, quarter_rate)
    assert picture.latest is not None and picture.latest.shape[:2] == SIZE[::-1]
