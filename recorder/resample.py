"""Room-rate twins of narrowband tracks: the same audio at the room rate, made at the stop.

A phone's 8 kHz track is recorded as it arrived (lossless); reviewers also want every track at
one rate to line up with the mix. Converting whole files after the fact costs nothing on the
room's clock. soxr's stream mode keeps memory bounded for hour-long tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soxr

from mediacore.audio import int16_to_float
from recorder.track import TrackWriter
from recorder.wavfile import WAV_HEADER_BYTES, pcm16, read_wav_header

CHUNK_SECONDS = 10


def write_resampled_track(source: Path, target: Path, rate: int, recording_id: str) -> TrackWriter:
    """Write `source` (16-bit mono WAV) converted to `rate` as a new chained track."""
    with open(source, "rb") as reading:
        info = read_wav_header(reading.read(WAV_HEADER_BYTES))
        stream = soxr.ResampleStream(info.rate, rate, 1, dtype="float32", quality="HQ")
        writer = TrackWriter(target, rate, recording_id)
        remaining = info.data_bytes
        chunk = 2 * info.rate * CHUNK_SECONDS
        while remaining > 0:
            data = reading.read(min(chunk, remaining))
            if not data:
                break
            remaining -= len(data)
            pcm = int16_to_float(np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2"))
            converted = stream.resample_chunk(pcm, last=remaining <= 0)
            writer.write(pcm16(np.asarray(converted, dtype=np.float32)))
            writer.flush()
        writer.close()
    return writer
