"""RFC 3264 offer/answer for one audio stream, against offers real endpoints send."""

from __future__ import annotations

import pytest

from mediacore.codecs.base import CodecInfo
from mediacore.offeranswer import (
    ALLOWED_PTIMES,
    AudioNegotiation,
    OfferAnswerError,
    answer_audio,
    make_audio_offer,
    read_answer,
)
from mediacore.sdp import Extmap, SessionDescription
from tests.core.test_sdp import (
    CHROME_OFFER,
    GSM_ONLY_OFFER,
    LINPHONE_OFFER,
    PJSUA_OFFER,
    POLYCOM_OFFER,
    RFC8866_EXAMPLE,
    crlf,
)

PCMU = CodecInfo("PCMU", 8000, 8000, 1, 0)
PCMA = CodecInfo("PCMA", 8000, 8000, 1, 8)
G722 = CodecInfo("G722", 8000, 16000, 1, 9)
OPUS = CodecInfo("opus", 48000, 48000, 2, None, "minptime=10;useinbandfec=1")
L16 = CodecInfo("L16", 48000, 48000, 1, None)
SUPPORTED = [OPUS, G722, PCMU, PCMA, L16]  # our preference order

AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
WEBRTC_PROFILES = ("UDP/TLS/RTP/SAVPF",)


def offer_with(media: str, session: str = "c=IN IP4 192.0.2.50\n") -> SessionDescription:
    """An offer from 192.0.2.50 with the given session-level and media lines."""
    return SessionDescription.parse(
        f"v=0\no=peer 5 5 IN IP4 192.0.2.50\ns=-\n{session}t=0 0\n{media}"
    )


def answer(
    offer: SessionDescription | str, **options: object
) -> tuple[SessionDescription, AudioNegotiation]:
    if isinstance(offer, str):
        offer = SessionDescription.parse(crlf(offer))
    return answer_audio(offer, SUPPORTED, "198.51.100.9", 30000, session_id=77, **options)  # type: ignore[arg-type]


def reason_of(offer: SessionDescription | str, **options: object) -> str:
    with pytest.raises(OfferAnswerError) as caught:
        answer(offer, **options)
    assert str(caught.value)  # a human message as well as the reason
    return caught.value.reason


# --- codec choice (RFC 3264 section 6.1) -------------------------------------------------------


def test_pjsua_answer_is_exactly_the_expected_sdp() -> None:
    text, _ = answer(PJSUA_OFFER)
    assert text.serialize() == crlf(
        "v=0\n"
        "o=mediacore 77 1 IN IP4 198.51.100.9\n"
        "s=mediacore\n"
        "c=IN IP4 198.51.100.9\n"
        "t=0 0\n"
        "m=audio 30000 RTP/AVP 0 121\n"
        "a=rtpmap:0 PCMU/8000\n"
        "a=rtpmap:121 telephone-event/8000\n"
        "a=fmtp:121 0-16\n"
        "a=ptime:20\n"
        "a=sendrecv\n"
    )


def test_offerers_order_wins_over_ours_skipping_codecs_we_lack() -> None:
    # pjsua lists speex and GSM first; of the rest it prefers PCMU, though we prefer G.722.
    _, negotiation = answer(PJSUA_OFFER)
    assert negotiation.codec == PCMU
    assert negotiation.payload_type == 0


def test_pjsua_negotiation_reads_address_and_rfc3605_rtcp() -> None:
    _, negotiation = answer(PJSUA_OFFER)
    assert negotiation == AudioNegotiation(
        codec=PCMU,
        payload_type=0,
        ptime=20,
        telephone_event_pt=121,
        remote_address="192.168.1.20",
        remote_port=4000,
        remote_rtcp=("192.168.1.20", 4001),
        rtcp_mux=False,
        direction="sendrecv",
        fmtp=None,
        extmaps=(),
    )


def test_opus_answer_uses_our_fmtp_and_stereo_rtpmap() -> None:
    sdp, negotiation = answer(LINPHONE_OFFER)
    audio = sdp.media[0]
    assert negotiation.codec == OPUS and negotiation.payload_type == 96
    assert audio.attribute_values("rtpmap")[0] == "96 opus/48000/2"
    assert audio.fmtp[96] == "minptime=10;useinbandfec=1"
    assert negotiation.fmtp == "minptime=10;useinbandfec=1"


