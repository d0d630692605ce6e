"""A track's waveform for the review page: peak levels over evenly spaced windows.

Read in chunks so a long track never sits whole in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recorder.wavfile import WAV_HEADER_BYTES, read_wav_header

CHUNK_BYTES = 1 << 20


def track_peaks(path: Path, points: int) -> list[float]:
    """`points` peak amplitudes (0..1), each over 1/points of the track; [] for an empty one."""
    with open(path, "rb") as reading:
        info = read_wav_header(reading.read(WAV_HEADER_BYTES))
        samples = info.data_bytes // 2
        if samples == 0:
            return []
        edges = np.linspace(0, samples, points + 1).astype(np.int64)
        peaks = np.zeros(points, dtype=np.float32)
        position = 0
        while position < samples:
            data = reading.read(min(CHUNK_BYTES, (samples - position) * 2))
            if len(data) < 2:
                break
            chunk = np.abs(np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int32))
            # Which window each sample of this chunk falls in, then the max per window.
            windows = (
                np.searchsorted(edges, np.arange(position, position + len(chunk)), "right") - 1
            )
            np.maximum.at(peaks, np.clip(windows, 0, points - 1), chunk.astype(np.float32))
            position += len(chunk)
    return [round(float(value) / 32768.0, 4) for value in peaks]
