"""Paints one yuv420p canvas from the latest decoded frame of each source and a list of tiles.

Each source is scaled once per tile size and only when it delivered a new frame (sources often
run slower than the wall), through one cached swscale context per (source, size). The scaling
happens in `push()`, on the thread that delivers the picture (a source's decoder thread), for
every size the last paints used; `paint()` then only copies, so a 4K wall of 16 cameras paints
in a few milliseconds and the scaling spreads over the decoder threads (PyAV's reformat
releases the GIL). A size not seen before is scaled by the paint itself, once. A picture keeps
its aspect (letterboxed on black). A source that stops keeps its last frame for `hold_s`
seconds, then shows the no-signal slate; so does a tile bound to nobody."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from mixer.labels import LabelPainter, Plane, YuvPlanes, fill
from mixer.layout import Tile

BACKGROUND_RGB = (0, 0, 0)
DEFAULT_HOLD_S = 3.0
# Scaled pictures not used for this many paints are dropped (their tile went away).
IDLE_PAINTS = 50


def frame_planes(frame: av.VideoFrame) -> YuvPlanes:
    """Writable numpy views (no copy) of a yuv420p frame's Y, U and V planes."""
    cw, ch = (frame.width + 1) // 2, (frame.height + 1) // 2
    views = []
    for index, (w, h) in enumerate(((frame.width, frame.height), (cw, ch), (cw, ch))):
        plane = frame.planes[index]
        raw = np.frombuffer(memoryview(plane), dtype=np.uint8)
        views.append(raw[: plane.line_size * h].reshape(h, plane.line_size)[:, :w])
    return views[0], views[1], views[2]


