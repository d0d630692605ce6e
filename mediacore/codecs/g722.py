"""G.722 wideband (16 kHz PCM, 64 kbit/s) through FFmpeg's g722 codec in PyAV, one state per leg.

The RTP clock is 8000 although the audio is sampled at 16 kHz (RFC 3551's historic error), so a
20 ms packet is 320 samples, 160 bytes, and a timestamp step of 160."""

from __future__ import annotations

import av
import numpy as np

from mediacore.audio import float_to_int16, int16_to_float
from mediacore.codecs.base import CodecError, CodecInfo, Pcm
from mediacore.codecs.concealment import FadingRepeat

G722 = CodecInfo("G722", clock_rate=8000, sample_rate=16000, static_payload_type=9)

G722_PTIMES_MS = (10, 20, 30, 40, 50, 60)

_RATE = 16000


class G722Decoder:
    """FFmpeg G.722 decoder state for one stream, plus fading-repeat concealment."""

    def __init__(self) -> None:
        self._context = av.CodecContext.create("g722", "r")
        self._context.sample_rate = _RATE
        self._context.layout = "mono"
        self._concealer = FadingRepeat(_RATE)

    def decode(self, payload: bytes) -> Pcm:
        """Takes: a G.722 payload (every byte is valid: two 16 kHz samples).
        Returns: 2 x len(payload) samples. Raises: CodecError for an empty payload, or if FFmpeg
        rejects it."""
        if not payload:
            raise CodecError("empty G.722 payload")
        try:
            frames = self._context.decode(av.Packet(payload))
        except av.FFmpegError as error:
            raise CodecError(f"G.722 decode failed: {error}") from error
        parts = [
            int16_to_float(frame.to_ndarray().reshape(-1).astype(np.int16, copy=False))
            for frame in frames
        ]
        pcm = parts[0] if len(parts) == 1 else np.concatenate(parts or [np.zeros(0, np.float32)])
        return self._concealer.remember(pcm)

    def conceal(self, samples: int) -> Pcm:
        """Fading repeat of the last packet (see FadingRepeat)."""
        return self._concealer.conceal(samples)

    def recover(self, next_payload: bytes, samples: int) -> Pcm:
        """G.722 carries no redundancy: conceals instead."""
        return self._concealer.conceal(samples)


class G722Encoder:
    """FFmpeg G.722 encoder state for one stream, framed to exactly one packet per call."""

    def __init__(self, ptime_ms: int) -> None:
        """Raises: CodecError for a ptime not in G722_PTIMES_MS."""
        if ptime_ms not in G722_PTIMES_MS:
            raise CodecError(f"G.722 ptime {ptime_ms} ms not supported (use {G722_PTIMES_MS})")
        self._samples = _RATE * ptime_ms // 1000
        self._context = av.CodecContext.create("g722", "w")
        self._context.sample_rate = _RATE
        self._context.format = "s16"
        self._context.layout = "mono"
        # FFmpeg's default G.722 frame is 320 samples; PyAV would buffer other packet sizes.
        self._context.options = {"frame_size": str(self._samples)}
        self._context.open()
        self._pts = 0

    def encode(self, pcm: Pcm) -> bytes:
        """Takes: exactly ptime x 16 samples. Returns: ptime x 8 bytes.
        Raises: CodecError for the wrong number of samples or if FFmpeg fails."""
        if pcm.shape != (self._samples,):
            raise CodecError(f"G.722 encoder wants {self._samples} samples, got {pcm.shape}")
        frame = av.AudioFrame.from_ndarray(
            float_to_int16(pcm).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = _RATE
        frame.pts = self._pts
        self._pts += self._samples
        try:
            packets = self._context.encode(frame)
        except av.FFmpegError as error:
            raise CodecError(f"G.722 encode failed: {error}") from error
        return b"".join(bytes(packet) for packet in packets)


def g722_decoder() -> G722Decoder:
    """A new G.722 decoder."""
    return G722Decoder()


def g722_encoder(ptime_ms: int) -> G722Encoder:
    """A new G.722 encoder for `ptime_ms` packets. Raises: CodecError for an unsupported ptime."""
    return G722Encoder(ptime_ms)
