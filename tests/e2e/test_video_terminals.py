"""A plain RTP video terminal receives the room's composed picture (server in worker mode):
two ffmpeg cameras of known colours join a room, then a terminal that sends a green camera and
asks for a 320x180 picture (a=imageattr). What ffmpeg decodes of the terminal's video is the
grid of the others at the size it asked, red left and blue right, and never its own green."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.e2e.server import ServerProcess
from tests.e2e.test_ffmpeg_interop import ffmpeg, free_rtp_port
from tests.e2e.test_video_legs import camera_command, offer, participant, video_port
from tests.e2e.videoterminal import Relay, colour_at, grab_until, picture_size, screen_sdp
from tests.walls.wallreceiver import near

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not on PATH"),
]

SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)
ROOM_SETTINGS = {"video": {"layout": {"kind": "grid"}, "width": 640, "height": 360, "fps": 10}}
RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)
IMAGEATTR = "a=imageattr:96 send * recv [x=320,y=180]"


def terminal_offer(video: int) -> str:
    text = offer(free_rtp_port(), video, "sendrecv")
    return text.replace("a=sendrecv", f"{IMAGEATTR}\r\na=sendrecv")


async def test_a_terminal_sees_the_others_in_the_layout_at_its_size_never_itself(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    cameras = []
    for colour in ("red", "blue"):
        local = free_rtp_port()
        pid, answer = server.join(room, offer(free_rtp_port(), local, "sendonly"), name=colour)
        cameras.append(camera_command(video_port(answer), local, colour, "640x360", 30))
    relay = Relay()
    try:
        terminal, answer = server.join(room, terminal_offer(relay.port), name="terminal")
        relay.server_port = video_port(answer)
        # the terminal's green camera sends through the relay, from the offered port
        own = camera_command(relay.port, free_rtp_port(), "green", "640x360", 30)
        picture = tmp_path / "terminal.png"
        sdp = screen_sdp(tmp_path, relay.screen_port)
        async with ffmpeg(cameras[0]), ffmpeg(cameras[1]), ffmpeg(own):

            def shows_the_others(grabbed: Path) -> bool:
                spots = [colour_at(grabbed, x, 90) for x in (80, 240)]
                return near(spots[0], RED, 50) and near(spots[1], BLUE, 50)

            await grab_until(sdp, picture, shows_the_others)
            shown = participant(server, room, terminal)["video"]
        assert picture_size(picture) == (320, 180)  # the size its a=imageattr asked
        for x in range(20, 320, 40):  # its own green camera is nowhere in its picture
            for y in (45, 90, 135):
                assert not near(colour_at(picture, x, y), GREEN, 60), (x, y)
        assert shown["picture"] == "composed" and shown["image_size"] == [320, 180]
        assert shown["sending"] == f"composed-{room}-{terminal}" and shown["frames_sent"] > 0
        assert shown["source"] == terminal and shown["frames_received"] > 0
        described = server.client.get(f"/api/v1/rooms/{room}").json()["composed"]
        assert "320x180-" + terminal in described["variants"]
        # the terminal hangs up: its view of the room ends with it
        assert server.client.delete(f"/api/v1/rooms/{room}/participants/{terminal}").is_success
        await asyncio.sleep(1.5)
        described = server.client.get(f"/api/v1/rooms/{room}").json()["composed"]
        assert not any(terminal in variant for variant in described["variants"])
    finally:
        relay.close()