def test_linphone_offer_uses_session_level_connection() -> None:
    _, negotiation = answer(LINPHONE_OFFER)
    assert negotiation.remote_address == "10.0.0.5"
    assert negotiation.remote_port == 7078
    assert negotiation.remote_rtcp == ("10.0.0.5", 7079)


def test_rfc4733_telephone_event_at_the_codec_clock_rate_is_preferred() -> None:
    sdp, negotiation = answer(LINPHONE_OFFER)  # offers events at 48000, 16000 and 8000
    assert negotiation.telephone_event_pt == 101
    assert sdp.media[0].formats == ["96", "101"]
    assert sdp.media[0].rtpmaps[101].clock_rate == 48000
    assert sdp.media[0].fmtp[101] == "0-16"


def test_telephone_event_falls_back_to_8000_hz() -> None:
    offer = offer_with(
        "m=audio 4000 RTP/AVP 111 101\na=rtpmap:111 opus/48000/2\n"
        "a=rtpmap:101 telephone-event/8000\n"
    )
    assert answer(offer)[1].telephone_event_pt == 101


def test_telephone_event_at_another_rate_is_left_out() -> None:
    # pjsua offers events at 16000 too; with PCMU at 8000 only the 8000 Hz ones qualify.
    offer = offer_with("m=audio 4000 RTP/AVP 0 120\na=rtpmap:120 telephone-event/16000\n")
    sdp, negotiation = answer(offer)
    assert negotiation.telephone_event_pt is None
    assert sdp.media[0].formats == ["0"]
    assert sdp.media[0].attribute_values("fmtp") == []


def test_rfc3551_static_payload_types_need_no_rtpmap() -> None:
    _, negotiation = answer(offer_with("m=audio 4000 RTP/AVP 8 0\n"))
    assert (negotiation.codec, negotiation.payload_type) == (PCMA, 8)
    _, negotiation = answer(offer_with("m=audio 4000 RTP/AVP 3 9\n"))
    assert (negotiation.codec, negotiation.payload_type) == (G722, 9)


def test_static_l16_at_44100_does_not_match_our_48000_l16() -> None:
    assert reason_of(offer_with("m=audio 4000 RTP/AVP 11 10\n")) == "no-common-codec"


def test_dynamic_payload_type_keeps_the_offerers_number() -> None:
    offer = offer_with("m=audio 4000 RTP/AVP 122\na=rtpmap:122 L16/48000\n")
    sdp, negotiation = answer(offer)
    assert (negotiation.codec, negotiation.payload_type) == (L16, 122)
    assert sdp.media[0].rtpmaps[122].to_value() == "122 L16/48000"


def test_encoding_names_match_case_insensitively() -> None:
    offer = offer_with("m=audio 4000 RTP/AVP 97\na=rtpmap:97 pcmu/8000\n")
    assert answer(offer)[1].codec == PCMU


def test_clock_rate_and_channels_must_match() -> None:
    wrong_rate = offer_with("m=audio 4000 RTP/AVP 97\na=rtpmap:97 PCMU/16000\n")
    assert reason_of(wrong_rate) == "no-common-codec"
    stereo_l16 = offer_with("m=audio 4000 RTP/AVP 97\na=rtpmap:97 L16/48000/2\n")
    assert reason_of(stereo_l16) == "no-common-codec"


def test_dynamic_payload_type_without_rtpmap_is_skipped() -> None:
    _, negotiation = answer(offer_with("m=audio 4000 RTP/AVP 96 0\n"))
    assert negotiation.codec == PCMU


def test_offer_with_only_unsupported_codecs_fails_with_no_common_codec() -> None:
    with pytest.raises(OfferAnswerError, match="no supported codec among offered 3") as caught:
        answer(GSM_ONLY_OFFER)
    assert caught.value.reason == "no-common-codec"
    assert isinstance(caught.value, ValueError)


# --- m= lines (RFC 3264 section 6) -------------------------------------------------------------


def test_answer_has_one_m_line_per_offered_one_rejecting_all_but_the_first_audio() -> None:
    sdp, negotiation = answer(RFC8866_EXAMPLE)
    assert [(m.kind, m.port, m.formats) for m in sdp.media] == [
        ("audio", 30000, ["0"]),
        ("audio", 0, ["0"]),
        ("video", 0, ["99"]),
    ]
    assert negotiation.remote_port == 49170


def test_port_zero_audio_is_skipped_for_the_next_live_audio() -> None:
    offer = offer_with("m=audio 0 RTP/AVP 0\nm=audio 4002 RTP/AVP 8\n")
    sdp, negotiation = answer(offer)
    assert [m.port for m in sdp.media] == [0, 30000]
    assert (negotiation.codec, negotiation.remote_port) == (PCMA, 4002)


