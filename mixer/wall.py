"""A running LED wall: paints its canvas at the wall's frame rate and feeds its outputs.

The painting thread wakes on absolute deadlines (t0 + n / fps, never sleep(period)), resolves
the layout against the current `Scene` (which sources are in the room, who speaks, who holds
the floor, their names), paints the canvas and offers it to every output; each output crops,
encodes and sends on a thread of its own, so a 4K encode overlaps the next paint. A tick
missed by more than a frame is skipped and counted, never made up with a burst.

`set_layout()` switches the layout between two paints: the outputs keep their encoders and
connections, so receivers see the next frame in the new layout, with no gap and no keyframe
storm. `set_scene()` is called by the server whenever the room changes. Neither blocks."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import av

from mixer.canvas import CanvasPainter
from mixer.labels import LabelPainter
from mixer.layout import Layout, Tile, Wall, resolve
from mixer.timings import TimingWindow
from mixer.tours import apply
from mixer.wallout import OutputState, WallOutput
from mixer.walltransport import CLOCK_RATE, TIME_BASE, WallTransport

log = logging.getLogger(__name__)

PAINT_WINDOW = 500


@dataclass(frozen=True, slots=True)
class Scene:
    """What the layout is resolved against: sources in display order, the active speaker,
    the floor holder, and label text by id."""

    sources: tuple[str, ...] = ()
    speaker: str | None = None
    floor: str | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    # toured slots (mixer.tours): tile index -> the source it shows now
    tours: Mapping[int, str] = field(default_factory=dict)


class WallRunner:
    """Paints `wall` and feeds one `WallOutput` per transport (in the order of wall.outputs)."""

    def __init__(
        self,
        name: str,
        wall: Wall,
        transports: Sequence[WallTransport],
        *,
        labels: LabelPainter | None = None,
        hold_s: float = 3.0,
        on_output_state: Callable[[WallOutput, OutputState, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(transports) != len(wall.outputs):
            raise ValueError("one transport per output")
        self.name = name
        self.wall = wall
        self.period = 1.0 / wall.canvas.fps
        self.painter = CanvasPainter(
            wall.canvas.width, wall.canvas.height, hold_s=hold_s, labels=labels
        )
        self.outputs = [
            WallOutput(i, out, transport, self.period, on_output_state, clock=clock)
            for i, (out, transport) in enumerate(zip(wall.outputs, transports, strict=True))
        ]
        self.frames_painted = 0
        self.ticks_missed = 0
        self.layout_switches = 0
        self.wanted: frozenset[str] = frozenset()  # sources shown now (read by the decoders)
        self._clock = clock
        self._scene = Scene()
        self._layout = wall.layout
        self._tiles: list[Tile] = []
        self._tiles_for: tuple[Layout, Scene] | None = None
        self._forget: set[str] = set()
        self._paint_s = TimingWindow(PAINT_WINDOW)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"wall-{name}", daemon=True)
        self._thread.start()

    @property
    def tiles(self) -> list[Tile]:
        return list(self._tiles)

    def set_layout(self, layout: Layout) -> None:
        """Show `layout` from the next paint on (same canvas, same outputs)."""
        if layout != self._layout:
            self._layout = layout
            self.layout_switches += 1

    def set_scene(self, scene: Scene) -> None:
        gone = set(self._scene.sources) - set(scene.sources)
        self._scene = scene
        self._forget |= gone

    def push(self, source_id: str, frame: av.VideoFrame, decoded_at: float) -> None:
        """A decoded picture of a source (from its decoder's thread)."""
        if source_id in self.wanted:
            self.painter.push(source_id, frame, decoded_at)

    def stop(self) -> None:
        """Stop painting and close every output (joins the threads)."""
        self._stop.set()
        self._thread.join(5.0)
        for output in self.outputs:
            output.close()

    def statistics(self) -> dict[str, Any]:
        return {
            "frames_painted": self.frames_painted,
            "ticks_missed": self.ticks_missed,
            "layout_switches": self.layout_switches,
            "paint_ms_p50": self._paint_s.percentile_ms(0.5),
            "paint_ms_p99": self._paint_s.percentile_ms(0.99),
            "outputs": [output.statistics() for output in self.outputs],
        }

    def _current_tiles(self) -> list[Tile]:
        layout, scene = self._layout, self._scene
        if self._tiles_for != (layout, scene):
            self._tiles = resolve(
                layout, self.wall.canvas, scene.sources, scene.speaker, scene.floor, scene.names
            )
            if scene.tours:
                toured = apply(self._tiles, scene.tours, scene.names, scene.speaker, scene.floor)
                self._tiles = list(toured)
            self._tiles_for = (layout, scene)
            self.wanted = frozenset(t.source_id for t in self._tiles if t.source_id is not None)
        return self._tiles

    def _run(self) -> None:
        start = self._clock()
        tick = 0
        while not self._stop.is_set():
            deadline = start + tick * self.period
            wait = deadline - self._clock()
            if wait > 0 and self._stop.wait(wait):
                return
            now = self._clock()
            behind = int((now - deadline) / self.period)
            if behind >= 1:
                self.ticks_missed += behind
                tick += behind
                deadline = start + tick * self.period
            try:
                self._paint(tick, deadline, now)
            except Exception:  # a bad frame must not take the wall down
                log.exception("wall %s failed to paint a frame", self.name)
            tick += 1

    def _paint(self, tick: int, deadline: float, now: float) -> None:
        for source_id in list(self._forget):
            self._forget.discard(source_id)
            self.painter.forget(source_id)
        canvas = self.painter.paint(self._current_tiles(), now)
        canvas.pts = round(tick * CLOCK_RATE * self.period)
        canvas.time_base = TIME_BASE
        for output in self.outputs:
            output.offer(canvas, deadline)
        self.frames_painted += 1
        self._paint_s.add(self._clock() - now)
