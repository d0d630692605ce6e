"""Audio codecs: importing this package registers the built-in ones in preference order."""

from __future__ import annotations

from functools import partial

from mediacore.codecs.base import CodecError, CodecInfo, Decoder, Encoder, Pcm
from mediacore.codecs.g711 import (
    G711_PTIMES_MS,
    PCMA,
    PCMU,
    pcma_decoder,
    pcma_encoder,
    pcmu_decoder,
    pcmu_encoder,
)
from mediacore.codecs.g722 import G722, G722_PTIMES_MS, g722_decoder, g722_encoder
from mediacore.codecs.l16 import (
    L16_8000,
    L16_16000,
    L16_44100,
    L16_48000,
    L16_PTIMES_MS,
    l16_decoder,
    l16_encoder,
)
from mediacore.codecs.opus import OPUS, OPUS_PTIMES_MS, opus_decoder, opus_encoder
from mediacore.codecs.registry import (
    lookup,
    new_decoder,
    new_encoder,
    register,
    supported,
    supported_ptimes,
)


def _register_builtins() -> None:
    register(OPUS, opus_decoder, opus_encoder, ptimes_ms=OPUS_PTIMES_MS)
    register(G722, g722_decoder, g722_encoder, ptimes_ms=G722_PTIMES_MS)
    register(PCMU, pcmu_decoder, pcmu_encoder, ptimes_ms=G711_PTIMES_MS)
    register(PCMA, pcma_decoder, pcma_encoder, ptimes_ms=G711_PTIMES_MS)
    for info in (L16_48000, L16_16000, L16_8000, L16_44100):
        register(
            info, partial(l16_decoder, info), partial(l16_encoder, info), ptimes_ms=L16_PTIMES_MS
        )


_register_builtins()

__all__ = [
    "G722",
    "L16_8000",
    "L16_16000",
    "L16_44100",
    "L16_48000",
    "OPUS",
    "PCMA",
    "PCMU",
    "CodecError",
    "CodecInfo",
    "Decoder",
    "Encoder",
    "Pcm",
    "lookup",
    "new_decoder",
    "new_encoder",
    "register",
    "supported",
    "supported_ptimes",
]