def test_offer_whose_audio_all_has_port_zero_is_rejected() -> None:
    offer = offer_with("m=audio 0 RTP/AVP 0\nm=video 5000 RTP/AVP 31\n")
    assert reason_of(offer) == "rejected"


def test_offer_without_audio_fails_with_no_audio() -> None:
    assert reason_of(offer_with("m=video 5000 RTP/AVP 31\n")) == "no-audio"
    assert reason_of(offer_with("")) == "no-audio"


def test_webrtc_offer_is_refused_for_plain_rtp() -> None:
    with pytest.raises(OfferAnswerError, match="UDP/TLS/RTP/SAVPF") as caught:
        answer(CHROME_OFFER)
    assert caught.value.reason == "no-audio"


def test_chrome_offer_answered_for_a_dtls_profile_keeps_mux_mids_and_known_extmaps() -> None:
    sdp, negotiation = answer(
        CHROME_OFFER, profiles=WEBRTC_PROFILES, supported_extensions=(AUDIO_LEVEL, ABS_SEND_TIME)
    )
    audio, video = sdp.media
    assert (negotiation.codec, negotiation.payload_type) == (OPUS, 111)
    assert negotiation.telephone_event_pt == 110  # telephone-event/48000, not /8000
    assert negotiation.rtcp_mux and negotiation.remote_rtcp is None
    assert negotiation.extmaps == (Extmap(1, AUDIO_LEVEL), Extmap(2, ABS_SEND_TIME))
    assert audio.proto == "UDP/TLS/RTP/SAVPF"
    assert audio.rtcp_mux
    assert audio.attribute("mid") == "0"
    assert audio.extmaps == [Extmap(1, AUDIO_LEVEL), Extmap(2, ABS_SEND_TIME)]
    assert (video.port, video.formats, video.attribute("mid")) == (0, ["96"], "1")


def test_unsupported_extensions_are_not_echoed() -> None:
    sdp, negotiation = answer(CHROME_OFFER, profiles=WEBRTC_PROFILES)
    assert negotiation.extmaps == ()
    assert sdp.media[0].extmaps == []


def test_extmap_direction_is_mirrored() -> None:
    offer = offer_with(f"m=audio 4000 RTP/AVP 0\na=extmap:5/sendonly {AUDIO_LEVEL} vad=on\n")
    _, negotiation = answer(offer, supported_extensions=(AUDIO_LEVEL,))
    assert negotiation.extmaps == (Extmap(5, AUDIO_LEVEL, "recvonly"),)


def test_rtcp_mux_is_answered_only_when_offered() -> None:
    sdp, negotiation = answer(offer_with("m=audio 4000 RTP/AVP 0\na=rtcp-mux\n"))
    assert sdp.media[0].rtcp_mux and negotiation.rtcp_mux
    assert negotiation.remote_rtcp is None
    sdp, negotiation = answer(offer_with("m=audio 4000 RTP/AVP 0\n"))
    assert not sdp.media[0].rtcp_mux and not negotiation.rtcp_mux
    assert negotiation.remote_rtcp == ("192.0.2.50", 4001)


def test_rfc3605_rtcp_port_without_address_uses_the_rtp_address() -> None:
    _, negotiation = answer(offer_with("m=audio 4000 RTP/AVP 0\na=rtcp:4999\n"))
    assert negotiation.remote_rtcp == ("192.0.2.50", 4999)


# --- packet time -------------------------------------------------------------------------------


def test_polycom_ptime_30_is_kept() -> None:
    sdp, negotiation = answer(POLYCOM_OFFER)
    assert (negotiation.codec, negotiation.ptime) == (G722, 30)
    assert sdp.media[0].ptime == 30
    assert negotiation.telephone_event_pt == 127


@pytest.mark.parametrize("ptime", ALLOWED_PTIMES)
def test_every_allowed_ptime_is_accepted(ptime: int) -> None:
    assert answer(offer_with(f"m=audio 4000 RTP/AVP 0\na=ptime:{ptime}\n"))[1].ptime == ptime


@pytest.mark.parametrize("ptime", ["25", "5", "120", "20.5"])
def test_ptime_outside_the_allowed_set_is_bad_ptime(ptime: str) -> None:
    assert reason_of(offer_with(f"m=audio 4000 RTP/AVP 0\na=ptime:{ptime}\n")) == "bad-ptime"


