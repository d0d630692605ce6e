"""Tile labels and the no-signal slate, drawn with a real font and blended onto a yuv420p canvas.

Text is rendered by Pillow once per (text, talking, size) and kept as ready-to-blend planes, so
a frame only pays for the alpha blend. Names are often Chinese, so the font must have CJK
glyphs: `find_cjk_font()` asks fontconfig (scripts/bootstrap installs fonts-wqy-microhei);
without one, labels fall back to Pillow's default font and say so once in the log."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

Plane = npt.NDArray[np.uint8]
YuvPlanes = tuple[Plane, Plane, Plane]

TEXT_RGB = (255, 255, 255)
LABEL_BACK_RGBA = (0, 0, 0, 160)
TALKING_RGB = (0, 220, 60)
FLOOR_RGB = (255, 190, 0)
SLATE_RGB = (32, 40, 96)
SLATE_TEXT = "NO SIGNAL / 无信号"
# Fonts tried before asking fontconfig (Debian paths), best first.
KNOWN_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
CACHE_ENTRIES = 512

FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont


def rgb_to_yuv(rgb: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """BT.601 limited range (what swscale uses for yuv420p by default); last axis is RGB."""
    a = np.asarray(rgb, dtype=np.float32)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return np.stack([y, u, v], axis=-1)


def yuv_to_rgb(yuv: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Inverse of `rgb_to_yuv`, clipped to 0..255; last axis is YUV."""
    a = np.asarray(yuv, dtype=np.float32)
    y, u, v = (a[..., 0] - 16) * 255 / 219, a[..., 1] - 128, a[..., 2] - 128
    r = y + 1.596 * v
    g = y - 0.392 * u - 0.813 * v
    b = y + 2.017 * u
    out: npt.NDArray[np.float32] = np.clip(np.stack([r, g, b], axis=-1), 0, 255)
    return out


