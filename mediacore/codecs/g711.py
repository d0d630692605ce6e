"""G.711 PCMU (mu-law) and PCMA (A-law) at 8 kHz, bit-exact with the ITU-T / Sun reference.

Decoding is one 256-entry table lookup; encoding is one 65536-entry lookup indexed by the int16
sample, both tables built once at import with the reference algorithm vectorised."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mediacore.audio import float_to_int16
from mediacore.codecs.base import CodecError, CodecInfo, Pcm
from mediacore.codecs.concealment import FadingRepeat

PCMU = CodecInfo("PCMU", clock_rate=8000, sample_rate=8000, static_payload_type=0)
PCMA = CodecInfo("PCMA", clock_rate=8000, sample_rate=8000, static_payload_type=8)

# ptimes we encode at: multiples of 10 ms up to 60 ms (what SDP peers offer in practice).
G711_PTIMES_MS = (10, 20, 30, 40, 50, 60)

_QUANT_MASK = 0x0F
_SEG_SHIFT = 4
_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159  # largest 14-bit magnitude mu-law can represent
_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((code & _QUANT_MASK) << 3) + _ULAW_BIAS) << ((code >> _SEG_SHIFT) & 0x07)
    return np.where(code & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _alaw_decode_table() -> npt.NDArray[np.int16]:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (code >> _SEG_SHIFT) & 0x07
    t = ((code & _QUANT_MASK) << 4) + np.where(segment == 0, 8, 0x108)
    t <<= np.maximum(segment - 1, 0)
    return np.where(code & 0x80, t, -t).astype(np.int16)


def _all_int16_by_uint16_index() -> npt.NDArray[np.int32]:
    # Index i of the encode tables is the int16 sample whose bit pattern, read as uint16, is i.
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    value = _all_int16_by_uint16_index() >> 2  # 14-bit input, as the reference takes it
    mask = np.where(value < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(value), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, magnitude)
    code = (segment << _SEG_SHIFT) | ((magnitude >> (segment + 1)) & _QUANT_MASK)
    code = np.where(segment >= 8, 0x7F, code)  # past the top segment: the largest code
    return (code ^ mask).astype(np.uint8)


def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    value = _all_int16_by_uint16_index() >> 3  # 13-bit input, as the reference takes it
    mask = np.where(value >= 0, 0xD5, 0x55)
    magnitude = np.where(value >= 0, value, -value - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude)  # 13-bit input never exceeds 0xFFF
    mantissa = (magnitude >> np.maximum(segment, 1)) & _QUANT_MASK
    return (((segment << _SEG_SHIFT) | mantissa) ^ mask).astype(np.uint8)


ULAW_TO_INT16 = _ulaw_decode_table()
ALAW_TO_INT16 = _alaw_decode_table()
INT16_TO_ULAW = _ulaw_encode_table()  # index with int16 samples viewed as uint16
INT16_TO_ALAW = _alaw_encode_table()

_ULAW_TO_FLOAT = (ULAW_TO_INT16 / 32768.0).astype(np.float32)
_ALAW_TO_FLOAT = (ALAW_TO_INT16 / 32768.0).astype(np.float32)

# Mean of these over a payload's bytes is its mean square: level metering without decoding.
ULAW_POWER = (_ULAW_TO_FLOAT.astype(np.float64) ** 2).astype(np.float32)
ALAW_POWER = (_ALAW_TO_FLOAT.astype(np.float64) ** 2).astype(np.float32)


class G711Decoder:
    """Stateless table decoder, plus fading-repeat concealment."""

    def __init__(self, table: Pcm) -> None:
        """Takes: a 256-entry float32 table from code byte to sample (use pcmu/pcma_decoder)."""
        self._table = table
        self._concealer = FadingRepeat(8000)

    def decode(self, payload: bytes) -> Pcm:
        """Takes: a G.711 payload (any length >= 1). Returns: one sample per byte.
        Raises: CodecError for an empty payload."""
        if not payload:
            raise CodecError("empty G.711 payload")
        return self._concealer.remember(self._table[np.frombuffer(payload, dtype=np.uint8)])

    def conceal(self, samples: int) -> Pcm:
        """Fading repeat of the last packet (see FadingRepeat)."""
        return self._concealer.conceal(samples)

    def recover(self, next_payload: bytes, samples: int) -> Pcm:
        """G.711 carries no redundancy: conceals instead."""
        return self._concealer.conceal(samples)


class G711Encoder:
    """Stateless table encoder for one packet size."""

    def __init__(self, table: npt.NDArray[np.uint8], ptime_ms: int) -> None:
        """Takes: a 65536-entry encode table, the packet time. Raises: CodecError for a ptime
        not in G711_PTIMES_MS."""
        if ptime_ms not in G711_PTIMES_MS:
            raise CodecError(f"G.711 ptime {ptime_ms} ms not supported (use {G711_PTIMES_MS})")
        self._table = table
        self._samples = 8 * ptime_ms

    def encode(self, pcm: Pcm) -> bytes:
        """Takes: exactly ptime x 8 samples. Returns: one byte per sample.
        Raises: CodecError for the wrong number of samples."""
        if pcm.shape != (self._samples,):
            raise CodecError(f"G.711 encoder wants {self._samples} samples, got {pcm.shape}")
        return self._table[float_to_int16(pcm).view(np.uint16)].tobytes()


def pcmu_decoder() -> G711Decoder:
    """A new PCMU decoder."""
    return G711Decoder(_ULAW_TO_FLOAT)


def pcma_decoder() -> G711Decoder:
    """A new PCMA decoder."""
    return G711Decoder(_ALAW_TO_FLOAT)


def pcmu_encoder(ptime_ms: int) -> G711Encoder:
    """A new PCMU encoder for `ptime_ms` packets. Raises: CodecError for an unsupported ptime."""
    return G711Encoder(INT16_TO_ULAW, ptime_ms)


def pcma_encoder(ptime_ms: int) -> G711Encoder:
    """A new PCMA encoder for `ptime_ms` packets. Raises: CodecError for an unsupported ptime."""
    return G711Encoder(INT16_TO_ALAW, ptime_ms)