def frame_from_planes(y: Plane, u: Plane, v: Plane) -> av.VideoFrame:
    """An av.VideoFrame from yuv420p planes (even width and height)."""
    h, w = y.shape
    return av.VideoFrame.from_ndarray(
        np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(h * 3 // 2, w),
        format="yuv420p",
    )


def fit(src_w: int, src_h: int, box_w: int, box_h: int) -> tuple[int, int, int, int]:
    """Letterbox: (x, y, w, h) inside the box keeping the source aspect, all even."""
    scale = min(box_w / src_w, box_h / src_h)
    w = min(box_w, max(2, int(round(src_w * scale)) & ~1))
    h = min(box_h, max(2, int(round(src_h * scale)) & ~1))
    return ((box_w - w) // 2) & ~1, ((box_h - h) // 2) & ~1, w, h


@dataclass(slots=True)
class _Source:
    frame: av.VideoFrame
    received_at: float
    serial: int


@dataclass(slots=True)
class _Scaled:
    reformatter: VideoReformatter
    # push() (a decoder thread) and paint() (the wall's thread) may scale the same entry
    lock: threading.Lock = field(default_factory=threading.Lock)
    serial: int = -1
    frame: av.VideoFrame | None = None  # owns the memory `picture` views
    picture: YuvPlanes | None = None
    last_paint: int = 0


class CanvasPainter:
    """Holds the latest frame of each source and paints canvases of one size.

    Feed decoded frames with `push()`, call `paint(tiles, now)` once per output tick; take the
    returned frame to the encoders (it is new each time, never reused)."""

    def __init__(
        self,
        width: int,
        height: int,
        *,
        hold_s: float = DEFAULT_HOLD_S,
        labels: LabelPainter | None = None,
    ) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"canvas size must be even for yuv420p, got {width}x{height}")
        self.width = width
        self.height = height
        self.hold_s = hold_s
        self.labels = labels if labels is not None else LabelPainter()
        self._sources: dict[str, _Source] = {}
        self._scaled: dict[tuple[str, int, int], _Scaled] = {}
        self._serials = itertools.count(1)
        self._paints = 0
        self.scales = 0  # swscale calls, for tests and /metrics

    def push(self, source_id: str, frame: av.VideoFrame | YuvPlanes, now: float) -> None:
        """Stores `frame` (an av.VideoFrame of any format, or yuv420p planes) as the source's
        latest picture, received at `now` (seconds, monotonic)."""
        if not isinstance(frame, av.VideoFrame):
            frame = frame_from_planes(*frame)
        serial = next(self._serials)  # atomic: decoder threads push concurrently
        source = self._sources[source_id] = _Source(frame, now, serial)
        # list() copies the dict in one step under the GIL: paint() may add sizes meanwhile
        for (sid, w, h), scaled in list(self._scaled.items()):
            if sid == source_id:
                self._scale(scaled, source, w, h)

    def forget(self, source_id: str) -> None:
        """Drops a source that left; its tiles show the slate from the next paint."""
        self._sources.pop(source_id, None)
        for key in [k for k in self._scaled if k[0] == source_id]:
            del self._scaled[key]

    def _picture(self, source_id: str, w: int, h: int) -> YuvPlanes | None:
        source = self._sources[source_id]
        key = (source_id, w, h)
        scaled = self._scaled.get(key)
        if scaled is None:
            scaled = self._scaled[key] = _Scaled(VideoReformatter())
        scaled.last_paint = self._paints
        if scaled.picture is not None and scaled.lock.locked():
            # a decoder thread is scaling a newer picture right now: show the one before
            # rather than make the wall's frame wait for it
            return scaled.picture
        return self._scale(scaled, source, w, h)

    def _scale(self, scaled: _Scaled, source: _Source, w: int, h: int) -> YuvPlanes | None:
        with scaled.lock:
            if scaled.serial < source.serial:  # never replace a newer picture with an older one
                out = scaled.reformatter.reformat(
                    source.frame, w, h, format="yuv420p", interpolation="FAST_BILINEAR"
                )
                scaled.frame, scaled.picture = out, frame_planes(out)
                scaled.serial = source.serial
                self.scales += 1
            return scaled.picture

    def _live(self, source_id: str | None, now: float) -> bool:
        if source_id is None:
            return False
        source = self._sources.get(source_id)
        return source is not None and now - source.received_at <= self.hold_s

    def paint(self, tiles: Sequence[Tile], now: float) -> av.VideoFrame:
        """A new canvas frame with every tile painted, labelled and (floor holder) bordered."""
        self._paints += 1
        out = av.VideoFrame(self.width, self.height, "yuv420p")
        planes = frame_planes(out)
        fill(planes, 0, 0, self.width, self.height, BACKGROUND_RGB)
        for tile in tiles:
            self._paint_tile(planes, tile, now)
        self._drop_idle()
        return out

    def _paint_tile(self, planes: YuvPlanes, tile: Tile, now: float) -> None:
        x, y, w, h = tile.x, tile.y, tile.w, tile.h
        if tile.source_id is not None and self._live(tile.source_id, now):
            frame = self._sources[tile.source_id].frame
            ox, oy, pw, ph = fit(frame.width, frame.height, w, h)
            picture = self._picture(tile.source_id, pw, ph)
            if picture is not None:
                px, py = x + ox, y + oy
                Y, U, V = planes
                Y[py : py + ph, px : px + pw] = picture[0]
                U[py // 2 : (py + ph) // 2, px // 2 : (px + pw) // 2] = picture[1]
                V[py // 2 : (py + ph) // 2, px // 2 : (px + pw) // 2] = picture[2]
        else:
            slate = self.labels.slate(w, h)
            Y, U, V = planes
            Y[y : y + h, x : x + w] = slate.y
            U[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = slate.u
            V[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = slate.v
        self.labels.paint_tile_decorations(
            planes, (x, y, w, h), tile.label, tile.talking, tile.highlight
        )

    def _drop_idle(self) -> None:
        if self._paints % IDLE_PAINTS:
            return
        stale = [k for k, s in self._scaled.items() if self._paints - s.last_paint >= IDLE_PAINTS]
        for key in stale:
            del self._scaled[key]
