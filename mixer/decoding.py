"""Decoding each video source once, on a thread of its own, for every wall that shows it.

A `SourceDecoder` takes encoded frames (VP8, H.264 or H.265 Annex-B access units) from the event
loop through `submit()`, never blocking it: a full queue drops the frame and waits for the next
keyframe, because a gap in a predicted stream is only repaired by one. Decoding runs on the
decoder's thread (PyAV releases the GIL), and every picture goes to the sinks: the canvases of
the walls that show the source. A stream that changes resolution mid-way just decodes at the new
size; one that changes codec gets a new decoder at its next keyframe. A corrupt frame is counted,
and the decoder asks for a keyframe and skips frames until one arrives.

`DecoderPool` keeps one decoder per source however many walls show it."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import av.error

log = logging.getLogger(__name__)

# Our codec names (as the video hub reports them) to FFmpeg decoder names.
DECODERS = {"VP8": "vp8", "H264": "h264", "H265": "hevc", "HEVC": "hevc"}
# About a second of video: a decoder further behind than this is not keeping up.
QUEUE_FRAMES = 30

FrameSink = Callable[[str, av.VideoFrame, float], None]


@dataclass(frozen=True, slots=True)
class _Encoded:
    codec: str
    data: bytes
    keyframe: bool


class SourceDecoder:
    """Decodes one source. `sink(source_id, frame, decoded_at)` is called on the decoder thread
    for every picture; `request_keyframe()` too, when the stream must restart at a keyframe
    (it must be thread-safe: hand it to the event loop)."""

    def __init__(
        self,
        source_id: str,
        sink: FrameSink,
        request_keyframe: Callable[[], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        queue_frames: int = QUEUE_FRAMES,
    ) -> None:
        self.source_id = source_id
        self.frames_in = 0
        self.frames_decoded = 0
        self.frames_dropped = 0  # queue full, or skipped while waiting for a keyframe
        self.errors = 0
        self.codec = ""
        self.width = 0
        self.height = 0
        self._sink = sink
        self._request_keyframe = request_keyframe
        self._clock = clock
        self._queue: queue.Queue[_Encoded | None] = queue.Queue(queue_frames)
        self._context: Any = None
        self._need_keyframe = True
        self._overflowed = False
        self._thread = threading.Thread(target=self._run, name=f"decode-{source_id}", daemon=True)
        self._thread.start()

    def submit(self, codec: str, data: bytes, keyframe: bool) -> None:
        """Queue one encoded frame (from the event loop; never blocks)."""
        self.frames_in += 1
        if self._overflowed and not keyframe:
            self.frames_dropped += 1
            return
        try:
            self._queue.put_nowait(_Encoded(codec.upper(), data, keyframe))
            self._overflowed = False
        except queue.Full:
            self.frames_dropped += 1
            if not self._overflowed:
                self._overflowed = True
                self._request_keyframe()

    def close(self) -> None:
        """Stop the thread once the queued frames are decoded (returns at once)."""
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            self._overflowed = True
            threading.Thread(target=self._queue.put, args=(None,), daemon=True).start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def statistics(self) -> dict[str, Any]:
        return {
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "frames_in": self.frames_in,
            "frames_decoded": self.frames_decoded,
            "frames_dropped": self.frames_dropped,
            "errors": self.errors,
        }

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._decode(item)
            except Exception:  # a bug must not kill the thread of a wall's source
                log.exception("decoder of %s failed", self.source_id)
                self._restart()

    def _decode(self, item: _Encoded) -> None:
        if item.codec != self.codec or self._context is None:
            if not item.keyframe:
                self._skip()
                return
            self._open(item.codec)
        if self._need_keyframe and not item.keyframe:
            self._skip()
            return
        self._need_keyframe = False
        try:
            frames = self._context.decode(av.Packet(item.data))
        except (av.error.FFmpegError, ValueError) as error:
            self.errors += 1
            log.info("corrupt frame from %s: %s", self.source_id, error)
            self._restart()
            return
        for frame in frames:
            self.frames_decoded += 1
            self.width, self.height = frame.width, frame.height
            self._sink(self.source_id, frame, self._clock())

    def _open(self, codec: str) -> None:
        name = DECODERS.get(codec)
        if name is None:
            raise ValueError(f"no decoder for video codec {codec!r}")
        context = av.CodecContext.create(name, "r")
        # One thread: frame threading would hold back pictures by a frame per thread.
        context.thread_count = 1
        self._context, self.codec = context, codec

    def _skip(self) -> None:
        self.frames_dropped += 1

    def _restart(self) -> None:
        self._need_keyframe = True
        self._context = None  # a fresh decoder: no reference to the broken picture
        self._request_keyframe()


class DecoderPool:
    """One `SourceDecoder` per source, shared by walls; `sink` gets every decoded picture."""

    def __init__(self, sink: FrameSink, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._sink = sink
        self._clock = clock
        self._decoders: dict[str, SourceDecoder] = {}

    def __contains__(self, source_id: object) -> bool:
        return source_id in self._decoders

    @property
    def source_ids(self) -> list[str]:
        return list(self._decoders)

    def get(self, source_id: str) -> SourceDecoder | None:
        return self._decoders.get(source_id)

    def open(self, source_id: str, request_keyframe: Callable[[], None]) -> SourceDecoder:
        """The decoder of `source_id`, started now if it has none."""
        decoder = self._decoders.get(source_id)
        if decoder is None:
            decoder = SourceDecoder(source_id, self._sink, request_keyframe, clock=self._clock)
            self._decoders[source_id] = decoder
        return decoder

    def close(self, source_id: str) -> None:
        decoder = self._decoders.pop(source_id, None)
        if decoder is not None:
            decoder.close()

    def close_all(self) -> None:
        for source_id in list(self._decoders):
            self.close(source_id)

    def statistics(self) -> dict[str, dict[str, Any]]:
        return {sid: d.statistics() for sid, d in self._decoders.items()}
