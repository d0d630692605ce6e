import logging

import numpy as np
import pytest

from mixer.canvas import CanvasPainter, frame_planes
from mixer.labels import FLOOR_RGB, TALKING_RGB, LabelPainter, find_cjk_font, yuv_to_rgb
from mixer.layout import Tile

CJK_FONT = find_cjk_font()
needs_cjk_font = pytest.mark.skipif(
    CJK_FONT is None, reason="no font with Chinese glyphs (scripts/bootstrap installs one)"
)


def black_canvas(width: int = 640, height: int = 360) -> tuple[np.ndarray, ...]:
    return (
        np.full((height, width), 16, np.uint8),
        np.full((height // 2, width // 2), 128, np.uint8),
        np.full((height // 2, width // 2), 128, np.uint8),
    )


def has_colour(planes: tuple[np.ndarray, ...], rgb: tuple[int, int, int], tol: int = 24) -> bool:
    Y, U, V = planes
    yuv = np.stack([Y[::2, ::2], U, V], axis=-1)
    return bool(np.any(np.all(np.abs(yuv_to_rgb(yuv) - np.array(rgb)) <= tol, axis=-1)))


@needs_cjk_font
def test_the_found_font_has_chinese_glyphs() -> None:
    labels = LabelPainter()
    font = labels.font(32)
    # A font without the glyph draws the same .notdef box for every character.
    masks = [bytes(font.getmask(ch)) for ch in "消防指"]
    assert len(set(masks)) == 3 and all(any(m) for m in masks)


@needs_cjk_font
def test_a_chinese_name_renders_glyph_pixels_in_the_label_area() -> None:
    labels = LabelPainter()
    planes = black_canvas()
    labels.paint_tile_decorations(planes, (0, 0, 640, 360), "消防一队 张伟", False, False)
    Y = planes[0]
    label_area = Y[300:360, 0:320]
    glyph_pixels = int((label_area > 180).sum())
    assert glyph_pixels > 100
    assert int((Y[0:200, :] != 16).sum()) == 0  # nothing drawn above the label
    # Different text gives different pixels (the glyphs are real, not boxes).
    other = black_canvas()
    labels.paint_tile_decorations(other, (0, 0, 640, 360), "公安二队 李娜", False, False)
    assert not np.array_equal(other[0], planes[0])


def test_labels_are_rendered_once_per_text_and_reused() -> None:
    labels = LabelPainter()
    for _ in range(5):
        labels.paint_tile_decorations(black_canvas(), (0, 0, 640, 360), "unit 1", False, False)
    assert labels.renders == 1
    labels.paint_tile_decorations(black_canvas(), (0, 0, 640, 360), "unit 1", True, False)
    assert labels.renders == 2


def test_the_talking_indicator_is_a_green_dot() -> None:
    labels = LabelPainter()
    quiet, talking = black_canvas(), black_canvas()
    labels.paint_tile_decorations(quiet, (0, 0, 640, 360), "unit 1", False, False)
    labels.paint_tile_decorations(talking, (0, 0, 640, 360), "unit 1", True, False)
    assert not has_colour(quiet, TALKING_RGB)
    assert has_colour(talking, TALKING_RGB)


def test_the_floor_holder_gets_a_highlight_border() -> None:
    labels = LabelPainter()
    planes = black_canvas()
    labels.paint_tile_decorations(planes, (0, 0, 640, 360), "", False, True)
    Y, U, V = planes
    for x, y in [(0, 0), (320, 0), (639, 180), (320, 359), (0, 180)]:
        yuv = [Y[y, x], U[y // 2, x // 2], V[y // 2, x // 2]]
        assert np.all(np.abs(yuv_to_rgb(yuv) - np.array(FLOOR_RGB)) <= 12), (x, y)
    assert Y[180, 320] == 16  # inside untouched


def test_painted_canvas_carries_the_border_only_on_the_floor_holder() -> None:
    painter = CanvasPainter(1280, 720)
    tiles = [
        Tile(0, 0, 640, 720, None, "指挥长", highlight=True),
        Tile(640, 0, 640, 720, None, "unit 2"),
    ]
    planes = frame_planes(painter.paint(tiles, now=0.0))
    left = tuple(p[:, : p.shape[1] // 2] for p in planes)
    right = tuple(p[:, p.shape[1] // 2 :] for p in planes)
    assert has_colour(left, FLOOR_RGB, tol=12)
    assert not has_colour(right, FLOOR_RGB, tol=12)


def test_without_a_font_file_the_default_font_is_used_with_a_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mixer.labels.find_cjk_font", lambda: None)
    with caplog.at_level(logging.WARNING, logger="mixer.labels"):
        labels = LabelPainter()
    assert "no font with Chinese glyphs" in caplog.text
    planes = black_canvas()
    labels.paint_tile_decorations(planes, (0, 0, 640, 360), "unit 7", False, False)
    assert int((planes[0][300:360, :] > 180).sum()) > 20
