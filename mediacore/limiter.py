"""A limiter for mixed audio: sums of several talkers are turned down smoothly, never clipped.

Janus AudioBridge truncates the sum ("FIXME Smoothen/Normalize instead of truncating?"). Here
the gain follows the peak of each 1 ms block: it drops before a loud block (the caller hands a
whole frame, so this look-ahead costs no delay), ramps linearly inside each block so no sample
overshoots, and recovers at `release_per_second`. The room mixer, the recorder's mix track
and exports of several tracks share it.

No per-block Python loop: with release at a constant step per block, the recurrence
g[k] = min(needed[k], g[k-1] + step) has the closed form
g[k] = min(g[-1] + (k+1) step, min over j <= k of (needed[j] - j step) + k step),
so a 20 ms frame and an hour-long export chunk both cost a few numpy calls."""

from __future__ import annotations

import numpy as np

from mediacore.codecs.base import Pcm


class Limiter:
    def __init__(
        self, rate: int, threshold_dbfs: float = -1.0, release_per_second: float = 4.0
    ) -> None:
        self.threshold = float(10 ** (threshold_dbfs / 20))
        self.block = max(1, rate // 1000)
        self.release_step = release_per_second * self.block / rate
        self.gain = 1.0

    def process(self, pcm: Pcm) -> Pcm:
        """Return `pcm` limited to the threshold (any length; state carries to the next call)."""
        starts = np.arange(0, len(pcm), self.block)
        if len(starts) == 0:
            return pcm
        peaks = np.maximum.reduceat(np.abs(pcm), starts).astype(np.float64)
        if self.gain >= 1.0 and peaks.max() <= self.threshold:
            return pcm  # the common case: nothing to do
        needed = np.minimum(1.0, self.threshold / np.maximum(peaks, 1e-9))
        # Look one block ahead so the ramp into a loud block is already low enough.
        needed[:-1] = np.minimum(needed[:-1], needed[1:])
        k = np.arange(len(needed), dtype=np.float64)
        step = self.release_step
        gains = np.minimum(
            self.gain + (k + 1) * step,
            np.minimum.accumulate(needed - k * step) + k * step,
        )
        edges = np.append(starts, len(pcm))
        envelope = np.interp(np.arange(len(pcm)), edges, np.concatenate(([self.gain], gains)))
        self.gain = float(gains[-1])
        limited = pcm * envelope.astype(np.float32)
        return np.clip(limited, -self.threshold, self.threshold)
