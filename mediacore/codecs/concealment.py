"""Packet-loss concealment for codecs that have none of their own (G.711, G.722, L16)."""

from __future__ import annotations

import numpy as np

from mediacore.codecs.base import Pcm

_EMPTY: Pcm = np.zeros(0, dtype=np.float32)


class FadingRepeat:
    """Fills a loss by repeating the last good packet, fading 6 dB per packet length, then silence.

    The gain falls smoothly sample by sample (no steps to click), and a linear fade over the last
    packet length before `max_ms` brings it to exactly zero; after that, silence until the next
    good packet. Every decoder without its own PLC owns one of these."""

    def __init__(self, sample_rate: int, step_db: float = -6.0, max_ms: int = 60) -> None:
        """Takes: the decoder's sample rate, attenuation per lost packet, how long to keep going."""
        self._step_db = step_db
        self._limit = sample_rate * max_ms // 1000
        self._last: Pcm = _EMPTY
        self._concealed = 0  # samples made up since the last good packet

    def remember(self, pcm: Pcm) -> Pcm:
        """Note a good decoded packet as the source of later concealment; returns it unchanged."""
        self._last = pcm.copy()  # callers may scale the returned block in place
        self._concealed = 0
        return pcm

    def conceal(self, samples: int) -> Pcm:
        """Make up `samples` of audio continuing the current loss run.

        Returns: float32 PCM of length `samples` (silence if nothing was ever decoded, or once the
        loss run is past `max_ms`). Raises: ValueError for a negative sample count."""
        if samples < 0:
            raise ValueError(f"cannot conceal {samples} samples")
        start = self._concealed
        self._concealed += samples
        period = self._last.size
        if period == 0 or start >= self._limit:
            return np.zeros(samples, dtype=np.float32)
        position = start + np.arange(samples)
        gain = 10.0 ** (self._step_db * (position + 1) / (20.0 * period))
        gain *= np.clip((self._limit - position) / period, 0.0, 1.0)
        return (self._last[position % period] * gain).astype(np.float32)
