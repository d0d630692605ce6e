"""What every audio codec offers the rest of mediacore: a description and a decoder/encoder pair."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

# Decoded audio travels as mono float32 in [-1.0, 1.0) at the codec's sample rate.
Pcm = npt.NDArray[np.float32]


class Decoder(Protocol):
    """Turns RTP payloads into PCM; keeps whatever state the codec needs between packets."""

    def decode(self, payload: bytes) -> Pcm:
        """Decode one payload; raises CodecError if the payload is malformed."""
        ...

    def conceal(self, samples: int) -> Pcm:
        """Make up `samples` of audio for a lost packet (codec PLC, or a fade to silence)."""
        ...

    def recover(self, next_payload: bytes, samples: int) -> Pcm:
        """Rebuild a lost packet from the redundancy in the packet after it (Opus in-band FEC).

        Codecs without in-band FEC conceal instead."""
        ...


class Encoder(Protocol):
    def encode(self, pcm: Pcm) -> bytes:
        """Encode exactly one packet's worth of PCM (ptime x sample_rate samples)."""
        ...


class CodecError(ValueError):
    """A payload the codec cannot decode, or PCM of the wrong length for the encoder."""


@dataclass(frozen=True, slots=True)
class CodecInfo:
    """One codec as SDP names it and as the media path uses it.

    `clock_rate` is the RTP timestamp rate (8000 for G.722 by RFC 3551's historic error), while
    `sample_rate` is the rate of the PCM the decoder produces and the encoder takes."""

    name: str  # encoding name as in a=rtpmap, e.g. "PCMU", "opus"
    clock_rate: int
    sample_rate: int
    channels: int = 1  # as written in a=rtpmap (Opus is always "/2" there; we decode mono)
    static_payload_type: int | None = None
    default_fmtp: str | None = None

    @property
    def key(self) -> str:
        """A stable name for the codec including its rate, e.g. "PCMU/8000"."""
        return f"{self.name}/{self.clock_rate}"

    def samples_per_packet(self, ptime_ms: int) -> int:
        return self.sample_rate * ptime_ms // 1000

    def timestamp_step(self, ptime_ms: int) -> int:
        return self.clock_rate * ptime_ms // 1000
