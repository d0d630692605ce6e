"""The canonical WAV header and PCM16 packing: what we write, `wave` reads; nothing else parses."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest

from recorder.wavfile import (
    MAX_DATA_BYTES,
    WAV_HEADER_BYTES,
    WavError,
    WavInfo,
    pcm16,
    read_wav_header,
    wav_header,
)


def test_header_is_44_bytes_and_reads_back() -> None:
    header = wav_header(48000, 96000)
    assert len(header) == WAV_HEADER_BYTES
    assert read_wav_header(header) == WavInfo(rate=48000, channels=1, bits=16, data_bytes=96000)


def test_python_wave_module_plays_header_plus_samples() -> None:
    samples = pcm16(np.linspace(-0.5, 0.5, 800, dtype=np.float32))
    with wave.open(io.BytesIO(wav_header(8000, len(samples)) + samples)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, 8000)
        assert reader.getnframes() == 800
        assert reader.readframes(800) == samples


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (0, b"RIFX", "RIFF"),
        (8, b"AVI ", "WAVE"),
        (20, struct.pack("<H", 3), "not PCM"),
        (16, struct.pack("<I", 18), "fmt chunk"),
        (32, struct.pack("<H", 4), "inconsistent"),
        (36, b"LIST", "data"),
        (4, struct.pack("<I", 1000), "RIFF size"),
    ],
)
def test_any_other_layout_is_a_clear_wav_error(offset: int, value: bytes, message: str) -> None:
    header = bytearray(wav_header(8000, 160))
    header[offset : offset + len(value)] = value
    with pytest.raises(WavError, match=message) as caught:
        read_wav_header(bytes(header))
    assert len(str(caught.value)) < 120


def test_short_buffer_is_a_wav_error() -> None:
    with pytest.raises(WavError, match="44 bytes"):
        read_wav_header(b"RIFF" * 5)


def test_header_refuses_sizes_the_format_cannot_hold() -> None:
    with pytest.raises(ValueError):
        wav_header(8000, MAX_DATA_BYTES + 2)
    with pytest.raises(ValueError):
        wav_header(0, 0)


def test_pcm16_clips_rounds_and_is_little_endian() -> None:
    floats = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, np.nan, 1e-6], dtype=np.float32)
    packed = pcm16(floats)
    assert packed[2:4] == struct.pack("<h", 16384)  # 0.5 * 32768
    assert np.frombuffer(packed, "<i2").tolist() == [
        0, 16384, -16384, 32767, -32768, 32767, -32768, 0, 0,
    ]  # fmt: skip


def test_pcm16_keeps_a_tone_within_one_step() -> None:
    signal = (0.8 * np.sin(np.arange(4800) * 2 * np.pi * 440 / 48000)).astype(np.float32)
    restored = np.frombuffer(pcm16(signal), "<i2") / 32768.0
    assert np.max(np.abs(restored - signal)) <= 0.5 / 32768 + 1e-7


def test_pcm16_wants_mono() -> None:
    with pytest.raises(ValueError, match="mono"):
        pcm16(np.zeros((2, 10), dtype=np.float32))
