"""SDP security descriptions (RFC 4568): the a=crypto attribute, parsed and written back, and
the offer/answer that agrees SRTP keys for each direction."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediacore.codecs import PCMA, PCMU
from mediacore.offeranswer import OfferAnswerError, answer_audio, make_audio_offer, read_answer
from mediacore.sdes import (
    KEY_LENGTH,
    SUITES,
    CryptoAttribute,
    CryptoError,
    SrtpKeys,
    pick_offered,
)
from mediacore.sdp import SessionDescription

KEY = bytes(range(KEY_LENGTH))
INLINE = base64.b64encode(KEY).decode()


def test_rfc_4568_example_attribute_parses_with_lifetime_and_mki() -> None:
    value = f"1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}|2^20|1:4"
    crypto = CryptoAttribute.parse(value)
    assert (crypto.tag, crypto.suite, crypto.key) == (1, "AES_CM_128_HMAC_SHA1_80", KEY)
    assert (crypto.lifetime, crypto.mki) == ("2^20", "1:4")
    assert not crypto.usable  # an MKI other than 0 is not something we send
    assert crypto.to_value() == value


def test_a_key_never_shows_in_repr() -> None:
    crypto = CryptoAttribute(1, SUITES[0], KEY)
    keys = SrtpKeys(SUITES[0], KEY, KEY)
    assert INLINE not in repr(crypto) and "\\x00" not in repr(crypto)
    assert "local_key" not in repr(keys) and str(KEY) not in repr(keys)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1",
        "x AES_CM_128_HMAC_SHA1_80 inline:" + INLINE,
        "1 AES_CM_128_HMAC_SHA1_80 uri:https://example.org/key",
        "1 AES_CM_128_HMAC_SHA1_80 inline:not*base64",
        "1 AES_CM_128_HMAC_SHA1_80 inline:" + INLINE + "|a|b|c",
        "1234567890 AES_CM_128_HMAC_SHA1_80 inline:" + INLINE,
    ],
)
def test_malformed_attributes_raise_crypto_error(value: str) -> None:
    with pytest.raises(CryptoError):
        CryptoAttribute.parse(value)


@given(
    tag=st.integers(0, 999_999_999),
    suite=st.sampled_from([*SUITES, "F8_128_HMAC_SHA1_80", "AEAD_AES_256_GCM"]),
    key=st.binary(min_size=1, max_size=64),
    lifetime=st.none() | st.sampled_from(["2^31", "1048576"]),
    mki=st.none() | st.sampled_from(["1:4", "0:1"]),
)
def test_serialize_then_parse_is_the_identity(
    tag: int, suite: str, key: bytes, lifetime: str | None, mki: str | None
) -> None:
    crypto = CryptoAttribute(tag, suite, key, lifetime, mki)
    assert CryptoAttribute.parse(crypto.to_value()) == crypto


@given(st.text(max_size=300))
def test_any_text_parses_or_raises_crypto_error_only(value: str) -> None:
    try:
        CryptoAttribute.parse(value)
    except CryptoError:
        pass


@given(st.binary(max_size=200))
def test_any_bytes_in_an_offer_give_a_crypto_or_none(data: bytes) -> None:
    value = "1 AES_CM_128_HMAC_SHA1_80 inline:" + data.decode("latin-1")
    found = pick_offered([value, data.decode("latin-1")])
    assert found is None or found.usable


def offer_text(proto: str, *cryptos: str) -> str:
    lines = [
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.7",
        "s=-",
        "c=IN IP4 192.0.2.7",
        "t=0 0",
        f"m=audio 40000 {proto} 0 8",
        *(f"a=crypto:{crypto}" for crypto in cryptos),
    ]
    return "\r\n".join(lines) + "\r\n"


def answer(text: str, srtp: str) -> tuple[SessionDescription, object]:
    return answer_audio(
        SessionDescription.parse(text),
        [PCMU, PCMA],
        "192.0.2.1",
        30000,
        session_id=1,
        srtp=srtp,  # type: ignore[arg-type]
    )


def test_a_savp_offer_is_answered_with_our_own_key_for_the_first_suite_we_speak() -> None:
    other = base64.b64encode(b"\x01" * 46).decode()
    text = offer_text(
        "RTP/SAVP",
        f"1 AES_256_CM_HMAC_SHA1_80 inline:{other}",
        f"2 AES_CM_128_HMAC_SHA1_32 inline:{INLINE}",
        f"3 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}",
    )
    sdp, negotiation = answer(text, "optional")
    media = sdp.media[0]
    assert media.proto == "RTP/SAVP"
    [ours] = [CryptoAttribute.parse(v) for v in media.attribute_values("crypto")]
    assert (ours.tag, ours.suite) == (2, "AES_CM_128_HMAC_SHA1_32")
    keys = negotiation.srtp  # type: ignore[attr-defined]
    assert keys.remote_key == KEY and keys.local_key == ours.key != KEY


def test_mandatory_refuses_a_plain_offer_and_off_refuses_savp() -> None:
    with pytest.raises(OfferAnswerError) as refused:
        answer(offer_text("RTP/AVP"), "mandatory")
    assert refused.value.reason == "no-srtp"
    with pytest.raises(OfferAnswerError):
        answer(offer_text("RTP/SAVP", f"1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}"), "off")


def test_optional_answers_plain_rtp_to_a_plain_offer() -> None:
    sdp, negotiation = answer(offer_text("RTP/AVP"), "optional")
    assert sdp.media[0].proto == "RTP/AVP" and not sdp.media[0].attribute_values("crypto")
    assert negotiation.srtp is None  # type: ignore[attr-defined]


def test_a_savp_offer_without_a_suite_we_speak_is_refused() -> None:
    with pytest.raises(OfferAnswerError) as refused:
        answer(offer_text("RTP/SAVP", f"1 F8_128_HMAC_SHA1_80 inline:{INLINE}"), "optional")
    assert refused.value.reason == "no-srtp"


@pytest.mark.parametrize(("mode", "proto"), [("mandatory", "RTP/SAVP"), ("optional", "RTP/AVP")])
def test_our_offer_and_the_peers_answer_agree_keys_both_ways(mode: str, proto: str) -> None:
    offer = make_audio_offer([PCMU], "192.0.2.1", 30000, session_id=1, srtp=mode)  # type: ignore[arg-type]
    assert offer.media[0].proto == proto
    peer_answer, peer = answer_audio(
        SessionDescription.parse(offer.serialize()),
        [PCMU],
        "192.0.2.7",
        40000,
        session_id=2,
        srtp="optional",
    )
    ours = read_answer(offer, SessionDescription.parse(peer_answer.serialize()), [PCMU])
    assert ours.srtp is not None and peer.srtp is not None
    assert ours.srtp.suite == peer.srtp.suite == SUITES[0]
    assert (ours.srtp.local_key, ours.srtp.remote_key) == (
        peer.srtp.remote_key,
        peer.srtp.local_key,
    )


def test_a_plain_answer_to_our_savp_offer_is_refused_but_fine_for_optional() -> None:
    for mode in ("mandatory", "optional"):
        offer = make_audio_offer([PCMU], "192.0.2.1", 30000, session_id=1, srtp=mode)  # type: ignore[arg-type]
        text = offer.serialize().replace("RTP/SAVP", "RTP/AVP")
        plain, _ = answer_audio(
            SessionDescription.parse(text), [PCMU], "192.0.2.7", 40000, session_id=2
        )
        if mode == "mandatory":
            with pytest.raises(OfferAnswerError):
                read_answer(offer, plain, [PCMU])
        else:
            assert read_answer(offer, plain, [PCMU]).srtp is None
