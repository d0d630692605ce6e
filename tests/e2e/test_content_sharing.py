"""Content sharing (双流) end to end, on a server in worker mode: a browser-like aiortc peer
with a green camera shares a magenta "screen" (320x180, 5 fps) by offering again on its
signalling socket; the composed picture a WHEP player receives shows the content in the large
region with the camera in the strip (and so does a plain RTP video terminal, its picture
decoded by ffmpeg), another peer receives the content as a track of its own,
and stopping the share (by the sharer, or by an operator through the API) brings the picture
back to normal."""

from __future__ import annotations

import asyncio
import fractions
import shutil
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from tests.e2e.server import ServerProcess
from tests.e2e.test_conference_video import Picture, patch_video, until, whep_player
from tests.e2e.test_ffmpeg_interop import free_rtp_port
from tests.e2e.test_video_legs import offer as leg_offer
from tests.e2e.videoterminal import colour_at, grab_until, screen_sdp
from tests.walls.wallreceiver import near
from tests.webrtc.clients import Client
from tests.webrtc.test_video_forwarding import SolidColourTrack
from tests.webrtc.test_webrtc_e2e import SDP, Socket, join

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not on PATH"),
]

GREEN, MAGENTA, YELLOW = (0, 255, 0), (255, 0, 255), (255, 255, 0)
SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)
VIDEO = {"layout": {"kind": "grid"}, "width": 640, "height": 360, "fps": 10}


class SlideTrack(MediaStreamTrack):
    """A shared screen: 320x180 of one colour at 5 frames a second, paced from its start."""

    kind = "video"

    def __init__(self, rgb: tuple[int, int, int], fps: int = 5) -> None:
        super().__init__()
        self._image = np.full((180, 320, 3), rgb, np.uint8)
        self._fps = fps
        self._start: float | None = None
        self._count = 0

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        self._count += 1
        wait = self._start + self._count / self._fps - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        frame = av.VideoFrame.from_ndarray(self._image, format="rgb24")
        frame.pts, frame.time_base = self._count * 90000 // self._fps, fractions.Fraction(1, 90000)
        return frame


