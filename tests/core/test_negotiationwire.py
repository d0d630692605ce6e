"""A negotiation crosses the control channel as JSON and comes back the same."""

from __future__ import annotations

import json

import pytest

from mediacore.codecs import registry
from mediacore.negotiationwire import negotiation_from_json, negotiation_to_json
from mediacore.offeranswer import OfferAnswerError, answer_audio
from mediacore.sdp import SessionDescription

OFFER = (
    "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 111 0 101\r\na=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 useinbandfec=1\r\na=rtpmap:101 telephone-event/8000\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=ptime:20\r\na=sendonly\r\n"
)


def test_every_term_of_an_answer_survives_the_trip() -> None:
    _, negotiation = answer_audio(
        SessionDescription.parse(OFFER), registry.supported(), "10.0.0.1", 20000, session_id=1
    )
    wire = json.loads(json.dumps(negotiation_to_json(negotiation)))
    assert negotiation_from_json(wire) == negotiation
    assert wire["codec"]["name"] == "opus" and wire["direction"] == "recvonly"


def test_a_codec_this_side_lacks_is_an_offer_answer_error() -> None:
    _, negotiation = answer_audio(
        SessionDescription.parse(OFFER), registry.supported(), "10.0.0.1", 20000, session_id=1
    )
    wire = negotiation_to_json(negotiation)
    wire["codec"]["name"] = "AMR"
    with pytest.raises(OfferAnswerError):
        negotiation_from_json(wire)


def test_srtp_keys_survive_the_trip_and_stay_out_of_the_repr() -> None:
    offer = OFFER.replace("RTP/AVP", "RTP/SAVP") + (
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + "QUJD" * 10 + "\r\n"
    )
    _, negotiation = answer_audio(
        SessionDescription.parse(offer),
        registry.supported(),
        "10.0.0.1",
        20000,
        session_id=1,
        srtp="optional",
    )
    assert negotiation.srtp is not None and negotiation.srtp.remote_key == b"ABC" * 10
    wire = json.loads(json.dumps(negotiation_to_json(negotiation)))
    assert negotiation_from_json(wire) == negotiation
    assert "ABC" not in repr(negotiation)
