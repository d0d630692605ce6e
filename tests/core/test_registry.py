"""The codec registry: preference order, SDP-style lookup, factories and ptime checks."""

from __future__ import annotations

import numpy as np
import pytest

from mediacore import codecs
from mediacore.codecs import (
    G722,
    L16_8000,
    L16_16000,
    L16_44100,
    L16_48000,
    OPUS,
    PCMA,
    PCMU,
    CodecError,
    CodecInfo,
    registry,
)


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lets a test register codecs without leaking them into other tests."""
    monkeypatch.setattr(registry, "_entries", dict(registry._entries))


def test_builtins_are_supported_in_preference_order() -> None:
    assert codecs.supported() == [
        OPUS,
        G722,
        PCMU,
        PCMA,
        L16_48000,
        L16_16000,
        L16_8000,
        L16_44100,
    ]


def test_builtin_descriptions_match_rfc_3551_and_7587() -> None:
    assert (PCMU.static_payload_type, PCMA.static_payload_type) == (0, 8)
    assert (G722.static_payload_type, G722.clock_rate, G722.sample_rate) == (9, 8000, 16000)
    assert (L16_44100.static_payload_type, L16_48000.static_payload_type) == (11, None)
    assert (OPUS.name, OPUS.clock_rate, OPUS.channels) == ("opus", 48000, 2)
    assert OPUS.static_payload_type is None
    assert G722.timestamp_step(20) == 160 and G722.samples_per_packet(20) == 320


@pytest.mark.parametrize(
    ("name", "clock_rate", "channels", "expected"),
    [
        ("PCMU", 8000, None, PCMU),
        ("pcmu", 8000, 1, PCMU),
        ("pcma", 8000, None, PCMA),
        ("g722", 8000, 1, G722),
        ("OPUS", 48000, 2, OPUS),
        ("opus", 48000, None, OPUS),
        ("l16", 44100, 1, L16_44100),
        ("L16", 16000, None, L16_16000),
        ("opus", 48000, 1, None),
        ("G722", 16000, None, None),
        ("PCMU", 16000, None, None),
        ("L16", 22050, None, None),
        ("telephone-event", 8000, None, None),
    ],
)
def test_lookup_is_case_insensitive_and_exact_on_rate_and_channels(
    name: str, clock_rate: int, channels: int | None, expected: CodecInfo | None
) -> None:
    assert codecs.lookup(name, clock_rate, channels) == expected


@pytest.mark.parametrize("info", codecs.supported(), ids=lambda info: info.key)
def test_factories_make_working_codecs_for_every_listed_ptime(info: CodecInfo) -> None:
    for ptime in codecs.supported_ptimes(info):
        encoder = codecs.new_encoder(info, ptime)
        payload = encoder.encode(np.zeros(info.samples_per_packet(ptime), dtype=np.float32))
        assert codecs.new_decoder(info).decode(payload).dtype == np.float32


def test_ptimes_per_codec() -> None:
    assert codecs.supported_ptimes(OPUS) == (10, 20, 40, 60)
    assert codecs.supported_ptimes(PCMU) == (10, 20, 30, 40, 50, 60)


@pytest.mark.parametrize(("info", "ptime"), [(OPUS, 30), (OPUS, 50), (PCMU, 25), (G722, 5)])
def test_new_encoder_refuses_a_ptime_the_codec_cannot_do(info: CodecInfo, ptime: int) -> None:
    with pytest.raises(CodecError):
        codecs.new_encoder(info, ptime)


def test_unregistered_codec_is_a_codec_error() -> None:
    unknown = CodecInfo("iLBC", 8000, 8000)
    with pytest.raises(CodecError):
        codecs.new_decoder(unknown)
    with pytest.raises(CodecError):
        codecs.new_encoder(unknown, 20)
    with pytest.raises(CodecError):
        codecs.supported_ptimes(unknown)


@pytest.mark.usefixtures("scratch_registry")
def test_register_appends_and_refuses_duplicates() -> None:
    extra = CodecInfo("L16", 32000, 32000)
    codecs.register(
        extra, lambda: codecs.new_decoder(L16_16000), lambda ptime: codecs.new_encoder(PCMU, ptime)
    )
    assert codecs.supported()[-1] == extra
    assert codecs.lookup("l16", 32000) == extra
    with pytest.raises(ValueError):
        codecs.register(
            CodecInfo("pcmu", 8000, 8000), codecs.g711.pcmu_decoder, codecs.g711.pcmu_encoder
        )
