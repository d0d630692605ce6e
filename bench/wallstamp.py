"""A frame stamp that survives a wall: the source number and frame index drawn into a source
picture as big black and white blocks, read back from the wall's output.

The stamp is a row of `BLOCKS` blocks near the picture's top left (clear of the label the wall
draws at a tile's bottom left), and under it the same row inverted: a bit is 1 where the upper
block is brighter than the lower one. Reading compares the two blocks of each bit, so it needs
no threshold and does not care about the background colour; a bit whose two blocks differ by
less than `MIN_CONTRAST` makes the whole stamp unreadable. The blocks are 1/26 of the picture's
width (48 px at 1280), so they stay 24 px wide in a 640x360 tile and are read from their middle
half, far from the edges that scaling and x264 blur.

Bits, left to right: sync 1 0 1, the source number (`SOURCE_BITS`), the frame index
(`FRAME_BITS`), one parity bit (even, over source and frame bits), sync 0 1 0. A stamp that
fails the sync or the parity is unreadable, never guessed.

`source_picture()` draws the whole test picture: a colour of its own per source, a moving
texture (so the stream costs what a camera's does to decode, not what a flat colour does) and
the stamp."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mixer.canvas import fit

Plane = npt.NDArray[np.uint8]

SYNC_HEAD = (1, 0, 1)
SYNC_TAIL = (0, 1, 0)
SOURCE_BITS = 5
FRAME_BITS = 12
BLOCKS = len(SYNC_HEAD) + SOURCE_BITS + FRAME_BITS + 1 + len(SYNC_TAIL)  # 24
MAX_SOURCES = 1 << SOURCE_BITS
MAX_FRAMES = 1 << FRAME_BITS
BLACK, WHITE = 16, 235  # limited-range luma
# Luma difference between a bit's two blocks below which the stamp is unreadable: after a
# downscale and two x264 encodes 219 shrinks to about 150; a block cut by the letterbox or
# covered by something else falls far below.
MIN_CONTRAST = 60


def stamp_bits(source: int, frame: int) -> list[int]:
    """The BLOCKS bits of a stamp. Raises ValueError for a source or frame out of range."""
    if not 0 <= source < MAX_SOURCES or not 0 <= frame < MAX_FRAMES:
        raise ValueError(f"stamp ({source}, {frame}) out of range")
    payload = [(source >> i) & 1 for i in reversed(range(SOURCE_BITS))]
    payload += [(frame >> i) & 1 for i in reversed(range(FRAME_BITS))]
    return [*SYNC_HEAD, *payload, sum(payload) & 1, *SYNC_TAIL]


def parse_bits(bits: list[int]) -> tuple[int, int] | None:
    """(source, frame) from BLOCKS bits, or None when the sync or the parity is wrong."""
    head, tail = len(SYNC_HEAD), len(SYNC_TAIL)
    if len(bits) != BLOCKS or tuple(bits[:head]) != SYNC_HEAD:
        return None
    if tuple(bits[-tail:]) != SYNC_TAIL:
        return None
    payload = bits[head : head + SOURCE_BITS + FRAME_BITS]
    if sum(payload) & 1 != bits[head + SOURCE_BITS + FRAME_BITS]:
        return None
    source = int("".join(map(str, payload[:SOURCE_BITS])), 2)
    frame = int("".join(map(str, payload[SOURCE_BITS:])), 2)
    return source, frame


@dataclass(frozen=True, slots=True)
class StampGeometry:
    """Where the stamp lies in a source picture of `width` x `height`: blocks of `block` px
    from (`x`, `y`), the inverted row right under the first."""

    width: int
    height: int

    @property
    def block(self) -> int:
        return max(4, (self.width // (BLOCKS + 2)) & ~1)

    @property
    def x(self) -> int:
        return self.block

    @property
    def y(self) -> int:
        return self.block

    def check(self) -> None:
        """Raises ValueError when the picture is too small for a stamp clear of the label."""
        if self.y + 2 * self.block > self.height // 2 or self.width < 4 * (BLOCKS + 2):
            raise ValueError(f"a {self.width}x{self.height} picture is too small for a stamp")


def write_stamp(luma: Plane, geometry: StampGeometry, source: int, frame: int) -> None:
    """Draws the stamp of (source, frame) into a source picture's luma plane (in place)."""
    b, x0, y0 = geometry.block, geometry.x, geometry.y
    for i, bit in enumerate(stamp_bits(source, frame)):
        x = x0 + i * b
        luma[y0 : y0 + b, x : x + b] = WHITE if bit else BLACK
        luma[y0 + b : y0 + 2 * b, x : x + b] = BLACK if bit else WHITE