def test_integral_real_ptime_is_accepted() -> None:
    assert answer(offer_with("m=audio 4000 RTP/AVP 0\na=ptime:20.0\n"))[1].ptime == 20


def test_session_level_ptime_applies_to_the_audio() -> None:
    offer = offer_with("m=audio 4000 RTP/AVP 0\n", session="c=IN IP4 192.0.2.50\na=ptime:40\n")
    assert answer(offer)[1].ptime == 40


def test_without_ptime_our_preference_applies_default_20() -> None:
    assert answer(offer_with("m=audio 4000 RTP/AVP 0\n"))[1].ptime == 20
    assert answer(offer_with("m=audio 4000 RTP/AVP 0\n"), ptime=60)[1].ptime == 60


def test_maxptime_limits_the_default_ptime() -> None:
    assert answer(offer_with("m=audio 4000 RTP/AVP 0\na=maxptime:10\n"))[1].ptime == 10
    assert answer(offer_with("m=audio 4000 RTP/AVP 0\na=maxptime:50\n"), ptime=60)[1].ptime == 40
    assert answer(offer_with("m=audio 4000 RTP/AVP 0\na=maxptime:150\n"))[1].ptime == 20
    assert reason_of(offer_with("m=audio 4000 RTP/AVP 0\na=maxptime:5\n")) == "bad-ptime"


def test_our_ptime_preference_must_be_allowed() -> None:
    with pytest.raises(ValueError, match="ptime 25"):
        answer(offer_with("m=audio 4000 RTP/AVP 0\n"), ptime=25)


# --- direction (RFC 3264 section 6.1) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        ("sendrecv", "sendrecv"),
        ("sendonly", "recvonly"),
        ("recvonly", "sendonly"),
        ("inactive", "inactive"),
    ],
)
def test_answer_direction_mirrors_the_offer(offered: str, answered: str) -> None:
    sdp, negotiation = answer(offer_with(f"m=audio 4000 RTP/AVP 0\na={offered}\n"))
    assert negotiation.direction == answered
    assert sdp.media[0].direction == answered


def test_session_level_sendonly_hold_is_mirrored() -> None:
    offer = offer_with("m=audio 4000 RTP/AVP 0\n", session="c=IN IP4 192.0.2.50\na=sendonly\n")
    assert answer(offer)[1].direction == "recvonly"


def test_old_style_hold_to_0_0_0_0_is_allowed() -> None:
    offer = offer_with("m=audio 4000 RTP/AVP 0\na=sendonly\n", session="c=IN IP4 0.0.0.0\n")
    _, negotiation = answer(offer)
    assert (negotiation.remote_address, negotiation.direction) == ("0.0.0.0", "recvonly")


def test_unstated_direction_is_sendrecv() -> None:
    sdp, negotiation = answer(GSM_ONLY_OFFER.replace("RTP/AVP 3", "RTP/AVP 3 0"))
    assert negotiation.direction == "sendrecv"
    assert sdp.media[0].direction == "sendrecv"


# --- addresses ---------------------------------------------------------------------------------


def test_ipv6_connection_is_read_and_answered_with_ipv6_origin() -> None:
    offer = offer_with("m=audio 4000 RTP/AVP 0\nc=IN IP6 2001:DB8:0:0::7\n", session="")
    sdp, negotiation = answer_audio(offer, SUPPORTED, "2001:db8::9", 30000, session_id=3)
    assert negotiation.remote_address == "2001:db8::7"
    assert negotiation.remote_rtcp == ("2001:db8::7", 4001)
    assert (sdp.origin.addrtype, sdp.origin.address) == ("IP6", "2001:db8::9")
    assert sdp.connection is not None and sdp.connection.to_value() == "IN IP6 2001:db8::9"


def test_media_connection_overrides_the_session_one() -> None:
    offer = offer_with("m=audio 4000 RTP/AVP 0\nc=IN IP4 192.0.2.77\n")
    assert answer(offer)[1].remote_address == "192.0.2.77"


@pytest.mark.parametrize(
    "connection",
    [
        "c=IN IP4 pbx.example.com\n",
        "c=IN IP4 2001:db8::1\n",
        "c=IN IP6 192.0.2.1\n",
        "c=IN IP4 224.2.1.1/127\n",
        "c=IN IP4 192.0.2.256\n",
        "c=ATM NSAP 47.0005.80.ffe100.0000.f21a.0000.0000.0000.0000.0000.00\n",
        "",
    ],
)
def test_connection_must_be_a_literal_unicast_address(connection: str) -> None:
    assert reason_of(offer_with("m=audio 4000 RTP/AVP 0\n", session=connection)) == "bad-address"