async def room_event(socket: Socket, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """The first room event of `kind` the socket has seen or sees within `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = next((e for e in socket.events if e["type"] == kind), None)
        if found is not None:
            socket.events.remove(found)
            return found
        left = deadline - time.monotonic()
        assert left > 0, f"no {kind} event within {timeout} s"
        await socket.read_events(min(0.2, left))


async def test_a_shared_screen_is_the_large_picture_and_a_track_until_it_stops(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    assert patch_video(server, room, VIDEO).status_code == 200
    sharer = Client(None)
    sharer.pc.addTransceiver(SolidColourTrack(GREEN), direction="sendrecv")
    viewer = Client(None)
    socket, me = await join(server, room, sharer, "Alice")
    other, _ = await join(server, room, viewer, "Bob")
    player, seen = await whep_player(server, room)
    content_url = f"/api/v1/rooms/{room}/content"
    try:
        await until(lambda: bool(seen), 10, "the composed picture")
        common = seen[0]
        await until(lambda: common.shows((320, 180, GREEN)), 20, "the camera alone")
        await socket.send({"type": "unshare"})
        assert (await socket.expect("error"))["code"] == "not-sharing"

        # share: a new track, offered again; a wrong mid is refused before anything changes
        slides = sharer.pc.addTransceiver(SlideTrack(MAGENTA), direction="sendonly")
        await sharer.pc.setLocalDescription(await sharer.pc.createOffer())
        offer = sharer.pc.localDescription.sdp
        await socket.send({"type": "share", "offer": offer, "mid": "nine"})
        assert (await socket.expect("error"))["code"] == "bad-field"
        await socket.send({"type": "share", "offer": offer, "mid": slides.mid})
        shared = await socket.expect("shared")
        assert shared["source"] == f"{me}/content"
        await sharer.accept(shared["answer"])
        started = await room_event(other, "content.started")
        assert (started["participant"], started["source"], started["name"]) == (
            me,
            f"{me}/content",
            "Alice",
        )
        # the composed picture: the content large, the camera in the strip below
        took = await until(
            lambda: common.shows((320, 135, MAGENTA), (320, 316, GREEN)), 15, "content large"
        )
        print(f"shared content reached the composed picture in {took * 1000:.0f} ms")
        # a video terminal (plain RTP, H.264) sees it large in its composed picture too
        screen = free_rtp_port()
        terminal, _ = server.join(room, leg_offer(free_rtp_port(), screen, "recvonly"), name="T")
        grabbed = tmp_path / "terminal.png"

        def content_large(png: Path) -> bool:
            spots = colour_at(png, 320, 135), colour_at(png, 320, 316)
            return near(spots[0], MAGENTA, 50) and near(spots[1], GREEN, 50)

        await grab_until(screen_sdp(tmp_path, screen), grabbed, content_large, timeout=30)
        assert server.client.delete(f"/api/v1/rooms/{room}/participants/{terminal}").is_success
        described = server.client.get(content_url).json()["content"]
        assert (described["participant"], described["live"]) == (me, True)
        assert server.client.get(f"/api/v1/rooms/{room}").json()["content"]["name"] == "Alice"

        # another browser receives the content as a track of its own
        await other.send({"type": "subscribe", "source": started["source"]})
        await other.expect("subscribed")
        renegotiation = await other.expect("offer")
        await other.send({"type": "answer", "sdp": await viewer.answer_offer(renegotiation["sdp"])})
        await until(lambda: bool(viewer.video_tracks), 10, "the content track")
        track = Picture(viewer.video_tracks[0])
        await until(lambda: track.shows((160, 90, MAGENTA)), 10, "the content on its track")
        assert track.latest is not None and track.latest.shape[:2] == (180, 320)

        # the sharer stops: the picture is the camera's again
        await socket.send({"type": "unshare"})
        assert (await socket.expect("unshared"))["source"] == f"{me}/content"
        assert (await room_event(other, "content.stopped"))["reason"] == "unshared"
        await until(lambda: common.shows((320, 180, GREEN)), 10, "back to normal")

        # shared again on the same track (no new offer), then stopped by an operator
        await socket.send({"type": "share", "mid": slides.mid})
        assert (await socket.expect("shared"))["answer"] is None
        await room_event(other, "content.started")
        await until(lambda: common.shows((320, 135, MAGENTA)), 10, "content again")
        assert server.client.delete(content_url).status_code == 204
        stopped = await room_event(other, "content.stopped")
        assert (stopped["reason"], stopped["participant"]) == ("stopped", me)
        await until(lambda: common.shows((320, 180, GREEN)), 10, "normal again")
        gone = server.client.delete(content_url)
        assert gone.status_code == 404 and gone.json()["error"] == "no-content"
        assert server.client.get(content_url).json() == {"content": None}
        assert server.client.get("/api/v1/rooms/nowhere/content").status_code == 404

        # WHIP ?content=1: a publisher's video is the content; a newer sharer replaces it
        whip = Client(440.0, receive=False)
        whip.pc.addTransceiver(SlideTrack(YELLOW), direction="sendonly")
        published = await asyncio.to_thread(
            server.client.post,
            f"/api/v1/rooms/{room}/whip",
            params={"content": "1", "name": "Encoder"},
            content=await whip.offer(),
            headers=SDP,
        )
        assert published.status_code == 201, published.text
        await whip.accept(published.text)
        encoder = published.headers["Location"].rsplit("/", 1)[-1]
        started = await room_event(other, "content.started")
        assert (started["participant"], started["source"]) == (encoder, encoder)
        await until(lambda: common.shows((320, 135, YELLOW)), 15, "the WHIP content large")
        await socket.send({"type": "share", "mid": slides.mid})
        await socket.expect("shared")
        replaced = await room_event(other, "content.stopped")
        assert (replaced["participant"], replaced["reason"], replaced["by"]) == (
            encoder,
            "replaced",
            "Alice",
        )
        await until(lambda: common.shows((320, 135, MAGENTA)), 10, "the newer share large")
        await whip.close()
    finally:
        await socket.close()
        await other.close()
        await sharer.close()
        await viewer.close()
        await player.close()
