"""ED-137B radio signalling: SIP headers, SDP attributes and their direction semantics."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediacore.sdp import MediaDescription, SessionDescription
from radio.sdp import (
    RADIO_SUBJECT,
    WG67_VERSION,
    RadioSdpError,
    RadioSession,
    add_radio_attributes,
    is_radio_session,
    radio_answer_attributes,
    radio_offer_session,
    radio_session_from_offer,
    radio_session_from_sdp,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


# A ground radio station's offer as ED-137B gateways write it: G.711 A-law and the R2S
# keep-alive payload type on the m= line, every radio attribute, and a vendor one we ignore.
GATEWAY_OFFER = crlf("""\
v=0
o=GRS1 2890844526 1 IN IP4 192.0.2.10
s=Radio Session
c=IN IP4 192.0.2.10
t=0 0
m=audio 5002 RTP/AVP 8 123
a=rtpmap:8 PCMA/8000
a=rtpmap:123 R2S/8000
a=sendrecv
a=type:Radio-TxRx
a=txrxmode:TxRx
a=rtphe:1
a=sigtime:1
a=bss:RSSI
a=bss:AGC
a=ptt_rep:2
a=ptt-id:5
a=fid:118.005
a=interval:20
a=R2S-KeepAlivePeriod:200
a=R2S-KeepAliveMultiplier:10
a=PAS-UA:S4.01
""")

PLAIN_OFFER = crlf("""\
v=0
o=- 1 1 IN IP4 192.0.2.20
s=-
c=IN IP4 192.0.2.20
t=0 0
m=audio 4000 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=sendrecv
""")

# What mediacore's offer/answer writes for the gateway: one codec, no R2S yet.
OUR_ANSWER = crlf("""\
v=0
o=mediacore 1 1 IN IP4 198.51.100.1
s=-
c=IN IP4 198.51.100.1
t=0 0
m=audio 30000 RTP/AVP 8
a=rtpmap:8 PCMA/8000
a=sendrecv
""")


def audio(
    attributes: list[tuple[str, str | None]], formats: list[str] | None = None
) -> MediaDescription:
    return MediaDescription("audio", 5002, "RTP/AVP", formats or ["8"], attributes=attributes)


# --- SIP ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "version", "radio"),
    [
        ("radio", None, True),
        ("Radio ", None, True),
        (None, "radio.01", True),
        (None, "radio.01;radio.02", True),  # ED-137C gateways list both
        (None, "radio.02,radio.01", True),
        (None, "phone.01", False),  # ED-137 telephony
        ("IA call", "phone.01", False),
        ("radio check", None, False),
        (None, None, False),
        (None, "", False),
    ],
)
def test_radio_sessions_are_marked_by_subject_or_wg67_version(
    subject: str | None, version: str | None, radio: bool
) -> None:
    assert is_radio_session(subject, version) is radio


def test_our_sip_markers_are_ed137b() -> None:
    assert (RADIO_SUBJECT, WG67_VERSION) == ("radio", "radio.01")
    assert is_radio_session(RADIO_SUBJECT, WG67_VERSION)


# --- reading SDP -------------------------------------------------------------------------


def test_gateway_offer_gives_every_attribute() -> None:
    session = radio_session_from_offer(SessionDescription.parse(GATEWAY_OFFER))
    assert session == RadioSession(
        radio_type="Radio-TxRx",
        txrxmode="TxRx",
        rtphe=1,
        sigtime=True,
        keepalive_period_ms=200,
        keepalive_multiplier=10,
        keepalive_pt=123,
        ptt_id=5,
        ptt_rep=2,
        fid="118.005",
        bss_methods=("RSSI", "AGC"),
        interval_ms=20,
    )
    assert session.receives_from_gateway and session.sends_to_gateway
    assert session.lost_after_ms == 2000


def test_sdp_without_ed137_attributes_is_not_a_radio_session() -> None:
    offer = SessionDescription.parse(PLAIN_OFFER)
    assert radio_session_from_sdp(offer.media[0]) is None
    assert radio_session_from_offer(offer) == RadioSession()
    fallback = radio_offer_session("rx")
    assert radio_session_from_offer(offer, fallback) is fallback


def test_missing_attributes_take_ed137b_defaults() -> None:
    session = radio_session_from_sdp(audio([("type", "Radio-Rxonly")]))
    assert session == RadioSession(radio_type="Radio-Rxonly", sigtime=False)
    assert (session.txrxmode, session.keepalive_period_ms, session.keepalive_multiplier) == (
        "TxRx",
        200,
        10,
    )


def test_r2s_rtpmap_alone_marks_radio_and_sets_the_keepalive_payload_type() -> None:
    media = audio([("rtpmap", "8 PCMA/8000"), ("rtpmap", "100 r2s/8000")], ["8", "100"])
    session = radio_session_from_sdp(media)
    assert session is not None and session.keepalive_pt == 100


def test_type_and_txrxmode_match_in_any_case_and_come_back_canonical() -> None:
    session = radio_session_from_sdp(audio([("type", "radio-rxonly"), ("txrxmode", "rx")]))
    assert session is not None
    assert (session.radio_type, session.txrxmode) == ("Radio-Rxonly", "Rx")


def test_ed137a_type_radio_is_kept_and_works_like_txrx() -> None:
    session = radio_session_from_sdp(audio([("type", "Radio")]))
    assert session is not None and session.radio_type == "Radio"
    assert session.receives_from_gateway and session.sends_to_gateway
    assert ("type", "Radio") in radio_answer_attributes(session)  # echoed as offered


def test_ptt_id_zero_means_none_given() -> None:
    session = radio_session_from_sdp(audio([("type", "Radio-TxRx"), ("ptt-id", "0")]))
    assert session is not None and session.ptt_id is None


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ([("R2S-KeepAlivePeriod", "19")], "R2S-KeepAlivePeriod 19 is outside 20-1000"),
        ([("R2S-KeepAlivePeriod", "1001")], "R2S-KeepAlivePeriod 1001 is outside 20-1000"),
        ([("R2S-KeepAlivePeriod", "abc")], "not a decimal number"),
        ([("R2S-KeepAlivePeriod", "+200")], "not a decimal number"),
        ([("R2S-KeepAlivePeriod", "٢٠٠")], "not a decimal number"),  # Arabic-Indic digits
        ([("R2S-KeepAlivePeriod", "9" * 40)], "not a decimal number"),
        ([("R2S-KeepAlivePeriod", None)], "has no value"),
        ([("R2S-KeepAliveMultiplier", "1")], "R2S-KeepAliveMultiplier 1 is outside 2-50"),
        ([("R2S-KeepAliveMultiplier", "51")], "R2S-KeepAliveMultiplier 51 is outside 2-50"),
        ([("type", "Radio-Foo")], "a=type:Radio-Foo is none of"),
        ([("type", "")], "a=type has no value"),
        ([("txrxmode", "RxTx")], "a=txrxmode:RxTx is none of"),
        ([("type", "Radio-Rxonly"), ("txrxmode", "Tx")], "Radio-Rxonly cannot go with"),
        ([("sigtime", "2")], "a=sigtime:2 is neither 0 nor 1"),
        ([("ptt-id", "64")], "ptt-id 64 is outside 1-63"),
        ([("ptt_rep", "4")], "ptt_rep 4 is outside 0-3"),
        ([("interval", "0")], "interval 0 is outside 1-1000"),
        ([("fid", "118 005")], "a=fid"),
        ([("bss", "")], "a=bss"),
        ([("bss", "RSSI")] * 9, "9 a=bss lines"),
    ],
)
def test_malformed_values_are_refused_with_the_attribute_named(
    attributes: list[tuple[str, str | None]], message: str
) -> None:
    with pytest.raises(RadioSdpError, match=message):
        radio_session_from_sdp(audio(attributes))


def test_radio_sdp_error_is_a_value_error() -> None:
    assert issubclass(RadioSdpError, ValueError)


# --- direction semantics -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("radio_type", "txrxmode", "receives", "sends"),
    [
        ("Radio-TxRx", "TxRx", True, True),
        ("Radio-TxRx", "Rx", True, False),  # only the radio's receiver is used
        ("Radio-TxRx", "Tx", False, True),  # only its transmitter
        ("Radio", "TxRx", True, True),
        ("Radio-Rxonly", "TxRx", True, False),  # never keyed whatever the mode says
        ("Radio-Rxonly", "Rx", True, False),
        ("Radio-Idle", "TxRx", False, False),  # keep-alives only
        ("Radio-Idle", "Rx", False, False),
        ("Coupling", "TxRx", True, True),
    ],
)
def test_directions_follow_type_then_txrxmode(
    radio_type: str, txrxmode: str, receives: bool, sends: bool
) -> None:
    session = RadioSession(radio_type=radio_type, txrxmode=txrxmode)
    assert (session.receives_from_gateway, session.sends_to_gateway) == (receives, sends)


@pytest.mark.parametrize(
    ("mode", "radio_type", "txrxmode", "receives", "sends"),
    [
        ("txrx", "Radio-TxRx", "TxRx", True, True),
        ("rx", "Radio-Rxonly", "Rx", True, False),
        ("tx", "Radio-TxRx", "Tx", False, True),
    ],
)
def test_offer_sessions_for_configured_gateways(
    mode: str, radio_type: str, txrxmode: str, receives: bool, sends: bool
) -> None:
    session = radio_offer_session(mode)
    assert (session.radio_type, session.txrxmode) == (radio_type, txrxmode)
    assert (session.receives_from_gateway, session.sends_to_gateway) == (receives, sends)
    assert (session.keepalive_period_ms, session.keepalive_multiplier) == (200, 10)


def test_unknown_offer_mode_is_refused() -> None:
    with pytest.raises(RadioSdpError, match="'both' is none of txrx, rx, tx"):
        radio_offer_session("both")


# --- writing SDP -------------------------------------------------------------------------


def test_answer_attributes_in_order() -> None:
    assert radio_answer_attributes(RadioSession()) == [
        ("type", "Radio-TxRx"),
        ("txrxmode", "TxRx"),
        ("rtphe", "1"),
        ("sigtime", "1"),
        ("R2S-KeepAlivePeriod", "200"),
        ("R2S-KeepAliveMultiplier", "10"),
    ]


def test_answer_echoes_the_optional_attributes_the_session_has() -> None:
    session = radio_session_from_offer(SessionDescription.parse(GATEWAY_OFFER))
    assert radio_answer_attributes(session)[6:] == [
        ("ptt_rep", "2"),
        ("ptt-id", "5"),
        ("fid", "118.005"),
        ("bss", "RSSI"),
        ("bss", "AGC"),
        ("interval", "20"),
    ]


def test_add_radio_attributes_marks_our_answer_with_r2s() -> None:
    answer = SessionDescription.parse(OUR_ANSWER)
    session = radio_session_from_offer(SessionDescription.parse(GATEWAY_OFFER))
    add_radio_attributes(answer, session)
    media = answer.media[0]
    assert media.formats == ["8", "123"]
    assert media.attributes[:3] == [
        ("rtpmap", "8 PCMA/8000"),
        ("rtpmap", "123 R2S/8000"),  # next to the other rtpmap lines
        ("sendrecv", None),
    ]
    text = answer.serialize()
    assert "m=audio 30000 RTP/AVP 8 123\r\n" in text
    assert "a=R2S-KeepAlivePeriod:200\r\na=R2S-KeepAliveMultiplier:10\r\n" in text
    assert radio_session_from_offer(SessionDescription.parse(text)) == session


def test_add_radio_attributes_is_idempotent_and_replaces_stale_values() -> None:
    answer = SessionDescription.parse(OUR_ANSWER)
    add_radio_attributes(answer, RadioSession(keepalive_period_ms=500))
    add_radio_attributes(answer, RadioSession())
    media = answer.media[0]
    assert media.formats == ["8", "123"]
    assert media.attribute_values("rtpmap") == ["8 PCMA/8000", "123 R2S/8000"]
    assert media.attribute_values("R2S-KeepAlivePeriod") == ["200"]


def test_add_radio_attributes_to_an_offer_with_another_keepalive_pt() -> None:
    offer = SessionDescription.parse(PLAIN_OFFER)
    session = RadioSession(keepalive_pt=110)
    add_radio_attributes(offer, session)
    assert offer.media[0].formats == ["0", "8", "101", "110"]
    assert radio_session_from_offer(SessionDescription.parse(offer.serialize())) == session


def test_keepalive_pt_taken_by_another_encoding_is_refused() -> None:
    offer = SessionDescription.parse(PLAIN_OFFER)
    with pytest.raises(RadioSdpError, match="101 is already telephone-event"):
        add_radio_attributes(offer, RadioSession(keepalive_pt=101))


def test_no_audio_section_is_refused() -> None:
    offer = SessionDescription.parse(PLAIN_OFFER)
    offer.media[0].kind = "video"
    with pytest.raises(RadioSdpError, match="no audio"):
        add_radio_attributes(offer, RadioSession())


# --- properties ----------------------------------------------------------------------------

tokens = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=32)
sessions = st.builds(
    RadioSession,
    radio_type=st.sampled_from(["Radio-TxRx", "Radio-Idle", "Coupling", "Radio"]),
    txrxmode=st.sampled_from(["TxRx", "Rx", "Tx"]),
    rtphe=st.integers(0, 255),
    sigtime=st.booleans(),
    keepalive_period_ms=st.integers(20, 1000),
    keepalive_multiplier=st.integers(2, 50),
    keepalive_pt=st.integers(96, 127),
    ptt_id=st.none() | st.integers(1, 63),
    ptt_rep=st.none() | st.integers(0, 3),
    fid=st.none() | tokens,
    bss_methods=st.lists(tokens, max_size=8).map(tuple),
    interval_ms=st.none() | st.integers(1, 1000),
)


@FUZZ
@given(sessions)
def test_written_attributes_read_back_as_the_same_session(session: RadioSession) -> None:
    answer = SessionDescription.parse(OUR_ANSWER)
    add_radio_attributes(answer, session)
    assert radio_session_from_offer(SessionDescription.parse(answer.serialize())) == session


attribute_names = st.sampled_from(
    [
        "type",
        "txrxmode",
        "rtphe",
        "sigtime",
        "R2S-KeepAlivePeriod",
        "R2S-KeepAliveMultiplier",
        "ptt_rep",
        "ptt-id",
        "fid",
        "bss",
        "interval",
        "rtpmap",
        "sendrecv",
    ]
)
attribute_values = st.none() | st.text(max_size=40) | st.integers(-5, 2000).map(str)


@FUZZ
@given(st.lists(st.tuples(attribute_names, attribute_values), max_size=12))
def test_reading_arbitrary_attributes_raises_only_radio_sdp_error(
    attributes: list[tuple[str, str | None]],
) -> None:
    try:
        session = radio_session_from_sdp(audio(attributes))
    except RadioSdpError:
        return
    if session is not None:
        assert session.keepalive_period_ms * session.keepalive_multiplier <= 50_000
