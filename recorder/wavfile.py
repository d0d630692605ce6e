"""The canonical 44-byte WAV header (RIFF, one PCM fmt chunk, one data chunk) and PCM16 packing.

Recordings always use this exact layout so the header can be rewritten in place after every
flush; `read_wav_header` accepts nothing else."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mediacore.audio import float_to_int16

WAV_HEADER_BYTES = 44
# RIFF sizes are unsigned 32-bit and count the 36 header bytes after the RIFF size field;
# keep the data a whole number of 16-bit samples.
MAX_DATA_BYTES = (0xFFFFFFFF - 36) & ~1

_PCM_FORMAT = 1
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")


class WavError(ValueError):
    """The bytes are not a canonical PCM WAV header."""


@dataclass(frozen=True, slots=True)
class WavInfo:
    rate: int
    channels: int
    bits: int
    data_bytes: int


def wav_header(rate: int, data_bytes: int) -> bytes:
    """The 44-byte header of a mono 16-bit PCM WAV file.

    Takes: sample rate in Hz, size of the sample data in bytes.
    Returns: the header. Raises: ValueError if either does not fit the format."""
    if not 0 < rate <= 0xFFFFFFFF // 2:
        raise ValueError(f"sample rate {rate} is out of range for WAV")
    if not 0 <= data_bytes <= MAX_DATA_BYTES:
        raise ValueError(f"{data_bytes} data bytes do not fit a WAV file")
    return _HEADER.pack(
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        _PCM_FORMAT,
        1,
        rate,
        rate * 2,
        2,
        16,
        b"data",
        data_bytes,
    )


def read_wav_header(data: bytes) -> WavInfo:
    """Parse a canonical PCM WAV header from the first 44 bytes of `data`.

    Returns: its rate, channels, bits per sample and data size.
    Raises: WavError for a short buffer, any other layout, or inconsistent fields."""
    if len(data) < WAV_HEADER_BYTES:
        raise WavError(f"WAV header needs {WAV_HEADER_BYTES} bytes, got {len(data)}")
    (
        riff,
        riff_size,
        wave,
        fmt,
        fmt_size,
        audio_format,
        channels,
        rate,
        byte_rate,
        block_align,
        bits,
        data_id,
        data_bytes,
    ) = _HEADER.unpack_from(data)
    for found, expected in ((riff, b"RIFF"), (wave, b"WAVE"), (fmt, b"fmt "), (data_id, b"data")):
        if found != expected:
            raise WavError(f"expected chunk tag {expected!r}, found {found!r}")
    if fmt_size != 16:
        raise WavError(f"fmt chunk is {fmt_size} bytes, expected 16 (plain PCM)")
    if audio_format != _PCM_FORMAT:
        raise WavError(f"audio format {audio_format} is not PCM (1)")
    if channels < 1 or bits not in (8, 16, 24, 32) or rate < 1:
        raise WavError(f"unsupported format: {channels} channels, {bits} bits, {rate} Hz")
    if block_align != channels * bits // 8 or byte_rate != rate * block_align:
        raise WavError(f"inconsistent fmt chunk: block align {block_align}, byte rate {byte_rate}")
    if riff_size != 36 + data_bytes:
        raise WavError(f"RIFF size {riff_size} does not match data size {data_bytes}")
    return WavInfo(rate=rate, channels=channels, bits=bits, data_bytes=data_bytes)


def pcm16(samples: npt.ArrayLike) -> bytes:
    """Little-endian signed 16-bit samples from float samples in [-1, 1), scaled as everywhere
    in mediacore (x 32768, so int16 -> float -> int16 is exact); NaN becomes 0.

    Raises: ValueError for a multi-dimensional array."""
    floats = np.asarray(samples, dtype=np.float32)
    if floats.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {floats.shape}")
    packed: bytes = float_to_int16(np.nan_to_num(floats, nan=0.0)).astype("<i2").tobytes()
    return packed
