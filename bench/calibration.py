"""How fast this machine is right now, on work shaped like the mixer's.

Shared virtual machines change speed from minute to minute (by a quarter here between two
identical runs), so every report records this figure: compare runs only when it is close."""

from __future__ import annotations

import time

import numpy as np

from mediacore.audio import level_dbfs, tone
from mediacore.codecs import PCMU, registry
from mediacore.resample import Resampler


def calibration_ms(rounds: int = 5) -> float:
    """Milliseconds, best of `rounds`, to decode, meter and resample 500 PCMU frames and
    encode 50: about one 20 ms tick of a 500-leg room's arithmetic, without any I/O."""
    encoder = registry.new_encoder(PCMU, 20)
    payload = encoder.encode(tone(500.0, 0.02, 8000))
    decoder = registry.new_decoder(PCMU)
    upsampler = Resampler(8000, 48000)
    downsampler = Resampler(48000, 8000)
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(500):
            level_dbfs(decoder.decode(payload))
        frame = np.zeros(960, dtype=np.float32)
        for _ in range(50):
            frame = upsampler.process(decoder.decode(payload))
            encoder.encode(downsampler.process(frame))
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 3)