def test_answer_origin_names_mediacore_and_our_session_id() -> None:
    sdp, _ = answer_audio(
        SessionDescription.parse(POLYCOM_OFFER),
        SUPPORTED,
        "192.0.2.1",
        4000,
        session_id=2**63,
        session_version=5,
    )
    assert sdp.origin.to_value() == f"mediacore {2**63} 5 IN IP4 192.0.2.1"


def test_bad_local_arguments_raise_value_error() -> None:
    offer = SessionDescription.parse(POLYCOM_OFFER)
    with pytest.raises(ValueError, match="literal IP"):
        answer_audio(offer, SUPPORTED, "mediacore.local", 4000, session_id=1)
    with pytest.raises(ValueError, match="local port"):
        answer_audio(offer, SUPPORTED, "192.0.2.1", 0, session_id=1)
    with pytest.raises(ValueError, match="session id"):
        answer_audio(offer, SUPPORTED, "192.0.2.1", 4000, session_id=-1)


def test_every_answer_round_trips_through_the_sdp_parser() -> None:
    for text in (PJSUA_OFFER, LINPHONE_OFFER, POLYCOM_OFFER, RFC8866_EXAMPLE):
        sdp, _ = answer(text)
        assert SessionDescription.parse(sdp.serialize()) == sdp


# --- making offers -----------------------------------------------------------------------------


def test_offer_uses_static_payload_types_and_dynamic_ones_from_96() -> None:
    offer = make_audio_offer(SUPPORTED, "192.0.2.1", 4000, session_id=11)
    audio = offer.media[0]
    assert audio.formats == ["96", "9", "0", "8", "97", "98"]
    assert audio.rtpmaps[96].to_value() == "96 opus/48000/2"
    assert audio.rtpmaps[97].to_value() == "97 L16/48000"
    assert audio.rtpmaps[98].to_value() == "98 telephone-event/8000"
    assert audio.fmtp == {96: "minptime=10;useinbandfec=1", 98: "0-16"}
    assert (audio.ptime, audio.direction, audio.rtcp_mux) == (20, "sendrecv", False)
    assert offer.origin.to_value() == "mediacore 11 1 IN IP4 192.0.2.1"


def test_offer_text_is_exactly_the_expected_sdp() -> None:
    offer = make_audio_offer(
        [PCMA, PCMU], "2001:db8::1", 5004, session_id=1, ptime=40, direction="sendonly"
    )
    assert offer.serialize() == crlf(
        "v=0\n"
        "o=mediacore 1 1 IN IP6 2001:db8::1\n"
        "s=mediacore\n"
        "c=IN IP6 2001:db8::1\n"
        "t=0 0\n"
        "m=audio 5004 RTP/AVP 8 0 96\n"
        "a=rtpmap:8 PCMA/8000\n"
        "a=rtpmap:0 PCMU/8000\n"
        "a=rtpmap:96 telephone-event/8000\n"
        "a=fmtp:96 0-16\n"
        "a=ptime:40\n"
        "a=sendonly\n"
    )


def test_offer_options_change_payload_types_events_and_mux() -> None:
    offer = make_audio_offer(
        [OPUS, PCMU],
        "192.0.2.1",
        4000,
        session_id=1,
        telephone_event=False,
        first_dynamic_pt=110,
        rtcp_mux=True,
    )
    assert offer.media[0].formats == ["110", "0"]
    assert offer.media[0].rtcp_mux


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"codecs": []}, "at least one codec"),
        ({"ptime": 25}, "ptime 25"),
        ({"direction": "both"}, "direction"),
        ({"first_dynamic_pt": 95}, "outside 96-127"),
        ({"local_address": "host.example"}, "literal IP"),
        ({"codecs": [L16] * 1 + [CodecInfo(f"X{i}", 8000, 8000) for i in range(32)]}, "ran out"),
    ],
)
def test_bad_offer_arguments_raise_value_error(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"codecs": [PCMU], "local_address": "192.0.2.1"}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        make_audio_offer(
            arguments.pop("codecs"),  # type: ignore[arg-type]
            arguments.pop("local_address"),  # type: ignore[arg-type]
            4000,
            session_id=1,
            **arguments,  # type: ignore[arg-type]
        )