def picture_rect(
    tile: tuple[int, int, int, int], source_width: int, source_height: int
) -> tuple[int, int, int, int]:
    """Where a source picture lands in a wall tile (x, y, w, h in canvas pixels): the
    letterbox of `mixer.canvas.fit`, as the painter computes it."""
    x, y, w, h = tile
    ox, oy, pw, ph = fit(source_width, source_height, w, h)
    return x + ox, y + oy, pw, ph


class StampReader:
    """Reads the stamp of a source picture of `geometry` shown at `rect` of an output frame
    (canvas pixels, as from `picture_rect`). Precomputes the sample windows once."""

    def __init__(self, geometry: StampGeometry, rect: tuple[int, int, int, int]) -> None:
        px, py, pw, ph = rect
        sx, sy = pw / geometry.width, ph / geometry.height
        b = geometry.block
        half = max(1, round(b * min(sx, sy) / 4))  # the middle half of a block
        self.windows: list[tuple[int, int, int, int]] = []  # top row then bottom row
        for row in range(2):
            cy = py + (geometry.y + (row + 0.5) * b) * sy
            for i in range(BLOCKS):
                cx = px + (geometry.x + (i + 0.5) * b) * sx
                self.windows.append(
                    (round(cy) - half, round(cy) + half, round(cx) - half, round(cx) + half)
                )

    def read(self, luma: Plane) -> tuple[int, int] | None:
        """(source, frame) from an output frame's luma plane, or None when unreadable."""
        means = [float(luma[y0:y1, x0:x1].mean()) for y0, y1, x0, x1 in self.windows]
        bits = []
        for top, bottom in zip(means[:BLOCKS], means[BLOCKS:], strict=True):
            if abs(top - bottom) < MIN_CONTRAST:
                return None
            bits.append(1 if top > bottom else 0)
        return parse_bits(bits)


# Colours of the sources (BT.601 chroma), one per source number, around the hue wheel.
def source_chroma(source: int) -> tuple[int, int]:
    angle = 2 * np.pi * ((source * 0.381966) % 1.0)  # golden-ratio steps: neighbours differ
    return int(128 + 90 * np.cos(angle)), int(128 + 90 * np.sin(angle))


class SourcePictures:
    """The test pictures of one source (yuv420p planes), frame index `k` of a loop of
    `frames`: the source's own colour, a texture moving `SPEED` px per frame, the stamp."""

    SPEED = 4
    GRAIN = 8  # texture cells of GRAIN x GRAIN px: x264 codes them like camera detail

    def __init__(self, source: int, width: int, height: int, frames: int) -> None:
        self.source = source
        self.geometry = StampGeometry(width, height)
        self.geometry.check()
        if frames > MAX_FRAMES:
            raise ValueError(f"a stamp counts at most {MAX_FRAMES} frames per loop")
        rng = np.random.default_rng(1000 + source)
        cells_w = (width + frames * self.SPEED) // self.GRAIN + 2
        cells = rng.integers(0, 96, size=(height // self.GRAIN + 1, cells_w), dtype=np.uint8)
        self._texture = np.repeat(np.repeat(cells, self.GRAIN, 0), self.GRAIN, 1)[:height]
        self._ramp = np.linspace(40, 100, width, dtype=np.float32).astype(np.uint8)
        self.u, self.v = source_chroma(source)

    def planes(self, k: int) -> tuple[Plane, Plane, Plane]:
        w, h = self.geometry.width, self.geometry.height
        shift = k * self.SPEED
        y = self._texture[:, shift : shift + w] + self._ramp[None, :]
        y = np.ascontiguousarray(y)
        write_stamp(y, self.geometry, self.source, k)
        u = np.full((h // 2, w // 2), self.u, dtype=np.uint8)
        v = np.full((h // 2, w // 2), self.v, dtype=np.uint8)
        return y, u, v
