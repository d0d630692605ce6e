"""One output of a wall: its region of the canvas, encoded once, sent by its own thread.

The wall's painter hands every canvas to `offer()`; the output keeps at most `QUEUE_FRAMES`
and drops the oldest when its encoder or link falls behind (the wall itself never waits). The
thread crops its region, encodes and sends. A link that fails (RTMP server down, SRT peer gone)
is reopened with back-off (1, 2, 4 … 30 s) while the wall keeps painting; every state change
goes to `on_state(output, state, reason)` from the output's thread.

States: starting -> live -> reconnecting -> live …; stopped at the end."""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import av
import numpy as np

from mixer.canvas import frame_planes
from mixer.layout import Output
from mixer.timings import TimingWindow
from mixer.walltransport import WallTransport

log = logging.getLogger(__name__)

OutputState = Literal["starting", "live", "reconnecting", "stopped"]
QUEUE_FRAMES = 2
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 30.0
# Send latencies kept for the p50/p99 in the wall's status.
LATENCY_WINDOW = 500


def crop(frame: av.VideoFrame, region: tuple[int, int, int, int]) -> av.VideoFrame:
    """A new yuv420p frame holding `region` (even x, y, w, h) of `frame`; the whole frame as is."""
    x, y, w, h = region
    if (x, y, w, h) == (0, 0, frame.width, frame.height):
        return frame
    Y, U, V = frame_planes(frame)
    out = av.VideoFrame(w, h, "yuv420p")
    oy, ou, ov = frame_planes(out)
    np.copyto(oy, Y[y : y + h, x : x + w])
    np.copyto(ou, U[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2])
    np.copyto(ov, V[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2])
    out.pts = frame.pts
    if frame.time_base is not None:
        out.time_base = frame.time_base
    return out


@dataclass(slots=True)
class _Offered:
    frame: av.VideoFrame
    deadline: float  # when the wall was due to show it (monotonic seconds)


class WallOutput:
    """Starts its thread at once; `close()` stops it and closes the transport."""

    def __init__(
        self,
        index: int,
        output: Output,
        transport: WallTransport,
        frame_period: float,
        on_state: Callable[[WallOutput, OutputState, str], None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.index = index
        self.output = output
        self.transport = transport
        self.state: OutputState = "starting"
        self.reason = ""
        self.frames_sent = 0
        self.frames_dropped = 0  # the encoder or the link fell behind
        self.frames_late = 0  # sent more than a frame period after their deadline
        self.reconnects = 0
        self._period = frame_period
        self._on_state = on_state
        self._clock = clock
        self._queue: collections.deque[_Offered] = collections.deque()
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._latencies = TimingWindow(LATENCY_WINDOW)
        self._thread = threading.Thread(target=self._run, name=f"wall-output-{index}", daemon=True)
        self._thread.start()

    def offer(self, canvas: av.VideoFrame, deadline: float) -> None:
        """Queue a painted canvas (never blocks; the oldest waiting one is dropped if full)."""
        with self._ready:
            if len(self._queue) >= QUEUE_FRAMES:
                self._queue.popleft()
                if self.state == "live":
                    self.frames_dropped += 1
            self._queue.append(_Offered(canvas, deadline))
            self._ready.notify()

    def request_keyframe(self) -> None:
        self.transport.force_keyframe()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._ready:
            self._ready.notify()
        self._thread.join(timeout)

    def statistics(self) -> dict[str, Any]:
        return {
            "kind": self.output.kind,
            "region": list(self.output.region),
            "state": self.state,
            "reason": self.reason,
            "frames_sent": self.frames_sent,
            "frames_dropped": self.frames_dropped,
            "frames_late": self.frames_late,
            "reconnects": self.reconnects,
            "send_ms_p50": self._latencies.percentile_ms(0.5),
            "send_ms_p99": self._latencies.percentile_ms(0.99),
        }

    def _change(self, state: OutputState, reason: str = "") -> None:
        if (state, reason) == (self.state, self.reason):
            return
        self.state, self.reason = state, reason
        if self._on_state is not None:
            try:
                self._on_state(self, state, reason)
            except Exception:
                log.exception("wall output state callback failed")

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                self.transport.open()
            except Exception as error:
                attempt += 1
                self._fail(error, attempt)
                continue
            self._change("live")
            try:
                self._pump()
                attempt = 0
            except Exception as error:
                attempt = 1
                self._fail(error, attempt)
        self.transport.close()
        self._change("stopped")

    def _fail(self, error: Exception, attempt: int) -> None:
        self.transport.close()
        if self._stop.is_set():
            return
        reason = str(error) or type(error).__name__
        log.info("wall output %d (%s) failed: %s", self.index, self.output.kind, reason)
        self.reconnects += 1
        self._change("reconnecting", reason)
        self._stop.wait(min(BACKOFF_MAX_S, BACKOFF_INITIAL_S * 2 ** (attempt - 1)))
        with self._ready:
            self._queue.clear()  # stale pictures: start again from the next one

    def _pump(self) -> None:
        while not self._stop.is_set():
            with self._ready:
                while not self._queue and not self._stop.is_set():
                    self._ready.wait(0.5)
                if self._stop.is_set():
                    return
                item = self._queue.popleft()
            self.transport.send(crop(item.frame, self.output.region))
            sent = self._clock()
            self.frames_sent += 1
            self._latencies.add(sent - item.deadline)
            if sent - item.deadline > self._period:
                self.frames_late += 1
