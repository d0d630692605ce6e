"""A leg's playout: one tick per read, and conversion that starts cleanly mid-stream."""

from __future__ import annotations

import numpy as np

from mediacore.audio import tone
from mediacore.codecs import PCMU, registry
from mediacore.playout import AudioPlayout
from mediacore.resample import Resampler


def test_conversion_started_mid_stream_matches_a_continuous_conversion() -> None:
    encoder = registry.new_encoder(PCMU, 20)
    signal = tone(700.0, 0.2, 8000, level_dbfs=-12)
    payloads = [encoder.encode(signal[i : i + 160]) for i in range(0, len(signal), 160)]
    playout = AudioPlayout(PCMU, registry.new_decoder(PCMU), 48000, 20)
    continuous = Resampler(8000, 48000)
    frames = []
    for n, payload in enumerate(payloads):
        playout.receive(n, n * 160, payload, n * 0.02)
        frame = playout.read(n * 0.02 + 0.001)
        assert frame is not None and len(frame) == 160
        frames.append(frame)
        expected = continuous.process(frame)
        if n == 3:  # first converted at tick 3, as when a participant starts talking
            converted = playout.to_room_rate(frame, restart=True)
        elif n > 3:
            converted = playout.to_room_rate(frame, restart=False)
        else:
            continue
        # Primed with the frame just before, the start carries no onset transient.
        np.testing.assert_allclose(converted, expected, atol=1e-5)
