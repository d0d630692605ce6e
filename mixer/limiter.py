"""A limiter for mixed audio: sums of several talkers are turned down smoothly, never clipped.

Janus AudioBridge truncates the sum ("FIXME Smoothen/Normalize instead of truncating?"). Here
the gain follows the peak of each 1 ms block: it drops before a loud block (we hold the whole
frame, so this look-ahead costs no delay), ramps linearly inside each block so no sample
overshoots, and recovers at `release_per_second`."""

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
        """Return `pcm` limited to the threshold; its length must be a multiple of 1 ms."""
        peaks = np.abs(pcm).reshape(-1, self.block).max(axis=1)
        if self.gain >= 1.0 and peaks.max(initial=0.0) <= self.threshold:
            return pcm  # the common case: nothing to do
        needed = np.minimum(1.0, self.threshold / np.maximum(peaks, 1e-9))
        # Look one block ahead so the ramp into a loud block is already low enough.
        needed[:-1] = np.minimum(needed[:-1], needed[1:])
        gains = np.empty(len(needed) + 1, dtype=np.float64)
        gains[0] = self.gain
        for index, limit in enumerate(needed):  # a frame has only 10-60 blocks
            gains[index + 1] = min(limit, gains[index] + self.release_step)
        self.gain = float(gains[-1])
        ramps = np.linspace(0.0, 1.0, self.block, endpoint=False, dtype=np.float64)
        envelope = gains[:-1, None] + (gains[1:] - gains[:-1])[:, None] * ramps[None, :]
        limited = pcm * envelope.reshape(-1).astype(np.float32)
        return np.clip(limited, -self.threshold, self.threshold)
