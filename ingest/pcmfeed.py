"""A field source's decoded audio, handed from its reader thread to the room's mixer.

The reader thread `push`es mono PCM at whatever rate the source sends; it is converted to the
room rate right there, off the room's clock. The mixer `read`s one tick at a time on the event
loop and never waits: the lock guards only a few list operations.

Sources deliver audio in bursts (AAC frames of 1024 samples, packets bunched by TCP, a probe's
worth at once after connecting), so a small cushion sits between the two: playing starts once
`start_ms` is buffered; running dry plays what is left, counts an underrun and waits for the
cushion again; beyond `max_ms` the oldest audio is dropped back down to the cushion, so a burst
or a source clock running fast cannot build up delay. While nothing arrives `read` gives None:
the source is silent in the mix, not noise.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from mediacore.codecs.base import Pcm
from mediacore.resample import Resampler

START_MS = 60  # buffered before playing starts (and again after running dry)
MAX_MS = 300  # beyond this the oldest audio is dropped back to START_MS


class PcmFeed:
    """An `AudioInput` (mediacore.endpoint) fed from another thread. `native_rate` is the
    room's rate: frames are converted on the way in, so `to_room_rate` has nothing to do."""

    def __init__(
        self, room_rate: int, tick_ms: int, *, start_ms: int = START_MS, max_ms: int = MAX_MS
    ) -> None:
        if not 0 < start_ms < max_ms:
            raise ValueError(f"need 0 < start_ms < max_ms, got {start_ms} and {max_ms}")
        self.native_rate = room_rate
        self.tick_samples = room_rate * tick_ms // 1000
        self._start = max(self.tick_samples, room_rate * start_ms // 1000)
        self._max = room_rate * max_ms // 1000
        self._lock = threading.Lock()
        self._chunks: deque[Pcm] = deque()
        self._buffered = 0
        self._playing = False
        # producer side (the reader thread) only
        self._resampler: Resampler | None = None
        self._restart = False
        self.input_rate = 0
        # counters, changed under the lock
        self.chunks_in = 0
        self.ticks_played = 0
        self.underruns = 0
        self.overflows = 0
        self.dropped_samples = 0

    # -- the reader thread ----------------------------------------------------------------

    def push(self, pcm: Pcm, rate: int) -> None:
        """Queue mono float32 `pcm` sampled at `rate` (from one thread at a time)."""
        if rate <= 0 or len(pcm) == 0:
            return
        if self._resampler is None or rate != self.input_rate or self._restart:
            self._resampler = Resampler(rate, self.native_rate)
            self.input_rate = rate
            self._restart = False
        converted = self._resampler.process(np.asarray(pcm, dtype=np.float32))
        if len(converted) == 0:
            return
        with self._lock:
            self.chunks_in += 1
            self._chunks.append(converted)
            self._buffered += len(converted)
            if self._buffered > self._max:
                self.overflows += 1
                excess = self._buffered - self._start
                self.dropped_samples += excess
                self._discard(excess)

    def restart(self) -> None:
        """A new connection begins: its first chunk does not continue the last one's filter."""
        self._restart = True

    # -- the mixer (event loop) -----------------------------------------------------------

    def read(self, now: float) -> Pcm | None:
        """One tick at the room rate, or None while waiting for audio (nothing arrived yet,
        or refilling the cushion after running dry)."""
        with self._lock:
            if not self._playing:
                if self._buffered < self._start:
                    return None
                self._playing = True
            if self._buffered == 0:
                self.underruns += 1
                self._playing = False
                return None
            frame = self._take(min(self.tick_samples, self._buffered))
            if len(frame) < self.tick_samples:
                self.underruns += 1
                self._playing = False
                frame = np.concatenate(
                    [frame, np.zeros(self.tick_samples - len(frame), dtype=np.float32)]
                )
            self.ticks_played += 1
            return frame

    def to_room_rate(self, pcm: Pcm, restart: bool) -> Pcm:
        return pcm  # converted in push()

    @property
    def buffered_ms(self) -> float:
        return self._buffered * 1000 / self.native_rate

    def statistics(self) -> dict[str, float]:
        """Counters for the roster and /metrics."""
        with self._lock:
            return {
                "audio_buffered_ms": round(self.buffered_ms),
                "audio_underruns": self.underruns,
                "audio_overflows": self.overflows,
                "audio_dropped_ms": round(self.dropped_samples * 1000 / self.native_rate),
            }

    # -- under the lock -------------------------------------------------------------------

    def _take(self, count: int) -> Pcm:
        parts: list[Pcm] = []
        needed = count
        while needed:
            chunk = self._chunks[0]
            if len(chunk) <= needed:
                parts.append(self._chunks.popleft())
                needed -= len(chunk)
            else:
                parts.append(chunk[:needed])
                self._chunks[0] = chunk[needed:]
                needed = 0
        self._buffered -= count
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _discard(self, count: int) -> None:
        self._buffered -= count
        while count:
            chunk = self._chunks[0]
            if len(chunk) <= count:
                self._chunks.popleft()
                count -= len(chunk)
            else:
                self._chunks[0] = chunk[count:]
                count = 0
