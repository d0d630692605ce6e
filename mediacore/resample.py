"""Streaming sample-rate conversion for live audio: a polyphase FIR with about 1.5 ms of delay.

soxr is the library for whole buffers (`resample_once`), but its streaming mode gathers input in
large blocks: at 8 -> 48 kHz in 20 ms chunks its HQ setting gives no output for the first 120 ms
and then bursts, which a 20 ms mixer tick cannot use. This converter keeps a filter history
instead, so each chunk converts at once and a 20 ms chunk always yields exactly 20 ms.

The filter is a Kaiser-windowed sinc at the intermediate rate L x in_rate, cut off at the lower
Nyquist frequency with a transition band of 30 % of it and about 60 dB of stop-band attenuation:
enough for telephone and wideband speech, and short enough for real time."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import soxr

from mediacore.codecs.base import Pcm

STOPBAND_DB = 60.0
TRANSITION = 0.3  # fraction of the lower Nyquist frequency


@lru_cache(maxsize=32)
def _polyphase_filter(up: int, down: int, in_rate: int, out_rate: int) -> npt.NDArray[np.float32]:
    """The prototype filter split into `up` phases, each reversed: shape (up, taps_per_phase)."""
    intermediate = in_rate * up
    nyquist = min(in_rate, out_rate) / 2
    transition = TRANSITION * nyquist
    beta = 0.1102 * (STOPBAND_DB - 8.7)
    taps = math.ceil((STOPBAND_DB - 8) / (2.285 * 2 * math.pi * transition / intermediate))
    taps = max(up, math.ceil(taps / up) * up)
    cutoff = nyquist / intermediate  # cycles per intermediate sample
    n = np.arange(taps) - (taps - 1) / 2
    prototype = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(taps, beta)
    prototype *= up / prototype.sum()  # unity gain after zero-stuffing by `up`
    phases = prototype.reshape(-1, up).T  # phases[p, k] = prototype[k * up + p]
    return np.ascontiguousarray(phases[:, ::-1], dtype=np.float32)


class Resampler:
    """Converts a stream of mono float32 chunks from `in_rate` to `out_rate`.

    Every call returns the output samples whose inputs have arrived; for chunk lengths that are a
    whole number of the ratio's input period (any 10 or 20 ms chunk between 8, 16, 24, 44.1 and
    48 kHz), that is exactly chunk x out_rate / in_rate samples."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        divisor = math.gcd(in_rate, out_rate)
        self.up = out_rate // divisor
        self.down = in_rate // divisor
        self._phases = _polyphase_filter(self.up, self.down, in_rate, out_rate)
        self._taps = self._phases.shape[1]
        self._decimation_rows = _decimation_rows(self._phases, self.down)
        self.reset()

    @property
    def delay_seconds(self) -> float:
        """Group delay of the filter."""
        return float(self._taps * self.up - 1) / 2 / (self.in_rate * self.up)

    def _decimate(self, samples: Pcm, start: int, count: int) -> Pcm:
        """Integer downsampling: out[m] = window(start + m * down) . filter.

        Cut the input into rows of `down` samples (a plain reshape, no copy) and the filter into
        rows the same way: out[m] = sum over r of block[m + r] . filter_row[r]. One small matrix
        product gives every block . filter_row, and the sum runs along its diagonals. This keeps
        the arithmetic in BLAS; overlapping strided windows would not."""
        rows = self._decimation_rows.shape[0]
        blocks = samples[start : start + (count + rows - 1) * self.down]
        if len(blocks) < (count + rows - 1) * self.down:  # the last window reaches the history end
            blocks = np.concatenate(
                [blocks, np.zeros((count + rows - 1) * self.down - len(blocks), dtype=np.float32)]
            )
        products = (
            blocks.reshape(-1, self.down) @ self._decimation_rows.T
        )  # (count + rows - 1, rows)
        item = products.itemsize
        diagonals = np.lib.stride_tricks.as_strided(
            products,
            shape=(count, rows),
            strides=((rows) * item, (rows + 1) * item),
            writeable=False,
        )
        out: Pcm = diagonals.sum(axis=1, dtype=np.float32)
        return out

    def reset(self) -> None:
        """Forget the history: the next chunk starts a new stream."""
        self._history = np.zeros(self._taps - 1, dtype=np.float32)
        self._consumed = 0  # input samples seen so far
        self._produced = 0  # output samples given so far

    def process(self, pcm: Pcm) -> Pcm:
        if self.up == self.down:
            return pcm
        samples = np.concatenate([self._history, pcm.astype(np.float32, copy=False)])
        base = self._consumed
        self._consumed += len(pcm)
        self._history = samples[len(samples) - (self._taps - 1) :]
        # Output m draws on input n = m * down // up with filter phase m * down % up; the
        # window for input n is samples[n - base : n - base + taps].
        last = (self._consumed * self.up - 1) // self.down
        first = self._produced
        self._produced = last + 1
        if self.down == 1:  # integer upsampling: one matrix product over consecutive windows
            start, stop = first // self.up - base, last // self.up - base + 1
            out = (_windows(samples, start, stop - start, 1, self._taps) @ self._phases.T).reshape(
                -1
            )
            skip = first % self.up
            return out[skip : skip + last - first + 1]
        if self.up == 1:
            return self._decimate(samples, first * self.down - base, last - first + 1)
        positions = np.arange(first, last + 1, dtype=np.int64) * self.down
        windows = _windows(samples, 0, len(samples) - self._taps + 1, 1, self._taps)
        rows = windows[positions // self.up - base]
        mixed_phases: Pcm = np.einsum("ij,ij->i", rows, self._phases[positions % self.up])
        return mixed_phases


def _decimation_rows(phases: npt.NDArray[np.float32], down: int) -> npt.NDArray[np.float32]:
    """The one-phase filter (as applied to a window) cut into rows of `down` taps, zero-padded."""
    taps = phases.shape[1]
    rows = -(-taps // down)
    padded = np.zeros(rows * down, dtype=np.float32)
    padded[:taps] = phases[0]
    return padded.reshape(rows, down)


def _windows(samples: Pcm, start: int, count: int, step: int, taps: int) -> Pcm:
    """`count` overlapping views of `taps` samples, `step` apart from `start` (no copying).

    as_strided directly: numpy's sliding_window_view checks cost more than the filtering."""
    item = samples.itemsize
    return np.lib.stride_tricks.as_strided(
        samples[start:], shape=(count, taps), strides=(step * item, item), writeable=False
    )


def resample_once(pcm: Pcm, in_rate: int, out_rate: int) -> Pcm:
    """Convert a whole buffer at once (soxr's very high quality; not for live streams)."""
    if in_rate == out_rate:
        return pcm
    return np.asarray(soxr.resample(pcm, in_rate, out_rate, quality="VHQ"), dtype=np.float32)


class TickConverter:
    """One participant's frames, one tick each, converted to the room rate on demand.

    The mixer converts only the frames it mixes. It says `restart` when the previous frame was
    not converted: the filter is then primed with that previous frame (kept by `remember`), so
    a talker's onset does not click. Frames whose converted length is off by a sample (odd
    ratios) are fitted to exactly one tick."""

    def __init__(self, native_rate: int, room_rate: int, tick_ms: int) -> None:
        self.room_samples = room_rate * tick_ms // 1000
        self._same_rate = native_rate == room_rate
        self._resampler = Resampler(native_rate, room_rate)
        self._before: Pcm | None = None  # the frame read before the latest one
        self._latest: Pcm | None = None

    def remember(self, frame: Pcm | None) -> None:
        """Call with every frame read (None when there was none), converted or not."""
        self._before, self._latest = self._latest, frame

    def convert(self, pcm: Pcm, restart: bool) -> Pcm:
        if self._same_rate:
            return pcm
        if restart:
            self._resampler.reset()
            if self._before is not None:
                self._resampler.process(self._before)  # prime the filter: no click at onset
        converted = self._resampler.process(pcm)
        if len(converted) != self.room_samples:  # only rational ratios with odd phases land here
            converted = _fit(converted, self.room_samples)
        return converted


def _fit(pcm: Pcm, samples: int) -> Pcm:
    if len(pcm) >= samples:
        return pcm[:samples]
    return np.concatenate([np.zeros(samples - len(pcm), dtype=np.float32), pcm])
