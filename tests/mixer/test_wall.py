"""The wall runner: painting at the wall's rate into real x264 encoders, measured after decoding."""

from __future__ import annotations

import threading
import time
from typing import Any

import av
import numpy as np
import pytest

from mixer import wallout
from mixer.labels import FLOOR_RGB, SLATE_RGB, TALKING_RGB
from mixer.layout import Layout, Region, parse_wall
from mixer.wall import Scene, WallRunner
from mixer.wallout import crop
from mixer.walltransport import PacketTransport

RGB = tuple[int, int, int]


class Screen:
    """Decodes what a PacketTransport sends, like a browser behind WHEP would."""

    def __init__(self) -> None:
        self.decoder = av.CodecContext.create("h264", "r")
        self.latest: np.ndarray[Any, Any] | None = None
        self.frames = 0
        self.pts: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, data: bytes, pts: int, keyframe: bool) -> None:
        with self.lock:
            self.pts.append(pts)
            for frame in self.decoder.decode(av.Packet(data)):
                self.latest = frame.to_ndarray(format="rgb24")
                self.frames += 1

    def colour(self, x: int, y: int, radius: int = 3) -> RGB:
        with self.lock:
            assert self.latest is not None
            patch = self.latest[y - radius : y + radius, x - radius : x + radius]
        mean = patch.reshape(-1, 3).mean(axis=0)
        return int(mean[0]), int(mean[1]), int(mean[2])


def near(colour: RGB, wanted: RGB, tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, wanted, strict=True))


def solid(rgb: RGB, width: int = 320, height: int = 180) -> av.VideoFrame:
    picture = np.zeros((height, width, 3), np.uint8)
    picture[:] = rgb
    return av.VideoFrame.from_ndarray(picture, format="rgb24")


def wait(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.02)


def wall_runner(screen: Screen, layout: dict[str, Any], fps: int = 25) -> WallRunner:
    wall = parse_wall(
        {
            "canvas": {"width": 640, "height": 360, "fps": fps},
            "layout": layout,
            "room": "r",
            "outputs": [{"kind": "whep"}],
        }
    )
    return WallRunner("test", wall, [PacketTransport(screen, 640, 360, fps)])


def feed(runner: WallRunner, frames: dict[str, RGB], seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for source_id, rgb in frames.items():
            runner.push(source_id, solid(rgb), time.monotonic())
        time.sleep(0.04)


def test_floor_holder_gets_a_border_and_the_speaker_a_talking_dot() -> None:
    screen = Screen()
    runner = wall_runner(screen, {"kind": "grid"})
    try:
        runner.set_scene(Scene(("a", "b"), speaker="a", floor="b", names={"a": "A", "b": "B"}))
        feed(runner, {"a": (0, 0, 255), "b": (0, 0, 255)}, 1.0)
        wait(lambda: screen.latest is not None)
        # tile b (320..640) is framed in the floor colour; tile a is not
        assert near(screen.colour(480, 1, 1), FLOOR_RGB, 60)
        assert not near(screen.colour(160, 1, 1), FLOOR_RGB, 60)
        # the talking dot: green pixels in the label of tile a only
        assert _green_pixels(screen, 0, 300, 200, 60) > 10
        assert _green_pixels(screen, 320, 300, 200, 60) == 0
    finally:
        runner.stop()


def _green_pixels(screen: Screen, x: int, y: int, w: int, h: int) -> int:
    assert screen.latest is not None
    region = screen.latest[y : y + h, x : x + w].astype(int)
    wanted = np.array(TALKING_RGB)
    return int((np.abs(region - wanted).max(axis=2) < 60).sum())


def test_layout_switch_changes_the_next_frames_without_a_new_keyframe() -> None:
    screen = Screen()
    runner = wall_runner(screen, {"kind": "grid"})
    try:
        runner.set_scene(Scene(("a", "b")))
        feed(runner, {"a": (255, 0, 0), "b": (0, 0, 255)}, 0.6)
        wait(lambda: screen.latest is not None and near(screen.colour(480, 180), (0, 0, 255)))
        sent_before = runner.outputs[0].frames_sent
        runner.set_layout(Layout("custom", regions=(Region(0, 0, 640, 360, "b"),)))
        feed(runner, {"a": (255, 0, 0), "b": (0, 0, 255)}, 0.6)
        assert near(screen.colour(160, 180), (0, 0, 255))
        assert runner.outputs[0].frames_sent > sent_before and runner.layout_switches == 1
        steps = set(np.diff(screen.pts[-10:]))
        assert steps == {3600}  # 25 fps on the 90 kHz clock, no gap at the switch
    finally:
        runner.stop()


def test_a_source_that_stops_is_held_then_replaced_by_the_slate() -> None:
    screen = Screen()
    runner = wall_runner(screen, {"kind": "grid-1"})
    runner.painter.hold_s = 0.5
    try:
        runner.set_scene(Scene(("a",)))
        feed(runner, {"a": (255, 0, 0)}, 0.5)
        wait(lambda: screen.latest is not None and near(screen.colour(320, 180), (255, 0, 0)))
        time.sleep(0.2)
        assert near(screen.colour(320, 180), (255, 0, 0))  # held
        wait(lambda: near(screen.colour(20, 20), SLATE_RGB, 30), 3)
    finally:
        runner.stop()


class FlakyTransport:
    """Refuses the first `failures` connections, like an RTMP server that is still starting."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.opens = 0
        self.sent = 0

    def open(self) -> None:
        self.opens += 1
        if self.opens <= self.failures:
            raise ConnectionRefusedError("Connection refused")

    def send(self, frame: av.VideoFrame) -> None:
        self.sent += 1

    def force_keyframe(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_an_output_that_cannot_connect_retries_with_backoff_and_reports_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wallout, "BACKOFF_INITIAL_S", 0.05)
    wall = parse_wall(
        {
            "canvas": {"width": 64, "height": 64, "fps": 25},
            "layout": {"kind": "grid"},
            "outputs": [{"kind": "rtmp", "url": "rtmp://127.0.0.1/x"}],
        }
    )
    states: list[tuple[str, str]] = []
    transport = FlakyTransport(failures=2)
    runner = WallRunner(
        "t", wall, [transport], on_output_state=lambda o, s, r: states.append((s, r))
    )
    try:
        wait(lambda: transport.sent >= 5)
    finally:
        runner.stop()
    assert states[0] == ("reconnecting", "Connection refused")
    assert ("live", "") in states and states[-1] == ("stopped", "")
    assert runner.outputs[0].reconnects == 2 and runner.frames_painted >= 5


def test_crop_copies_the_region_and_keeps_the_timestamp() -> None:
    canvas = np.zeros((64, 128, 3), np.uint8)
    canvas[:, 64:] = (0, 0, 255)
    frame = av.VideoFrame.from_ndarray(canvas, format="rgb24").reformat(format="yuv420p")
    frame.pts = 1234
    part = crop(frame, (64, 0, 64, 64))
    assert (part.width, part.height, part.pts) == (64, 64, 1234)
    r, g, b = (int(v) for v in part.to_ndarray(format="rgb24")[32, 32])
    assert near((r, g, b), (0, 0, 255), 20)
    assert crop(frame, (0, 0, 128, 64)) is frame
