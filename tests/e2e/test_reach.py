"""Reach, on a real server (media workers, its default), with an H.265 field camera (ffmpeg,
x265 over SRT). Two plain RTP legs that negotiated H.264 see the room's composed picture (the
camera's colour): the leg whose offer says `b=TIAS:150000` gets the quarter tier and the other
the full one, and the bytes each receives differ accordingly. Two WHEP players asking for the
camera itself get its H.264 twin, one transcode in a video process, which the source listing
and /metrics show."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import ServerProcess
from tests.e2e.test_conference_video import RED, whep_player
from tests.e2e.test_ffmpeg_interop import ffmpeg, free_rtp_port
from tests.e2e.test_video_legs import offer, participant
from tests.e2e.videoterminal import colour_at, grab_until, picture_size, screen_sdp
from tests.walls.wallreceiver import free_port, near

pytestmark = pytest.mark.slow

SIZE = (320, 180)
# A red picture with moving grain: x265 and x264 must spend bits on it, so a tier's cap shows.
CAMERA = [
    *("-re", "-f", "lavfi", "-i", f"color=c=red:s={SIZE[0]}x{SIZE[1]}:r=10"),
    *("-vf", "noise=alls=24:allf=t", "-pix_fmt", "yuv420p"),
    *("-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency"),
    *("-x265-params", "keyint=10:min-keyint=10:scenecut=0:log-level=error"),
]


def centre(picture: Path) -> tuple[int, int]:
    width, height = picture_size(picture)
    return width // 2, height // 2


def recvonly_leg(server: ServerProcess, room: str, name: str, tias: int = 0) -> tuple[str, int]:
    """A plain RTP leg that only receives H.264; returns its id and its video port."""
    port = free_rtp_port()
    text = offer(free_rtp_port(), port, "recvonly", bandwidth=tias // 1000 if tias else 0)
    if tias:
        text = text.replace(f"b=AS:{tias // 1000}", f"b=TIAS:{tias}")
    pid, _answer = server.join(room, text, name=name)
    return pid, port


@contextlib.contextmanager
def rtp_counter(port: int) -> Iterator[dict[str, Any]]:
    """Counts the RTP bytes arriving at `port` from when `counted["start"]` is set."""
    counted: dict[str, Any] = {"bytes": 0, "packets": 0, "start": None}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.setblocking(False)

    async def read() -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(sock, 2048)
            if counted["start"] is not None:
                counted["bytes"] += len(data)
                counted["packets"] += 1

    task = asyncio.ensure_future(read())
    try:
        yield counted
    finally:
        task.cancel()
        sock.close()


@contextlib.asynccontextmanager
async def h265_camera(
    server: ServerProcess, room: str
) -> AsyncIterator[tuple[str, Callable[[], dict[str, Any]]]]:
    """The x265 camera over SRT added to `room` and live: its source id, and a function that
    reads its entry in the room's source listing."""
    srt_port = free_port()
    camera = [*CAMERA, "-f", "mpegts", f"srt://127.0.0.1:{srt_port}?mode=listener"]
    async with ffmpeg(camera):
        await asyncio.sleep(0.5)  # listening
        added = server.client.post(
            f"/api/v1/rooms/{room}/sources",
            json={"url": f"srt://127.0.0.1:{srt_port}", "name": "H265 drone", "audio": False},
        )
        assert added.status_code == 201, added.text
        cam = added.json()["id"]

        def listed() -> dict[str, Any]:
            entries = server.client.get(f"/api/v1/rooms/{room}/sources").json()
            return dict(next(e for e in entries if e["id"] == cam))

        await until(lambda: listed()["codec"] == "H265", 15, "the H.265 camera live")
        yield cam, listed


async def until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.2)


async def test_an_h265_camera_reaches_h264_legs_each_at_the_tier_its_bandwidth_allows(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    async with h265_camera(server, room) as (cam, listed):
        narrow, narrow_port = recvonly_leg(server, room, "narrow", tias=150_000)
        wide, wide_port = recvonly_leg(server, room, "wide")

        def tiers() -> dict[str, str]:
            room_entry = server.client.get(f"/api/v1/rooms/{room}").json()
            return dict(room_entry.get("composed", {}).get("tiers", {}))

        with rtp_counter(narrow_port) as slow, rtp_counter(wide_port) as fast:
            await until(
                lambda: tiers().get(narrow) == "quarter" and tiers().get(wide) == "full",
                20,
                "each leg on the composed picture at its tier",
            )
            await asyncio.sleep(2.0)  # both past their first keyframe, encoders settled
            slow["start"] = fast["start"] = time.monotonic()
            await asyncio.sleep(5.0)
            seconds = time.monotonic() - slow["start"]
            narrow_rate = slow["bytes"] * 8 / seconds
            wide_rate = fast["bytes"] * 8 / seconds
        assert participant(server, room, narrow)["video"]["picture"] == "composed"
        # the picture: ffmpeg decodes what a third leg, narrow too, receives
        _screen, screen_port = recvonly_leg(server, room, "screen", tias=150_000)
        picture = tmp_path / "screen.png"
        await grab_until(
            screen_sdp(tmp_path, screen_port),
            picture,
            lambda shot: near(colour_at(shot, *centre(shot)), RED),
        )
        # two WHEP players asking for the camera itself share its H.264 twin
        players = [await whep_player(server, room, cam) for _ in range(2)]
        try:
            for _player, seen in players:
                await until(
                    lambda seen=seen: bool(seen) and seen[0].shows((160, 90, RED)),
                    20,
                    "the twin in a WHEP player",
                )
            entry = listed()
            metrics = server.metrics()
        finally:
            for player, _seen in players:
                await player.close()
    print(f"quarter tier {narrow_rate / 1000:.0f} kbit/s, full tier {wide_rate / 1000:.0f} kbit/s")
    assert wide_rate > 2.0 * narrow_rate, (narrow_rate, wide_rate)
    transcode = entry["transcode"]
    assert transcode["source"] == f"{cam}~h264" and transcode["running"]
    assert set(transcode["tiers"]) == {"full"}  # browsers take the full tier: one encode
    assert (transcode["width"], transcode["height"]) == SIZE
    assert "mediacore_transcodes 1.0" in metrics
    assert "mediacore_transcode_encodes 1.0" in metrics
