"""A video track of a recording in progress: frames handed over on the event loop, written by
a thread of the track's own through a bounded queue.

The event loop only copies a frame into the queue. A full queue (a slow disk) drops the frame
and counts it; the track then waits for the next keyframe, which it asks for, since the frames
after a gap cannot be decoded without one. The loop is never made to wait."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from mediacore.clock import iso8601
from recorder.chain import SegmentEntry
from recorder.chainedfile import TrackFullError
from recorder.filemode import append_text
from recorder.video import (
    SEGMENT_SECONDS,
    VIDEO_CLOCK,
    VideoTrackWriter,
    container_for,
)

log = logging.getLogger(__name__)

QUEUE_FRAMES = 256  # about 8 s at 30 fps: a disk stalling longer loses frames, not the room
TRACKS_JOURNAL = "tracks.jsonl"  # as live.py: one line per opened track, for recovery
_POLL_SECONDS = 0.2

AUDIO_QUEUE_FACTOR = 4  # a composite track's queue also holds 50 audio ticks a second


@dataclass(frozen=True, slots=True)
class _Audio:
    pcm: np.ndarray
    at: int  # its first sample's index from the picture's time 0


_Frame = tuple[bytes, int, bool] | _Audio  # an encoded picture, or audio (composite)


def _utc_now() -> str:
    return iso8601(datetime.now(UTC))


class LiveVideoTrack:
    """One source's video in one recording. `offer` on the event loop; `end` from anywhere
    (stops taking frames; the thread writes what is queued and closes the file); `close` from
    a thread that may block (ends, then waits for the file to be complete)."""

    def __init__(
        self,
        *,
        track_id: str,
        directory: Path,
        recording_id: str,
        codec: str,
        participant: str | None,
        source: str,
        name: str | None,
        request_keyframe: Callable[[], None],
        queue_frames: int = QUEUE_FRAMES,
        segment_seconds: float = SEGMENT_SECONDS,
        utc_now: Callable[[], str] = _utc_now,
        kind: str = "video",
        audio_rate: int | None = None,
    ) -> None:
        """`kind` "composite" with `audio_rate`: the conference picture, with the room's mix
        (`offer_audio`) in the same file. Raises: UnsupportedVideoCodecError for a codec no
        container takes."""
        self.container = container_for(codec)
        self.id = track_id
        self.directory = directory
        self.recording_id = recording_id
        self.codec = self.container.codec
        self.participant = participant
        self.source = source
        self.name = name
        self.kind = kind
        self.audio_rate = audio_rate
        self.file = f"{track_id}{self.container.suffix}"
        self.started_at: str | None = None  # UTC time of the first keyframe: pts 0 in the file
        self.ended_at: str | None = None
        self.state = "recording"  # then "ended" or "failed"
        self.failure: str | None = None
        self.frames_offered = 0
        self.frames_dropped = 0  # the queue was full
        self.frames_waiting = 0  # skipped while waiting for a keyframe
        self._request_keyframe = request_keyframe
        self._segment_seconds = segment_seconds
        self._utc_now = utc_now
        self.audio_dropped = 0  # audio ticks the full queue refused (silence in the file)
        self._audio_offered = 0  # samples since the first keyframe
        queue_frames *= AUDIO_QUEUE_FACTOR if audio_rate else 1
        self._queue: queue.Queue[_Frame] = queue.Queue(maxsize=queue_frames)
        self._ending = threading.Event()
        self._lock = threading.Lock()  # the writer's figures, read by describe()
        self._writer: VideoTrackWriter | None = None
        self._entries: list[SegmentEntry] = []
        self._waiting_keyframe = True
        self._thread = threading.Thread(
            target=self._run, name=f"recorder-video-{track_id}", daemon=True
        )

    @property
    def opened(self) -> bool:
        """Whether its file exists (the first keyframe arrived): only then is it listed."""
        return self._writer is not None

    @property
    def data_bytes(self) -> int:
        """Bytes on disk, all in journalled segments."""
        with self._lock:
            return self._entries[-1].end if self._entries else 0

    @property
    def ending(self) -> bool:
        return self._ending.is_set()

    def start(self) -> None:
        """Start the writer thread and ask the source for a keyframe (event loop)."""
        self._thread.start()
        self._request_keyframe()

    # -- the event loop -------------------------------------------------------------------

    def offer(self, data: bytes, pts: int, keyframe: bool) -> None:
        """Queue one encoded frame (a copy of its bytes, 90 kHz pts); never blocks."""
        if self._ending.is_set():
            return
        self.frames_offered += 1
        if self._waiting_keyframe:
            if not keyframe:
                self.frames_waiting += 1
                return
            self._waiting_keyframe = False
            if self.started_at is None:
                self.started_at = self._utc_now()
        try:
            self._queue.put_nowait((data, pts, keyframe))
        except queue.Full:
            self.frames_dropped += 1
            self._waiting_keyframe = True
            self._request_keyframe()

    def offer_audio(self, pcm: np.ndarray) -> None:
        """Queue audio that follows what was offered before (a copy, at `audio_rate`); taken
        from the first keyframe on, so that its sample 0 is the picture's time 0. Never
        blocks; safe from the room's clock."""
        if self._ending.is_set() or self.started_at is None or self.audio_rate is None:
            return
        at, self._audio_offered = self._audio_offered, self._audio_offered + len(pcm)
        try:
            self._queue.put_nowait(_Audio(pcm, at))
        except queue.Full:
            self.audio_dropped += 1

    def end(self) -> None:
        """Take no more frames; the thread finishes the file. Safe from any thread."""
        if not self._ending.is_set():
            self.ended_at = self._utc_now()
            self._ending.set()

    # -- a thread that may block ----------------------------------------------------------

    def close(self, timeout: float = 30.0) -> None:
        """End, and wait until the file is finished (its last segment journalled)."""
        self.end()
        if self._thread.is_alive():
            self._thread.join(timeout)
        elif not self._thread.ident:  # never started: nothing to wait for
            self.state = "ended" if self.state == "recording" else self.state

    def describe(self) -> dict[str, Any]:
        """The manifest entry (thread-safe)."""
        with self._lock:
            writer = self._writer
            entries = list(self._entries)
            data_bytes = entries[-1].end if entries else 0
            figures = {
                "width": writer.width if writer else None,
                "height": writer.height if writer else None,
                "frames": writer.frames if writer else 0,
                "keyframes": writer.keyframes if writer else 0,
                "duration_ms": writer.duration_ms if writer else 0,
            }
        return {
            "id": self.id,
            "kind": self.kind,
            "participant": self.participant,
            "name": self.name,
            "source": self.source,
            "codec": self.codec,
            "container": self.container.format,
            "content_type": self.container.content_type,
            "file": self.file,
            "rate": VIDEO_CLOCK,  # of the timestamps
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "state": self.state,
            "failure": self.failure,
            "data_bytes": data_bytes,
            **figures,
            "frames_dropped": self.frames_dropped,
            "frames_waiting": self.frames_waiting,
            "segments": [entry.to_json() for entry in entries],
            **({"audio": {"codec": "aac", "rate": self.audio_rate, "of": "mix",
                          "ticks_dropped": self.audio_dropped}}
               if self.audio_rate else {}),
        }  # fmt: skip

    def _run(self) -> None:
        try:
            while True:
                try:
                    frame = self._queue.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    if self._ending.is_set():
                        break
                    continue
                self._write(frame)
        finally:
            self._finish()

    def _write(self, frame: _Frame) -> None:
        if self.state != "recording":
            return
        try:
            if self._writer is None:
                self._open()
            assert self._writer is not None
            if isinstance(frame, _Audio):
                self._writer.write_audio(frame.pcm, frame.at)
                return
            entries = self._writer.write(*frame)
        except OSError as error:
            self._fail("disk-full" if isinstance(error, TrackFullError) else f"write: {error}")
            return
        with self._lock:
            self._entries += entries

    def _open(self) -> None:
        writer = VideoTrackWriter(
            self.directory / self.file, self.codec, self.recording_id, self._segment_seconds,
            self.audio_rate,
        )  # fmt: skip
        with self._lock:
            self._writer = writer
        # One short line in one O_APPEND write: the audio writer thread appends to it too.
        line = {k: v for k, v in self.describe().items() if k != "segments"}
        append_text(self.directory / TRACKS_JOURNAL, json.dumps(line) + "\n")

    def _finish(self) -> None:
        if self._writer is not None and self.state == "failed":
            self._writer.abandon()  # the muxer is ahead of the disk: add nothing after the gap
        elif self._writer is not None:
            try:
                entries = self._writer.close()
            except OSError as error:
                self._fail(f"close: {error}")
            else:
                with self._lock:
                    self._entries += entries
        if self.state == "recording":
            self.state = "ended"
        if self.ended_at is None:
            self.ended_at = self._utc_now()

    def _fail(self, reason: str) -> None:
        log.error("video track failed", extra={"track": self.id, "reason": reason})
        self.state = "failed"
        self.failure = reason
        self._ending.set()
        # What is still queued is lost: count it.
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
            self.frames_dropped += 1
