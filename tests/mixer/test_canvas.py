import logging
import time

import av
import numpy as np
import pytest

from mixer.canvas import CanvasPainter, fit, frame_planes
from mixer.labels import SLATE_RGB, rgb_to_yuv, yuv_to_rgb
from mixer.layout import Canvas, Layout, Tile, resolve

log = logging.getLogger(__name__)

HD = Canvas(1920, 1080, 25)
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 40, 220),
    "yellow": (230, 220, 20),
    "magenta": (200, 30, 200),
    "cyan": (20, 200, 210),
    "orange": (240, 140, 20),
    "white": (235, 235, 235),
    "grey": (120, 120, 120),
}


def solid(rgb: tuple[int, int, int], width: int = 640, height: int = 360) -> av.VideoFrame:
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[...] = rgb
    return av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")


def rgb_at(frame: av.VideoFrame, x: int, y: int) -> np.ndarray:
    Y, U, V = frame_planes(frame)
    return yuv_to_rgb([Y[y, x], U[y // 2, x // 2], V[y // 2, x // 2]])


def assert_colour(frame: av.VideoFrame, x: int, y: int, rgb: tuple[int, int, int]) -> None:
    got = rgb_at(frame, x, y)
    assert np.all(np.abs(got - np.array(rgb)) <= 12), (x, y, got, rgb)


def painter() -> CanvasPainter:
    return CanvasPainter(HD.width, HD.height, hold_s=2.0)


def unlabelled(tiles: list[Tile]) -> list[Tile]:
    return [Tile(t.x, t.y, t.w, t.h, t.source_id, "") for t in tiles]


def test_each_solid_source_lands_in_its_grid_cell() -> None:
    p = painter()
    names = list(COLOURS)
    for name in names:
        p.push(name, solid(COLOURS[name]), now=0.0)
    tiles = resolve(Layout("grid"), HD, names, None, None)
    out = p.paint(tiles, now=0.0)
    assert (out.width, out.height, out.format.name) == (1920, 1080, "yuv420p")
    for tile in tiles:
        assert tile.source_id is not None
        assert_colour(out, tile.x + tile.w // 2, tile.y + tile.h // 2, COLOURS[tile.source_id])


def test_numpy_yuv_planes_are_accepted_as_a_source_frame() -> None:
    p = painter()
    yy, uu, vv = (int(round(float(c))) for c in rgb_to_yuv(COLOURS["orange"]))
    planes = (
        np.full((360, 640), yy, np.uint8),
        np.full((180, 320), uu, np.uint8),
        np.full((180, 320), vv, np.uint8),
    )
    p.push("a", planes, now=0.0)
    out = p.paint(unlabelled(resolve(Layout("grid"), HD, ["a"], None, None)), now=0.0)
    assert_colour(out, 960, 540, COLOURS["orange"])


def test_a_4_by_3_source_is_pillarboxed_in_a_16_by_9_tile() -> None:
    assert fit(640, 480, 1920, 1080) == (240, 0, 1440, 1080)
    p = painter()
    p.push("a", solid(COLOURS["green"], 640, 480), now=0.0)
    out = p.paint(unlabelled(resolve(Layout("grid"), HD, ["a"], None, None)), now=0.0)
    assert_colour(out, 960, 540, COLOURS["green"])
    assert_colour(out, 100, 540, (0, 0, 0))  # left bar
    assert_colour(out, 1820, 540, (0, 0, 0))  # right bar
    assert_colour(out, 250, 540, COLOURS["green"])


def test_a_lost_source_holds_its_last_frame_then_shows_the_slate() -> None:
    p = painter()
    p.push("a", solid(COLOURS["red"]), now=0.0)
    tiles = unlabelled(resolve(Layout("grid"), HD, ["a", "b"], None, None))
    held = p.paint(tiles, now=1.9)
    assert_colour(held, 480, 540, COLOURS["red"])
    # "b" never sent a frame: slate from the start (corner, away from the text).
    assert_colour(held, 960 + 20, 20, SLATE_RGB)
    lost = p.paint(tiles, now=2.1)
    assert_colour(lost, 20, 20, SLATE_RGB)
    # The slate text is drawn: bright pixels near the middle of the tile.
    Y = frame_planes(lost)[0]
    assert Y[400:680, 100:860].max() > 150
    # The source comes back.
    p.push("a", solid(COLOURS["blue"]), now=3.0)
    assert_colour(p.paint(tiles, now=3.0), 480, 540, COLOURS["blue"])


def test_each_source_is_scaled_once_per_size_and_only_when_it_sends_a_new_frame() -> None:
    p = painter()
    p.push("a", solid(COLOURS["red"]), now=0.0)
    same_size = [Tile(0, 0, 640, 360, "a", ""), Tile(640, 0, 640, 360, "a", "")]
    p.paint(same_size, now=0.0)
    assert p.scales == 1
    p.paint(same_size, now=0.04)
    assert p.scales == 1  # no new frame: the cached picture is reused
    p.push("a", solid(COLOURS["blue"]), now=0.05)
    out = p.paint([*same_size, Tile(0, 360, 1280, 720, "a", "")], now=0.08)
    assert p.scales == 3  # the new frame at two sizes
    assert_colour(out, 960, 180, COLOURS["blue"])
    assert_colour(out, 640, 720, COLOURS["blue"])


def test_switching_layouts_between_frames_repaints_the_new_geometry() -> None:
    p = painter()
    names = ["red", "green", "blue", "yellow"]
    for name in names:
        p.push(name, solid(COLOURS[name]), now=0.0)
    for kind in ["grid", "focus", "pip", "grid", "focus"]:
        tiles = resolve(Layout(kind), HD, names, "blue", "red")
        out = p.paint(tiles, now=0.0)
        big = tiles[0]
        assert big.source_id == ("red" if kind == "grid" else "blue")
        assert_colour(out, big.x + big.w // 2, big.y + big.h // 3, COLOURS[big.source_id])


def test_canvas_size_must_be_even() -> None:
    with pytest.raises(ValueError, match="even"):
        CanvasPainter(1921, 1080)


def test_painting_nine_720p_sources_to_1080p_timing_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A sanity record, not a timed assertion: CI machines vary too much for a threshold.
    p = painter()
    names = list(COLOURS)
    tiles = resolve(Layout("grid"), HD, names, names[0], names[1])
    frames = {name: solid(COLOURS[name], 1280, 720) for name in names}
    rounds = 10
    spent = 0.0
    for i in range(rounds):
        for name in names:
            p.push(name, frames[name], now=i / 25)  # a new frame each round: all rescaled
        start = time.perf_counter()
        p.paint(tiles, now=i / 25)
        spent += time.perf_counter() - start
    per_frame_ms = spent / rounds * 1000
    with caplog.at_level(logging.INFO):
        log.info("painted 9 x 720p -> 1080p in %.1f ms per frame", per_frame_ms)
    print(f"9 x 720p -> 1080p: {per_frame_ms:.1f} ms per frame")
    assert p.scales == rounds * len(names)
