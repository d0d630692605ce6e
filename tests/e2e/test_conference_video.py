"""The composed conference picture end to end, on a server in worker mode: two ffmpeg field
cameras of known colours and a browser-like aiortc peer with a camera of its own in a room;
a WHEP player sees all three in the grid, the peer sees the picture without itself, a layout
PATCH reaches both pictures at once, the focus layout follows the camera that is heard (voice
activation), and the room says how many encodes it costs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import av
import httpx
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from tests.e2e.server import TOKEN, ServerProcess
from tests.ingest.test_field_sources import H264
from tests.ingest.test_source_audio import sine
from tests.walls.test_video_processes import AAC
from tests.walls.test_wall_outputs import has_text
from tests.walls.wallreceiver import near, rtmp_camera
from tests.webrtc.clients import Client
from tests.webrtc.test_video_forwarding import SolidColourTrack
from tests.webrtc.test_webrtc_e2e import SDP, join

pytestmark = pytest.mark.slow

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)
SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)
VIDEO = {"layout": {"kind": "grid"}, "width": 640, "height": 360, "fps": 10}
CAMERA = [*H264, "-r", "10"]


class Picture:
    """The latest decoded picture of a received video track."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.latest: np.ndarray[Any, Any] | None = None
        self.frames = 0
        self.task = asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)
                self.latest = frame.to_ndarray(format="rgb24")
                self.frames += 1
        except MediaStreamError:
            return

    def colour(self, x: int, y: int) -> tuple[int, int, int]:
        if self.latest is None:
            return (-1000, -1000, -1000)
        mean = self.latest[y - 4 : y + 4, x - 4 : x + 4].reshape(-1, 3).mean(axis=0)
        return int(mean[0]), int(mean[1]), int(mean[2])

    def shows(self, *spots: tuple[int, int, tuple[int, int, int]]) -> bool:
        return all(near(self.colour(x, y), rgb, 50) for x, y, rgb in spots)