# --- reading answers ---------------------------------------------------------------------------


def test_offer_answer_round_trip_agrees_on_both_sides() -> None:
    offer = make_audio_offer([G722, PCMU], "192.0.2.1", 4000, session_id=1, rtcp_mux=True)
    reply, theirs = answer_audio(offer, [PCMU, G722], "192.0.2.2", 6000, session_id=2)
    ours = read_answer(offer, SessionDescription.parse(reply.serialize()), [G722, PCMU])
    assert (theirs.codec, ours.codec) == (G722, G722)
    assert ours.payload_type == theirs.payload_type == 9
    assert ours.telephone_event_pt == theirs.telephone_event_pt == 96
    assert ours.ptime == theirs.ptime == 20
    assert (ours.remote_address, ours.remote_port) == ("192.0.2.2", 6000)
    assert (theirs.remote_address, theirs.remote_port) == ("192.0.2.1", 4000)
    assert ours.rtcp_mux and theirs.rtcp_mux and ours.remote_rtcp is None


def _answer_text(media: str) -> SessionDescription:
    return SessionDescription.parse(
        f"v=0\no=srv 9 9 IN IP4 192.0.2.9\ns=-\nc=IN IP4 192.0.2.9\nt=0 0\n{media}"
    )


OUR_OFFER = make_audio_offer([OPUS, PCMU], "192.0.2.1", 4000, session_id=1, ptime=40)


def test_answer_without_ptime_keeps_our_offered_ptime() -> None:
    negotiation = read_answer(OUR_OFFER, _answer_text("m=audio 7000 RTP/AVP 0\n"), SUPPORTED)
    assert (negotiation.codec, negotiation.ptime) == (PCMU, 40)
    assert negotiation.remote_rtcp == ("192.0.2.9", 7001)
    assert negotiation.telephone_event_pt is None


def test_answer_ptime_and_fmtp_are_read() -> None:
    reply = _answer_text("m=audio 7000 RTP/AVP 96 97\na=rtpmap:96 opus/48000/2\na=ptime:60\n")
    negotiation = read_answer(OUR_OFFER, reply, SUPPORTED)
    assert (negotiation.codec, negotiation.ptime) == (OPUS, 60)
    assert negotiation.telephone_event_pt == 97
    assert negotiation.fmtp == "minptime=10;useinbandfec=1"


def test_answer_direction_limits_ours() -> None:
    hold = read_answer(OUR_OFFER, _answer_text("m=audio 7000 RTP/AVP 0\na=recvonly\n"), SUPPORTED)
    assert hold.direction == "sendonly"
    offer = make_audio_offer([PCMU], "192.0.2.1", 4000, session_id=1, direction="sendonly")
    rude = read_answer(offer, _answer_text("m=audio 7000 RTP/AVP 0\na=sendrecv\n"), SUPPORTED)
    assert rude.direction == "sendonly"


@pytest.mark.parametrize(
    ("media", "reason"),
    [
        ("m=audio 0 RTP/AVP 0\n", "rejected"),
        ("m=audio 7000 RTP/AVP 8\n", "no-common-codec"),
        ("m=audio 7000 RTP/AVP 96\na=rtpmap:96 speex/16000\n", "no-common-codec"),
        ("m=audio 7000 RTP/AVP 97\n", "no-common-codec"),
        ("m=audio 7000 RTP/AVP 0\na=ptime:25\n", "bad-ptime"),
        ("m=video 7000 RTP/AVP 0\n", "no-audio"),
        ("m=audio 7000 RTP/AVP 0\nm=video 0 RTP/AVP 31\n", "no-audio"),
        ("m=audio 7000 RTP/AVP 0\nc=IN IP4 sbc.example\n", "bad-address"),
    ],
)
def test_unusable_answers_raise_offer_answer_error(media: str, reason: str) -> None:
    with pytest.raises(OfferAnswerError) as caught:
        read_answer(OUR_OFFER, _answer_text(media), SUPPORTED)
    assert caught.value.reason == reason


def test_answer_extmaps_are_accepted_only_as_offered() -> None:
    offer = offer_with(f"m=audio 4000 RTP/AVP 0\na=extmap:3 {AUDIO_LEVEL}\n")
    reply = _answer_text(f"m=audio 7000 RTP/AVP 0\na=extmap:3 {AUDIO_LEVEL}\na=extmap:4 urn:x\n")
    assert read_answer(offer, reply, SUPPORTED).extmaps == (Extmap(3, AUDIO_LEVEL),)
