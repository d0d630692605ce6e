"""L16 (RFC 3551 section 4.5.11): uncompressed big-endian signed 16-bit PCM, mono."""

from __future__ import annotations

import numpy as np

from mediacore.audio import float_to_int16
from mediacore.codecs.base import CodecError, CodecInfo, Pcm
from mediacore.codecs.concealment import FadingRepeat

L16_8000 = CodecInfo("L16", clock_rate=8000, sample_rate=8000)
L16_16000 = CodecInfo("L16", clock_rate=16000, sample_rate=16000)
L16_44100 = CodecInfo("L16", clock_rate=44100, sample_rate=44100, static_payload_type=11)
L16_48000 = CodecInfo("L16", clock_rate=48000, sample_rate=48000)

# Multiples of 10 ms up to 60 ms; 10 ms is a whole number of samples at every rate above.
L16_PTIMES_MS = (10, 20, 30, 40, 50, 60)

_BIG_ENDIAN_INT16 = np.dtype(">i2")
_SCALE = np.float32(1.0 / 32768.0)


class L16Decoder:
    """Byte-order swap and scale, plus fading-repeat concealment."""

    def __init__(self, sample_rate: int) -> None:
        """Takes: the stream's sample rate (for the concealment's time limit)."""
        self._concealer = FadingRepeat(sample_rate)

    def decode(self, payload: bytes) -> Pcm:
        """Takes: an L16 payload. Returns: len(payload) / 2 samples.
        Raises: CodecError for an empty or odd-length payload."""
        if not payload or len(payload) % 2:
            raise CodecError(f"L16 payload of {len(payload)} bytes is not whole 16-bit samples")
        samples = np.frombuffer(payload, dtype=_BIG_ENDIAN_INT16).astype(np.float32) * _SCALE
        return self._concealer.remember(samples)

    def conceal(self, samples: int) -> Pcm:
        """Fading repeat of the last packet (see FadingRepeat)."""
        return self._concealer.conceal(samples)

    def recover(self, next_payload: bytes, samples: int) -> Pcm:
        """L16 carries no redundancy: conceals instead."""
        return self._concealer.conceal(samples)


class L16Encoder:
    """Scale, clip and byte-order swap for one packet size."""

    def __init__(self, sample_rate: int, ptime_ms: int) -> None:
        """Raises: CodecError for a ptime not in L16_PTIMES_MS."""
        if ptime_ms not in L16_PTIMES_MS:
            raise CodecError(f"L16 ptime {ptime_ms} ms not supported (use {L16_PTIMES_MS})")
        self._samples = sample_rate * ptime_ms // 1000

    def encode(self, pcm: Pcm) -> bytes:
        """Takes: exactly ptime x rate samples. Returns: 2 bytes per sample, big-endian.
        Raises: CodecError for the wrong number of samples."""
        if pcm.shape != (self._samples,):
            raise CodecError(f"L16 encoder wants {self._samples} samples, got {pcm.shape}")
        return float_to_int16(pcm).astype(_BIG_ENDIAN_INT16).tobytes()


def l16_decoder(info: CodecInfo) -> L16Decoder:
    """A new L16 decoder for one of the L16 CodecInfos."""
    return L16Decoder(info.sample_rate)


def l16_encoder(info: CodecInfo, ptime_ms: int) -> L16Encoder:
    """A new L16 encoder. Raises: CodecError for an unsupported ptime."""
    return L16Encoder(info.sample_rate, ptime_ms)