async def until(check: Any, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def whep_player(
    server: ServerProcess, room: str, video: str = "composed"
) -> tuple[RTCPeerConnection, list[Picture]]:
    player = RTCPeerConnection()
    pictures: list[Picture] = []
    player.addTransceiver("audio", direction="recvonly")
    player.addTransceiver("video", direction="recvonly")
    player.on("track", lambda t: pictures.append(Picture(t)) if t.kind == "video" else None)
    await player.setLocalDescription(await player.createOffer())
    async with httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        answer = await http.post(
            f"/api/v1/rooms/{room}/whep",
            params={"video": video},
            content=player.localDescription.sdp,
            headers=SDP,
        )
    assert answer.status_code == 201, answer.text
    await player.setRemoteDescription(RTCSessionDescription(answer.text, "answer"))
    return player, pictures


def patch_video(server: ServerProcess, room: str, video: Any) -> httpx.Response:
    return server.client.patch(f"/api/v1/rooms/{room}", json={"video": video})


def test_bad_video_settings_are_refused_with_a_reason(server: ServerProcess, room: str) -> None:
    for bad, words in (
        ({"layout": {"kind": "spiral"}}, "layout.kind"),
        ({"width": 4000, "height": 2000}, "1920x1088"),
        ({"fps": "fast"}, "fps"),
        ({"sharpness": 3}, "unknown keys"),
    ):
        response = patch_video(server, room, bad)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "bad-video" and words in response.json()["detail"]
    created = server.client.post(
        "/api/v1/rooms", json={"name": f"{room[:40]}-new", "video": {"layout": {"kind": "1+N"}}}
    )
    assert created.status_code == 201, created.text
    assert created.json()["video"] == {
        **VIDEO,
        "layout": {"kind": "focus"},
        "fps": 25,
        "width": 1280,
        "height": 720,
    }
    server.client.delete(f"/api/v1/rooms/{room[:40]}-new")


async def test_everyone_sees_the_others_and_a_layout_switch_reaches_every_picture(
    server: ServerProcess, room: str
) -> None:
    changed = patch_video(server, room, VIDEO)
    assert changed.status_code == 200 and changed.json()["video"] == VIDEO
    size = "640x360"
    with (
        rtmp_camera("red", size, CAMERA) as (red_url, _),
        # the blue camera sends a tone: it is the room's speaker once it is heard
        rtmp_camera("blue", size, CAMERA, sound=[*sine(44100), *AAC]) as (blue_url, _),
    ):
        ids = []
        for url, name in ((red_url, "Red"), (blue_url, "Blue")):
            added = server.client.post(
                f"/api/v1/rooms/{room}/sources", json={"url": url, "name": name}
            )
            assert added.status_code == 201, added.text
            ids.append(added.json()["id"])
        # a browser with a green camera, over the signalling socket
        browser = Client(None)
        # (its camera's m-line is sendrecv, as a browser's addTrack makes it: the server
        # sends the composed picture back on it)
        browser.pc.addTransceiver(SolidColourTrack(GREEN), direction="sendrecv")
        socket, me = await join(server, room, browser, "Green")
        player, seen = await whep_player(server, room)
        try:
            await socket.send({"type": "subscribe", "source": "composed"})
            subscribed = await socket.expect("subscribed")
            assert subscribed["video"] == f"composed-{room}-{me}"
            offer = await socket.expect("offer")
            await socket.send({"type": "answer", "sdp": await browser.answer_offer(offer["sdp"])})
            await until(lambda: bool(browser.video_tracks) and bool(seen), 10, "video tracks")
            mine = Picture(browser.video_tracks[0])
            common = seen[0]
            # the player: a 2x2 grid in join order (red, blue, the browser's green)
            await until(
                lambda: common.shows((160, 90, RED), (480, 90, BLUE), (160, 270, GREEN)),
                20,
                "the common grid",
            )
            # a name label at each tile's bottom left: white text on its dark box
            assert common.latest is not None
            assert has_text(common.latest[150:180, 0:160]) and has_text(
                common.latest[150:180, 320:480]
            )
            # the browser: red and blue side by side, never its own green
            await until(lambda: mine.shows((160, 180, RED), (480, 180, BLUE)), 10, "own picture")
            assert not near(mine.colour(160, 270), GREEN, 50)
            await asyncio.sleep(1.5)  # the room's statistics come once a second
            described = server.client.get(f"/api/v1/rooms/{room}").json()["composed"]
            assert sorted(described["variants"]) == [size, f"{size}-{me}"]
            assert 12 <= described["encodes_per_second"] <= 24  # two variants, 10 fps each
            assert described["viewers"] == 2
            metrics = server.metrics()
            assert f'mediacore_conference_variants{{room="{room}"}} 2.0' in metrics
            assert f'mediacore_conference_encodes_per_second{{room="{room}"}}' in metrics

            # blue alone, over the whole picture: both pictures follow
            switched = time.monotonic()
            custom = {
                "kind": "custom",
                "regions": [{"x": 0, "y": 0, "w": 640, "h": 360, "source": ids[1]}],
            }
            assert patch_video(server, room, {**VIDEO, "layout": custom}).status_code == 200
            await until(lambda: common.shows((160, 180, BLUE)), 5, "the switch (player)")
            await until(lambda: mine.shows((160, 180, BLUE)), 5, "the switch (browser)")
            took = time.monotonic() - switched
            print(f"layout switch reached both pictures in {took * 1000:.0f} ms")
            assert took < 3.0  # loosely: the bench measures the 200 ms target

            # voice activated: in focus the speaker (blue, whose tone is heard) is the large
            # picture; without a speaker it would be the first camera (red)
            focus = {**VIDEO, "layout": {"kind": "focus"}}
            assert patch_video(server, room, focus).status_code == 200
            # (the strip below: the others centred, a quarter of the width each)
            spots = ((320, 135, BLUE), (240, 315, RED), (400, 315, GREEN))
            await until(lambda: common.shows(*spots), 5, "focus")
            await until(lambda: mine.shows((320, 135, BLUE), (320, 315, RED)), 5, "own focus")
            assert not any(near(mine.colour(x, 315), GREEN, 50) for x in (200, 440))
        finally:
            await socket.close()
            await browser.close()
            await player.close()
