"""A plain RTP video terminal made of ffmpeg processes, for the composed-picture tests.

A terminal sends and receives video on one port, as a hardware terminal does; the server takes
RTP only from the address the offer names. ffmpeg cannot send and receive on one port from two
processes, so a small relay owns the offered port: what the server sends there goes on to the
screen's port (an ffmpeg decoding through an SDP file), what the camera's ffmpeg sends to the
relay goes on to the server from the offered port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from tests.e2e.test_ffmpeg_interop import ffmpeg, finished, free_rtp_port


class Relay:
    """Owns the offered video port; forwards the server's packets to `screen_port` and the
    camera's to the server (known once the answer names its port: `server_port`)."""

    def __init__(self) -> None:
        self.port = free_rtp_port()
        self.screen_port = free_rtp_port()
        self.server_port = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.settimeout(0.2)
        self._running = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._running:
            try:
                data, source = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if source[1] == self.server_port:
                self._sock.sendto(data, ("127.0.0.1", self.screen_port))
            elif self.server_port:
                self._sock.sendto(data, ("127.0.0.1", self.server_port))

    def close(self) -> None:
        self._running = False
        self._thread.join(2)
        self._sock.close()


def screen_sdp(folder: Path, port: int) -> Path:
    sdp = folder / f"terminal-{port}.sdp"
    lines = [
        "v=0",
        "o=- 0 0 IN IP4 127.0.0.1",
        "s=terminal screen",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        f"m=video {port} RTP/AVP 96",
        "a=rtpmap:96 H264/90000",
        "a=fmtp:96 packetization-mode=1",
        "a=recvonly",
        "",
    ]
    sdp.write_text("\r\n".join(lines))
    return sdp


def screen_grab(sdp: Path, picture: Path, frames: int) -> list[str]:
    """ffmpeg arguments: decode `frames` frames, the last one left in `picture` (PNG) at the
    size it was sent."""
    return [
        *("-protocol_whitelist", "file,udp,rtp", "-analyzeduration", "300000"),
        *("-i", str(sdp), "-frames:v", str(frames), "-update", "1", str(picture)),
    ]


def colour_at(picture: Path, x: int, y: int) -> tuple[int, int, int]:
    """The mean colour of the 8x8 block around (x, y)."""
    with Image.open(picture) as image:
        pixels = np.asarray(image.convert("RGB"))[y - 4 : y + 4, x - 4 : x + 4]
    red, green, blue = pixels.reshape(-1, 3).mean(axis=0)
    return int(red), int(green), int(blue)


def picture_size(picture: Path) -> tuple[int, int]:
    with Image.open(picture) as image:
        return image.size


async def grab_until(
    sdp: Path, picture: Path, shows: Callable[[Path], bool], timeout: float = 40
) -> None:
    """Decode the screen's video (15 frames at a time, the last kept in `picture`) until
    `shows(picture)`; fails after `timeout` seconds (a composed picture starts with empty tiles
    until its cameras' first keyframes are in)."""
    deadline = time.monotonic() + timeout
    while True:
        await asyncio.sleep(1.0)
        async with ffmpeg(screen_grab(sdp, picture, 15)) as screen:
            await finished(screen, 20)
        if shows(picture):
            return
        assert time.monotonic() < deadline, f"the screen never showed what was wanted: {picture}"
