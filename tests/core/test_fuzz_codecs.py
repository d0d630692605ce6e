"""Whatever arrives off the network, a decoder either decodes it or raises CodecError."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediacore import codecs
from mediacore.codecs import OPUS, CodecError, CodecInfo

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
payloads = st.binary(min_size=0, max_size=1500)
# Opus packets that at least start with a plausible TOC byte reach deeper into libopus.
opus_like = st.tuples(st.integers(0, 255), st.binary(max_size=400)).map(
    lambda parts: bytes([parts[0]]) + parts[1]
)


def check_decode(info: CodecInfo, payload: bytes) -> None:
    decoder = codecs.new_decoder(info)
    for attempt in (
        lambda: decoder.decode(payload),
        lambda: decoder.recover(payload, info.samples_per_packet(20)),
    ):
        try:
            pcm = attempt()
        except CodecError:
            continue
        assert pcm.dtype == np.float32 and pcm.ndim == 1
        assert np.all(np.isfinite(pcm))


@pytest.mark.parametrize("info", codecs.supported(), ids=lambda info: info.key)
@FUZZ
@given(payload=payloads)
def test_random_payloads_raise_only_codec_error(info: CodecInfo, payload: bytes) -> None:
    check_decode(info, payload)


@FUZZ
@given(payload=opus_like)
def test_random_opus_packets_raise_only_codec_error(payload: bytes) -> None:
    check_decode(OPUS, payload)


@FUZZ
@given(payloads=st.lists(payloads, min_size=1, max_size=8))
def test_one_decoder_survives_a_stream_of_garbage(payloads: list[bytes]) -> None:
    for info in codecs.supported():
        decoder = codecs.new_decoder(info)
        for payload in payloads:
            try:
                decoder.decode(payload)
            except CodecError:
                pass
        assert decoder.conceal(info.samples_per_packet(20)).size == info.samples_per_packet(20)