def find_cjk_font() -> str | None:
    """Path of a font with Chinese glyphs: $MEDIACORE_LABEL_FONT, a known Debian path, or the
    first that `fc-list :lang=zh` lists; None when the machine has none."""
    chosen = os.environ.get("MEDIACORE_LABEL_FONT")
    if chosen and os.path.exists(chosen):
        return chosen
    for path in KNOWN_CJK_FONTS:
        if os.path.exists(path):
            return path
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        out = subprocess.run(
            [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted(line.split(":")[0].strip() for line in out.splitlines() if line.strip())
    return files[0] if files else None


@dataclass(frozen=True, slots=True)
class Overlay:
    """An image ready to blend: Y at full size, U/V and their alpha at half size (even w, h).
    Alpha is 0..255."""

    y: Plane
    u: Plane
    v: Plane
    alpha: Plane
    alpha_c: Plane

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        return int(self.y.shape[0])


def overlay_from_rgba(image: Image.Image) -> Overlay:
    """Converts an RGBA image (cropped to even size) to blendable yuv420p planes."""
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
    h, w = rgba.shape[0] & ~1, rgba.shape[1] & ~1
    rgba = rgba[:h, :w]
    yuv = rgb_to_yuv(rgba[..., :3])
    alpha = rgba[..., 3]
    # Chroma: alpha-weighted 2x2 mean, so transparent pixels do not tint the edges.
    weights = alpha.reshape(h // 2, 2, w // 2, 2)
    total = weights.sum(axis=(1, 3))
    safe = np.maximum(total, 1e-3)
    u = (yuv[..., 1].reshape(h // 2, 2, w // 2, 2) * weights).sum(axis=(1, 3)) / safe
    v = (yuv[..., 2].reshape(h // 2, 2, w // 2, 2) * weights).sum(axis=(1, 3)) / safe

    def u8(a: npt.NDArray[np.float32]) -> Plane:
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)

    return Overlay(u8(yuv[..., 0]), u8(u), u8(v), u8(alpha), u8(total / 4))


def _mix(dst: Plane, src: Plane, alpha: Plane) -> None:
    a = alpha.astype(np.uint16)
    dst[...] = (
        (dst.astype(np.uint16) * (255 - a) + src.astype(np.uint16) * a + 127) // 255
    ).astype(np.uint8)


def blend(
    planes: YuvPlanes, overlay: Overlay, x: int, y: int, clip: tuple[int, int, int, int]
) -> None:
    """Alpha-blends `overlay` with its top left at even (x, y), cut to the even rectangle
    `clip` = (x, y, w, h) (a tile, or the canvas)."""
    cx, cy, cw, ch = clip
    x0, y0 = max(x, cx) & ~1, max(y, cy) & ~1
    x1 = min(x + overlay.width, cx + cw) & ~1
    y1 = min(y + overlay.height, cy + ch) & ~1
    if x1 <= x0 or y1 <= y0:
        return
    ox, oy = x0 - x, y0 - y
    w, h = x1 - x0, y1 - y0
    Y, U, V = planes
    _mix(
        Y[y0:y1, x0:x1],
        overlay.y[oy : oy + h, ox : ox + w],
        overlay.alpha[oy : oy + h, ox : ox + w],
    )
    cs = (slice(y0 // 2, y1 // 2), slice(x0 // 2, x1 // 2))
    os_ = (slice(oy // 2, (oy + h) // 2), slice(ox // 2, (ox + w) // 2))
    _mix(U[cs], overlay.u[os_], overlay.alpha_c[os_])
    _mix(V[cs], overlay.v[os_], overlay.alpha_c[os_])


def fill(planes: YuvPlanes, x: int, y: int, w: int, h: int, rgb: tuple[int, int, int]) -> None:
    """Paints the even rectangle (x, y, w, h) in one colour."""
    yy, uu, vv = (int(round(float(c))) for c in rgb_to_yuv(rgb))
    Y, U, V = planes
    Y[y : y + h, x : x + w] = yy
    U[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = uu
    V[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = vv


def draw_border(
    planes: YuvPlanes, x: int, y: int, w: int, h: int, rgb: tuple[int, int, int], thickness: int
) -> None:
    """A frame of even `thickness` just inside the even rectangle (x, y, w, h)."""
    t = max(2, thickness & ~1)
    t = min(t, w // 2 & ~1, h // 2 & ~1)
    if t <= 0:
        return
    fill(planes, x, y, w, t, rgb)
    fill(planes, x, y + h - t, w, t, rgb)
    fill(planes, x, y, t, h, rgb)
    fill(planes, x + w - t, y, t, h, rgb)


class LabelPainter:
    """Renders labels and slates once per distinct content and blends them onto canvases."""

    def __init__(self, font_path: str | None = None) -> None:
        self.font_path = font_path or find_cjk_font()
        if self.font_path is None:
            log.warning(
                "no font with Chinese glyphs found (install fonts-wqy-microhei or fonts-noto-cjk);"
                " labels use Pillow's default font and Chinese names will not show"
            )
        self._fonts: dict[int, FontType] = {}
        self._cache: OrderedDict[tuple[object, ...], Overlay] = OrderedDict()
        self.renders = 0  # distinct images rendered, for tests and /metrics

    def font(self, size_px: int) -> FontType:
        found = self._fonts.get(size_px)
        if found is None:
            if self.font_path is not None:
                found = ImageFont.truetype(self.font_path, size_px)
            else:
                found = ImageFont.load_default(size_px)
            self._fonts[size_px] = found
        return found

    def _cached(self, key: tuple[object, ...]) -> Overlay | None:
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
        return found

    def _store(self, key: tuple[object, ...], overlay: Overlay) -> Overlay:
        self.renders += 1
        self._cache[key] = overlay
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return overlay

    def label(self, text: str, talking: bool, size_px: int) -> Overlay:
        """A label box: optional green talking dot, then `text`, on a translucent black back."""
        key = ("label", text, talking, size_px)
        found = self._cached(key)
        if found is not None:
            return found
        font = self.font(size_px)
        pad = max(2, size_px // 4)
        dot = size_px * 6 // 10 if talking else 0
        gap = pad if talking else 0
        left, top, right, bottom = font.getbbox(text or " ")
        text_w, text_h = int(right - min(left, 0)), int(bottom - min(top, 0))
        width = pad + dot + gap + text_w + pad
        height = max(text_h, dot) + 2 * pad
        image = Image.new("RGBA", (width + width % 2, height + height % 2), LABEL_BACK_RGBA)
        draw = ImageDraw.Draw(image)
        if talking:
            dot_y = (height - dot) // 2
            draw.ellipse((pad, dot_y, pad + dot, dot_y + dot), fill=(*TALKING_RGB, 255))
        draw.text(
            (pad + dot + gap - min(left, 0), pad - min(top, 0)), text, font=font, fill=TEXT_RGB
        )
        return self._store(key, overlay_from_rgba(image))

    def slate(self, width: int, height: int) -> Overlay:
        """An opaque no-signal picture of the given even size."""
        key = ("slate", width, height)
        found = self._cached(key)
        if found is not None:
            return found
        image = Image.new("RGBA", (width, height), (*SLATE_RGB, 255))
        size = max(8, min(height // 8, width // 12))
        font = self.font(size)
        draw = ImageDraw.Draw(image)
        left, top, right, bottom = font.getbbox(SLATE_TEXT)
        x = (width - (right - left)) // 2 - left
        y = (height - (bottom - top)) // 2 - top
        draw.text((x, y), SLATE_TEXT, font=font, fill=(200, 200, 200))
        return self._store(key, overlay_from_rgba(image))

    def paint_tile_decorations(
        self,
        planes: YuvPlanes,
        tile: tuple[int, int, int, int],
        text: str,
        talking: bool,
        highlight: bool,
    ) -> None:
        """Draws the label at the tile's bottom left and, for the floor holder, a border."""
        x, y, w, h = tile
        border = max(2, (min(w, h) // 90) & ~1)
        if highlight:
            draw_border(planes, x, y, w, h, FLOOR_RGB, border)
        if not text and not talking:
            return
        size_px = max(12, min(48, h // 16))
        overlay = self.label(text, talking, size_px)
        margin = (border * 2 + 2) & ~1
        blend(planes, overlay, x + margin, y + h - margin - overlay.height, tile)
