"""A room's composed conference pictures: every variant painted and encoded once per frame.

The wall's pieces do the work: a `CanvasPainter` per picture size holds each source's latest
picture and paints tiles (labels, slates, the talking and floor marks), and each variant has
a `WallOutput` whose thread encodes with its own x264 (`PacketTransport`) and hands the
access units to `sink(variant id, data, pts, keyframe)`. Which variants exist and what their
tiles are comes from the server (mixer.variants decides); `set_variants()` swaps them between
two paints, so a layout switch or a new speaker shows in the next frame of every variant, and
a variant that stays keeps its encoder (no keyframe). With no variant, nothing is painted.

The thread wakes on absolute deadlines (t0 + n / fps) and skips ticks it missed rather than
making them up; encodes are counted (per second over the last second, and in total) because
encoding is what a conference costs."""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import av

from mixer.canvas import CanvasPainter
from mixer.labels import LabelPainter
from mixer.layout import Output, Tile
from mixer.timings import TimingWindow
from mixer.wallout import WallOutput
from mixer.walltransport import CLOCK_RATE, TIME_BASE, PacketSink, PacketTransport

log = logging.getLogger(__name__)

VariantSink = Callable[[str, bytes, int, bool], None]
PAINT_WINDOW = 500


@dataclass(frozen=True, slots=True)
class VariantPicture:
    width: int
    height: int
    tiles: tuple[Tile, ...]
    share: float = 1.0  # of the full bit rate (a quality tier, mediacore.qualitytiers)


class ConferenceRunner:
    def __init__(
        self,
        name: str,
        fps: float,
        sink: VariantSink,
        *,
        labels: LabelPainter | None = None,
        hold_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.fps = fps
        self.period = 1.0 / fps
        self.wanted: frozenset[str] = frozenset()  # sources some variant shows (the decoders')
        self.frames_painted = 0
        self.ticks_missed = 0
        self.layout_switches = 0
        self._sink = sink
        self._labels = labels if labels is not None else LabelPainter()
        self._hold_s = hold_s
        self._clock = clock
        self._variants: dict[str, VariantPicture] = {}
        self._painters: dict[tuple[int, int], CanvasPainter] = {}
        self._outputs: dict[str, WallOutput] = {}
        self._encoded_before = 0  # frames sent by outputs since closed
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        self._paint_s = TimingWindow(PAINT_WINDOW)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"conf-{name}", daemon=True)
        self._thread.start()

    # -- from the server ------------------------------------------------------------------

    def set_variants(self, variants: Mapping[str, VariantPicture]) -> None:
        """Paint exactly these variants from the next frame on (event loop thread)."""
        with self._lock:
            gone = [vid for vid in self._outputs if vid not in variants]
            closing = [self._outputs.pop(vid) for vid in gone]
            for vid, variant in variants.items():
                old = self._variants.get(vid)
                if old is not None and (old.width, old.height) != (variant.width, variant.height):
                    closing.append(self._outputs.pop(vid))
                if vid not in self._outputs:
                    self._outputs[vid] = self._output(vid, variant)
                if old is not None and old.tiles != variant.tiles:
                    self.layout_switches += 1
                size = (variant.width, variant.height)
                if size not in self._painters:
                    self._painters[size] = CanvasPainter(
                        variant.width, variant.height, hold_s=self._hold_s, labels=self._labels
                    )
            self._variants = dict(variants)
            self.wanted = frozenset(
                t.source_id for v in variants.values() for t in v.tiles if t.source_id is not None
            )
        if closing:
            threading.Thread(target=self._close, args=(closing,), daemon=True).start()

    def request_keyframe(self, variant: str) -> None:
        output = self._outputs.get(variant)
        if output is not None:
            output.request_keyframe()

    def push(self, source_id: str, frame: av.VideoFrame, decoded_at: float) -> None:
        """A decoded picture of a source (its decoder's thread)."""
        if source_id in self.wanted:
            for painter in list(self._painters.values()):
                painter.push(source_id, frame, decoded_at)

    def forget(self, source_id: str) -> None:
        for painter in list(self._painters.values()):
            painter.forget(source_id)

    def stop(self) -> None:
        """Stop painting and close every variant's encoder (joins the threads)."""
        self._stop.set()
        self._thread.join(5.0)
        with self._lock:
            outputs, self._outputs = list(self._outputs.values()), {}
        self._close(outputs)

    # -- counting -------------------------------------------------------------------------

    @property
    def encodes(self) -> int:
        """Pictures encoded so far, over every variant."""
        return self._encoded_before + sum(o.frames_sent for o in list(self._outputs.values()))

    def encodes_per_second(self) -> float:
        recent = list(self._recent)
        if len(recent) < 2 or recent[-1][0] <= recent[0][0]:
            return 0.0
        return (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])

    def statistics(self) -> dict[str, Any]:
        return {
            "variants": sorted(self._variants),
            "encodes": self.encodes,
            "encodes_per_second": round(self.encodes_per_second(), 1),
            "frames_painted": self.frames_painted,
            "ticks_missed": self.ticks_missed,
            "layout_switches": self.layout_switches,
            "paint_ms_p50": self._paint_s.percentile_ms(0.5),
            "paint_ms_p99": self._paint_s.percentile_ms(0.99),
            "outputs": {vid: o.statistics() for vid, o in list(self._outputs.items())},
        }

    # -- the painting thread --------------------------------------------------------------

    def _output(self, vid: str, variant: VariantPicture) -> WallOutput:
        region = (0, 0, variant.width, variant.height)
        transport = PacketTransport(
            self._variant_sink(vid), variant.width, variant.height, self.fps, variant.share
        )
        return WallOutput(len(self._outputs), Output("whep", None, region), transport, self.period)

    def _variant_sink(self, vid: str) -> PacketSink:
        def sink(data: bytes, pts: int, keyframe: bool) -> None:  # the output's thread
            self._sink(vid, data, pts, keyframe)

        return sink

    def _close(self, outputs: list[WallOutput]) -> None:
        for output in outputs:
            output.close()
            self._encoded_before += output.frames_sent

    def _run(self) -> None:
        start = self._clock()
        tick = 0
        while not self._stop.is_set():
            due = start + tick * self.period
            if self._stop.wait(max(0.0, due - self._clock())):
                return
            now = self._clock()
            late = int((now - due) / self.period)
            if late > 0:  # skip what was missed, never a burst
                self.ticks_missed += late
                tick += late
            try:
                self._paint(tick, start + tick * self.period, now)
            except Exception:  # one bad frame must not end the conference picture
                log.exception("conference %s failed to paint", self.name)
            tick += 1

    def _paint(self, tick: int, deadline: float, now: float) -> None:
        with self._lock:
            variants, outputs = self._variants, dict(self._outputs)
        if not variants:
            return
        pts = round(tick * CLOCK_RATE * self.period)
        for vid, variant in variants.items():
            output = outputs.get(vid)
            painter = self._painters.get((variant.width, variant.height))
            if output is None or painter is None:
                continue
            canvas = painter.paint(variant.tiles, now)
            canvas.pts, canvas.time_base = pts, TIME_BASE
            output.offer(canvas, deadline)
        self.frames_painted += 1
        self._paint_s.add(self._clock() - now)
        self._recent.append((now, self.encodes))
        while self._recent and now - self._recent[0][0] > 1.0:
            self._recent.popleft()
