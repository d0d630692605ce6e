"""What a WebRTC subscriber says about bandwidth reaches the source it watches: aiortc peers over
loopback, a publisher, the hub forwarding to a subscriber, and the subscriber's REMB (crafted,
far below what it receives: a full link) heard by the source's estimate listener; our offer
asks for REMB (goog-remb, abs-send-time), never transport-cc. Slow: the first five seconds of
sending are not judged."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection

from mediacore.videohub import ForwardedVideoTrack, VideoHub
from tests.webrtc.clients import crafted_remb
from tests.webrtc.test_video_forwarding import (
    SolidColourTrack,
    negotiate,
    video_capability,
    wait_for,
)

pytestmark = pytest.mark.slow

CRAFTED_REMB = 2_000  # bit/s: below anything the picture needs


async def test_a_subscribers_remb_below_what_it_receives_reaches_the_source() -> None:
    hub = VideoHub()
    publisher, server_in, server_out, client = (RTCPeerConnection() for _ in range(4))
    heard: list[float | None] = []
    try:
        sent = publisher.addTransceiver(SolidColourTrack(), direction="sendonly")
        sent.setCodecPreferences(video_capability("VP8"))
        server_in.on("track", lambda track: hub.register_publisher("alice", server_in, track))
        await negotiate(publisher, server_in)
        source = hub.get("alice")
        source.estimate_listener = heard.append
        sender = await hub.subscribe(server_out, "alice")
        await negotiate(server_out, client)
        offer = server_out.localDescription.sdp
        assert "goog-remb" in offer and "abs-send-time" in offer
        assert "transport-cc" not in offer
        track = sender.track
        assert isinstance(track, ForwardedVideoTrack) and track.feedback is not None
        await wait_for(lambda: track.frames_forwarded > 30, 10.0, "frames forwarded")
        receiver = client.getReceivers()[0]
        async with crafted_remb(receiver, sender._ssrc, CRAFTED_REMB):
            await wait_for(
                lambda: any(h is not None and h <= CRAFTED_REMB * 1.2 for h in heard),
                15.0,  # past the first five seconds of sending, then low for a second
                "the crafted REMB heard by the source",
            )
        assert track.feedback.rembs >= 1
        assert track.feedback.describe()["rembs"] == track.feedback.rembs
    finally:
        for pc in (publisher, server_in, server_out, client):
            await pc.close()
