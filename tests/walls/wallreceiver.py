"""Test helpers for walls: ffmpeg cameras of known colours, and a receiver that decodes an
output and measures what it shows (size, frame rate, the colour at a point)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from tests.ingest.test_field_sources import FFMPEG, H264, free_port
from tests.waiting import wait_for

RGB = tuple[int, int, int]


@contextmanager
def rtmp_camera(
    colour: str,
    size: str = "320x240",
    encoder: Sequence[str] = H264,
    *,
    url: str | None = None,
    sound: Sequence[str] = (),
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """An ffmpeg camera serving a plain `colour` picture over RTMP (`-listen 1`: one client,
    and it ends with that client's connection), encoded with the ffmpeg options `encoder`; at
    `url` (e.g. a camera coming back) or a free port; with `sound` (ffmpeg input and codec
    options) it sends audio too."""
    url = url or f"rtmp://127.0.0.1:{free_port()}/live/x"
    camera = ["-re", "-f", "lavfi", "-i", f"color=c={colour}:s={size}:r=25", *sound]
    command = [FFMPEG, "-hide_banner", "-loglevel", "error", *camera, *encoder]
    process = subprocess.Popen([*command, "-f", "flv", "-listen", "1", url])
    time.sleep(0.5)  # listening
    try:
        yield url, process
    finally:
        process.kill()
        process.wait()


class OutputReceiver:
    """Decodes a wall output (an SDP file for rtp, or any URL FFmpeg opens) on a thread."""

    def __init__(self, source: str | Path, options: dict[str, str] | None = None) -> None:
        self.frames = 0
        self.size: tuple[int, int] | None = None
        self.latest: npt.NDArray[np.uint8] | None = None
        self.arrivals: list[float] = []
        self.error: BaseException | None = None
        self._source = str(source)
        self._options = {"protocol_whitelist": "file,udp,rtp,tcp,rtmp", **(options or {})}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with av.open(self._source, options=self._options, timeout=10) as container:
                for frame in container.decode(video=0):
                    picture = frame.to_ndarray(format="rgb24")
                    with self._lock:
                        self.frames += 1
                        self.size = (frame.width, frame.height)
                        self.latest = picture
                        self.arrivals.append(time.monotonic())
                    if self._stop.is_set():
                        return
        except BaseException as error:  # reported by the test
            self.error = error

    def colour(self, x: int, y: int, radius: int = 4) -> RGB:
        """The mean colour around (x, y) of the latest picture."""
        with self._lock:
            assert self.latest is not None, f"no picture yet ({self.error!r})"
            patch = self.latest[y - radius : y + radius, x - radius : x + radius]
        mean = patch.reshape(-1, 3).mean(axis=0)
        return int(mean[0]), int(mean[1]), int(mean[2])

    def region(self, x: int, y: int, w: int, h: int) -> npt.NDArray[np.uint8]:
        with self._lock:
            assert self.latest is not None
            return self.latest[y : y + h, x : x + w].copy()

    def fps_over(self, seconds: float) -> float:
        """Frames per second received over the last `seconds`."""
        with self._lock:
            now = time.monotonic()
            recent = [t for t in self.arrivals if now - t <= seconds]
        return len(recent) / seconds

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


async def decode_recording(path: Path, frames: int = 25) -> OutputReceiver:
    """What a listener (ffmpeg writing an output to a file) recorded, decoded: at least
    `frames` pictures, the receiver stopped."""
    receiver = OutputReceiver(path)
    await wait_for(lambda: receiver.frames >= frames, 10)
    receiver.stop()
    return receiver


def near(colour: RGB, wanted: RGB, tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, wanted, strict=True))
