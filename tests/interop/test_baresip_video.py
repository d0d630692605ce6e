"""Debian's baresip in a video call with a room, checked by picture content both ways.

In VP8 (baresip-core's `vp8` module) a terminal gets the forwarded camera, the composed picture
being H.264 only (mediacore.composedpicture). That call uses `fakevideo` as camera (red, green
and blue bars) and display, and `snapshot` to write what it sends and receives as PNG files.
The room's other camera is ffmpeg sending blue VP8 on a plain RTP leg: baresip must see blue.
A plain RTP leg that receives video (ffmpeg decoding from an SDP file) joins last: the latest
camera is baresip's, so it must show bars. In H.264 (baresip-ffmpeg's `avcodec` module, as
hardware terminals send) baresip gets the composed picture, its own camera left out."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from tests.e2e.server import ServerProcess
from tests.e2e.test_ffmpeg_interop import ffmpeg, finished, free_rtp_port
from tests.e2e.test_video_legs import offer
from tests.interop.test_baresip import MODULES, SERVER_CONFIG, Baresip

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("baresip") is None, reason="Debian package baresip-core"),
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not on PATH"),
]

BLUE = np.array([0, 0, 255])
BARS = [np.array([255, 0, 0]), np.array([0, 255, 0]), np.array([0, 0, 255])]  # fakevideo's


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("baresip-video"), config=SERVER_CONFIG)
    yield process
    assert process.stop() == 0, process.log_path.read_text()[-4000:]


def vp8_offer(audio_port: int, video_port: int, direction: str) -> str:
    return "\r\n".join(
        [
            "v=0",
            "o=- 1 1 IN IP4 127.0.0.1",
            "s=vp8 leg",
            "c=IN IP4 127.0.0.1",
            "t=0 0",
            f"m=audio {audio_port} RTP/AVP 0",
            "a=inactive",
            f"m=video {video_port} RTP/AVP 100",
            "a=rtpmap:100 VP8/90000",
            f"a={direction}",
            "",
        ]
    )


def video_phone(server: ServerProcess, folder: Path, codec_module: str) -> Baresip:
    """baresip as alice with `codec_module` ("vp8", or "avcodec" for H.264), fakevideo as
    camera (bars) and display, and snapshot to write what it sends and receives."""
    account = f"<sip:alice@127.0.0.1:{server.sip_port}>;auth_pass=alice-pw;regint=0"
    return Baresip(
        folder,
        account,
        modules=(codec_module, "fakevideo", "snapshot"),
        extra_config=(
            "video_source fakevideo,nil",
            "video_display fakevideo,nil",
            "video_size 320x240",
            "video_fps 10",
            "video_bitrate 300000",
        ),
    )


def answered_port(answer: str) -> int:
    return int(next(x for x in answer.splitlines() if x.startswith("m=video")).split()[1])


def picture(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    return np.asarray(frame.to_ndarray(format="rgb24"), dtype=float)


def assert_bars(image: np.ndarray) -> None:
    """Three vertical bars, red, green and blue, each a third of the width."""
    width = image.shape[1]
    for third, colour in enumerate(BARS):
        x = width * (2 * third + 1) // 6
        column = image[:, x - 4 : x + 4].reshape(-1, 3).mean(axis=0)
        assert np.abs(column - colour).max() < 40, (third, column)


async def test_baresip_sees_the_rooms_camera_and_its_camera_is_a_room_source(
    server: ServerProcess, tmp_path: Path
) -> None:
    room = "baresip-video"
    assert server.client.post("/api/v1/rooms", json={"name": room}).status_code == 201
    camera_port = free_rtp_port()
    _, answer = server.join(room, vp8_offer(free_rtp_port(), camera_port, "sendonly"), name="cam")
    blue = [
        *("-re", "-f", "lavfi", "-i", "color=c=blue:s=640x360:r=10", "-t", "40"),
        *("-c:v", "libvpx", "-deadline", "realtime", "-g", "5", "-b:v", "300k"),
        *("-payload_type", "100", "-f", "rtp"),
        f"rtp://127.0.0.1:{answered_port(answer)}?localrtpport={camera_port}",
    ]
    phone = video_phone(server, tmp_path / "baresip", "vp8")
    try:
        async with ffmpeg(blue):
            phone.command(f"/dial sip:{room}@127.0.0.1:{server.sip_port}")
            phone.wait_for("Call established", 10)
            phone.wait_for("video: receiving with resolution", 10)
            await asyncio.sleep(1.0)
            phone.command("/snapshot")
            phone.wait_for("wrote snapshot-recv", 5)
            (call,) = [p for p in server.roster(room) if p["kind"] == "sip"]
            assert call["video"]["codec"] == "VP8" and call["video"]["sending"] is not None

            # a screen joining now is shown the latest camera: baresip's
            screen_port = free_rtp_port()
            _, answer = server.join(
                room, vp8_offer(free_rtp_port(), screen_port, "recvonly"), name="screen"
            )
            sdp = tmp_path / "screen.sdp"
            sdp.write_text(vp8_offer(9, screen_port, "recvonly").replace("a=inactive", ""))
            raw = tmp_path / "screen.rgb"
            receive = [
                *("-protocol_whitelist", "file,udp,rtp", "-analyzeduration", "300000"),
                *("-i", str(sdp), "-frames:v", "3", "-f", "rawvideo", "-pix_fmt", "rgb24"),
                str(raw),
            ]
            async with ffmpeg(receive) as screen:
                await finished(screen, 20)
        phone.command("/hangup")
        phone.wait_for("terminated", 5)
    finally:
        phone.stop()
        server.client.delete(f"/api/v1/rooms/{room}")
    (received,) = (tmp_path / "baresip").glob("snapshot-recv-*.png")
    assert np.abs(picture(received).reshape(-1, 3).mean(axis=0) - BLUE).max() < 40
    (sent,) = (tmp_path / "baresip").glob("snapshot-send-*.png")
    assert_bars(picture(sent))  # what baresip's camera shows, the reference for the screen
    frames = np.frombuffer(raw.read_bytes(), dtype=np.uint8).reshape(3, 240, 320, 3)
    assert_bars(frames[-1].astype(float))


@pytest.mark.skipif(
    not (Path(MODULES) / "avcodec.so").exists(), reason="Debian package baresip-ffmpeg"
)
async def test_baresip_in_h264_sees_the_composed_picture_without_itself(
    server: ServerProcess, tmp_path: Path
) -> None:
    """baresip with its avcodec module (H.264, as hardware terminals send) gets the room's
    composed picture: its variant leaves its own camera out, so it sees only the room's blue
    camera, and its own camera (bars) is a room source in H.264."""
    room = "baresip-h264"
    created = server.client.post(
        "/api/v1/rooms",
        json={
            "name": room,
            "video": {"layout": {"kind": "grid"}, "width": 320, "height": 180, "fps": 10},
        },
    )
    assert created.status_code == 201, created.text
    camera_audio, camera_port = free_rtp_port(), free_rtp_port()
    _, answer = server.join(room, offer(camera_audio, camera_port, "sendonly"), name="cam")
    blue = [
        *("-re", "-f", "lavfi", "-i", "color=c=blue:s=320x180:r=10", "-t", "40"),
        *("-c:v", "libx264", "-g", "5", "-pix_fmt", "yuv420p"),
        *("-payload_type", "96", "-f", "rtp"),
        f"rtp://127.0.0.1:{answered_port(answer)}?localrtpport={camera_port}",
    ]
    phone = video_phone(server, tmp_path / "baresip", "avcodec")
    try:
        async with ffmpeg(blue):
            phone.command(f"/dial sip:{room}@127.0.0.1:{server.sip_port}")
            phone.wait_for("Call established", 10)
            phone.wait_for("video: receiving with resolution", 20)
            await asyncio.sleep(2.0)  # past the composed picture's first frames
            phone.command("/snapshot")
            phone.wait_for("wrote snapshot-recv", 5)
            (call,) = [p for p in server.roster(room) if p["kind"] == "sip"]
            assert call["video"]["codec"] == "H264", call["video"]
            assert call["video"]["picture"] == "composed", call["video"]
        phone.command("/hangup")
        phone.wait_for("terminated", 5)
    finally:
        phone.stop()
        server.client.delete(f"/api/v1/rooms/{room}")
    (received,) = (tmp_path / "baresip").glob("snapshot-recv-*.png")
    image = picture(received)
    height, width = image.shape[:2]
    centre = image[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4]
    assert np.abs(centre.reshape(-1, 3).mean(axis=0) - BLUE).max() < 50  # the others, not itself
