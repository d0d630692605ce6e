"""RFC 8866 SDP parsing and serialization, on SDP as real endpoints write it.

The sample texts here are shared with the offer/answer and fuzz tests."""

from __future__ import annotations

import pytest

from mediacore.sdp import (
    MAX_LINE_LENGTH,
    MAX_SDP_BYTES,
    Connection,
    Extmap,
    MediaDescription,
    Origin,
    RtpMap,
    SdpError,
    SessionDescription,
)


def crlf(text: str) -> str:
    """Sample texts are written with LF; endpoints send CRLF."""
    return text.replace("\n", "\r\n")


# pjsua 2.x: speex and GSM ahead of G.711, c= only at session level, RFC 3605 a=rtcp.
PJSUA_OFFER = """\
v=0
o=- 3912345678 3912345678 IN IP4 192.168.1.20
s=pjmedia
b=AS:84
t=0 0
a=X-nat:0
m=audio 4000 RTP/AVP 96 97 98 3 0 8 9 120 121
c=IN IP4 192.168.1.20
b=TIAS:64000
a=rtcp:4001 IN IP4 192.168.1.20
a=sendrecv
a=rtpmap:96 speex/16000
a=rtpmap:97 speex/8000
a=rtpmap:98 speex/32000
a=rtpmap:3 GSM/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:9 G722/8000
a=rtpmap:120 telephone-event/16000
a=fmtp:120 0-16
a=rtpmap:121 telephone-event/8000
a=fmtp:121 0-16
a=ssrc:1020398540 cname:1b5e5b2d6e9c4d2a
"""

# Linphone: Opus first, telephone-event at three rates, c= only at session level.
LINPHONE_OFFER = """\
v=0
o=alice 1234 678 IN IP4 10.0.0.5
s=Talk
c=IN IP4 10.0.0.5
t=0 0
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
m=audio 7078 RTP/AVP 96 97 98 0 8 101 99 100
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 speex/16000
a=fmtp:97 vbr=on
a=rtpmap:98 speex/8000
a=fmtp:98 vbr=on
a=rtpmap:101 telephone-event/48000
a=rtpmap:99 telephone-event/16000
a=rtpmap:100 telephone-event/8000
a=rtcp-fb:* trr-int 1000
a=rtcp-fb:* ccm tmmbr
"""

# Chrome: BUNDLE, ICE, DTLS, header extensions, rtcp-mux; audio and video.
CHROME_OFFER = """\
v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=extmap-allow-mixed
a=msid-semantic: WMS stream
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:EsAw
a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y
a=ice-options:trickle
a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendrecv
a=msid:stream track-audio
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:3735928559 cname:YZcxBwerFFm6GH69
a=ssrc:3735928559 msid:stream track-audio
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:EsAw
a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y
a=ice-options:trickle
a=setup:actpass
a=mid:1
a=extmap:14 urn:ietf:params:rtp-hdrext:toffset
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=sendrecv
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:102 H264/90000
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f
a=rtpmap:103 rtx/90000
a=fmtp:103 apt=102
"""

# Polycom desk phone: G.722 first, G.729 with annexb, 30 ms packets.
POLYCOM_OFFER = """\
v=0
o=- 1700000000 1700000000 IN IP4 172.16.4.21
s=Polycom IP Phone
c=IN IP4 172.16.4.21
t=0 0
m=audio 2222 RTP/AVP 9 0 8 18 127
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:127 telephone-event/8000
a=ptime:30
a=sendrecv
"""

# A GSM-only gateway: static payload type, no a=rtpmap at all.
GSM_ONLY_OFFER = """\
v=0
o=gw 1 1 IN IP4 203.0.113.7
s=-
c=IN IP4 203.0.113.7
t=0 0
m=audio 5004 RTP/AVP 3
"""

# The RFC 8866 section 5 example: i= u= e= p= lines, two audio streams, an IPv6 video c=.
RFC8866_EXAMPLE = """\
v=0
o=jdoe 3724394400 3724394405 IN IP4 198.51.100.1
s=Call to John Smith
i=SDP Offer #1
u=http://www.jdoe.example.com/home.html
e=Jane Doe <jane@jdoe.example.com>
p=+1 617 555-6011
c=IN IP4 198.51.100.1
t=0 0
m=audio 49170 RTP/AVP 0
m=audio 49180 RTP/AVP 0
m=video 51372 RTP/AVP 99
c=IN IP6 2001:db8::2
a=rtpmap:99 h263-1998/90000
"""

SAMPLES = {
    "pjsua": PJSUA_OFFER,
    "linphone": LINPHONE_OFFER,
    "chrome": CHROME_OFFER,
    "polycom": POLYCOM_OFFER,
    "gsm-only": GSM_ONLY_OFFER,
    "rfc8866": RFC8866_EXAMPLE,
}


def audio_only(body: str, origin: str = "o=- 1 1 IN IP4 192.0.2.1") -> str:
    """A minimal description around the given media and attribute lines."""
    return f"v=0\n{origin}\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n{body}"


# --- parsing real descriptions ---------------------------------------------------------------


def test_pjsua_offer_parses_session_fields() -> None:
    sdp = SessionDescription.parse(crlf(PJSUA_OFFER))
    assert sdp.version == 0
    assert sdp.origin == Origin("-", 3912345678, 3912345678, "IN", "IP4", "192.168.1.20")
    assert sdp.session_name == "pjmedia"
    assert sdp.connection is None
    assert sdp.bandwidths == [("AS", 84)]
    assert sdp.timing == "0 0"
    assert sdp.attributes == [("X-nat", "0")]
    assert len(sdp.media) == 1


def test_pjsua_offer_parses_rtp_attributes() -> None:
    audio = SessionDescription.parse(crlf(PJSUA_OFFER)).media[0]
    assert (audio.kind, audio.port, audio.proto) == ("audio", 4000, "RTP/AVP")
    assert audio.formats == ["96", "97", "98", "3", "0", "8", "9", "120", "121"]
    assert audio.payload_types == [96, 97, 98, 3, 0, 8, 9, 120, 121]
    assert audio.connection == Connection("IN", "IP4", "192.168.1.20")
    assert audio.bandwidths == [("TIAS", 64000)]
    assert audio.rtpmaps[96] == RtpMap(96, "speex", 16000, None)
    assert audio.rtpmaps[121] == RtpMap(121, "telephone-event", 8000)
    assert audio.fmtp == {120: "0-16", 121: "0-16"}
    assert audio.direction == "sendrecv"
    assert audio.ptime is None


def test_rfc3605_rtcp_attribute_gives_port_and_address() -> None:
    audio = SessionDescription.parse(PJSUA_OFFER).media[0]
    assert audio.rtcp == (4001, "192.168.1.20")
    port_only = SessionDescription.parse(audio_only("m=audio 5000 RTP/AVP 0\na=rtcp:5011\n"))
    assert port_only.media[0].rtcp == (5011, None)
    assert SessionDescription.parse(LINPHONE_OFFER).media[0].rtcp is None


def test_chrome_offer_keeps_webrtc_attributes_in_order() -> None:
    sdp = SessionDescription.parse(crlf(CHROME_OFFER))
    assert sdp.attribute("group") == "BUNDLE 0 1"
    assert sdp.has_attribute("extmap-allow-mixed")
    assert sdp.attribute("extmap-allow-mixed") is None
    assert sdp.attribute("msid-semantic") == " WMS stream"
    audio, video = sdp.media
    assert audio.proto == "UDP/TLS/RTP/SAVPF"
    assert audio.attributes[:3] == [
        ("rtcp", "9 IN IP4 0.0.0.0"),
        ("ice-ufrag", "EsAw"),
        ("ice-pwd", "bP+XJMM09aR8AiX1jdukzR6Y"),
    ]
    assert audio.rtcp_mux and video.rtcp_mux
    assert audio.rtpmaps[111] == RtpMap(111, "opus", 48000, 2)
    assert audio.fmtp[111] == "minptime=10;useinbandfec=1"
    assert audio.attribute_values("ssrc") == [
        "3735928559 cname:YZcxBwerFFm6GH69",
        "3735928559 msid:stream track-audio",
    ]
    assert audio.attribute("mid") == "0" and video.attribute("mid") == "1"
    assert video.fmtp[102].startswith("level-asymmetry-allowed=1")


def test_rfc8285_extmaps_parse_with_ids_and_uris() -> None:
    audio, video = SessionDescription.parse(CHROME_OFFER).media
    assert audio.extmaps[0] == Extmap(1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level")
    assert [e.id for e in audio.extmaps] == [1, 2, 3, 4]
    assert [e.id for e in video.extmaps] == [14, 2]
    body = "m=audio 5000 RTP/AVP 0\na=extmap:7/recvonly urn:example:ext vad=on more\n"
    extmap = SessionDescription.parse(audio_only(body)).media[0].extmaps[0]
    assert extmap == Extmap(7, "urn:example:ext", "recvonly", "vad=on more")
    assert extmap.to_value() == "7/recvonly urn:example:ext vad=on more"


def test_rfc8866_example_keeps_informational_lines() -> None:
    sdp = SessionDescription.parse(RFC8866_EXAMPLE)
    assert sdp.extra_lines == [
        ("i", "SDP Offer #1"),
        ("u", "http://www.jdoe.example.com/home.html"),
        ("e", "Jane Doe <jane@jdoe.example.com>"),
        ("p", "+1 617 555-6011"),
    ]
    assert sdp.connection == Connection("IN", "IP4", "198.51.100.1")
    assert [m.port for m in sdp.media] == [49170, 49180, 51372]
    assert sdp.media[2].connection == Connection("IN", "IP6", "2001:db8::2")
    assert sdp.media[0].rtpmaps == {}  # static payload type 0 needs no a=rtpmap


def test_rfc8866_section_5_7_multicast_suffix_is_kept_apart_from_address() -> None:
    sdp = SessionDescription.parse(
        "v=0\no=- 1 1 IN IP4 233.252.0.1\ns=-\nc=IN IP4 233.252.0.1/127/3\nt=0 0\n"
        "m=audio 49170/2 RTP/AVP 0\nc=IN IP6 ff15::101/3\n"
    )
    assert sdp.connection == Connection("IN", "IP4", "233.252.0.1", "127/3")
    assert sdp.media[0].connection == Connection("IN", "IP6", "ff15::101", "3")
    assert sdp.media[0].port_count == 2
    text = sdp.serialize()
    assert "c=IN IP4 233.252.0.1/127/3\r\n" in text
    assert "m=audio 49170/2 RTP/AVP 0\r\n" in text


def test_unknown_line_types_are_kept_and_serialized() -> None:
    sdp = SessionDescription.parse(
        audio_only("y=0123456789\nm=audio 5000 RTP/AVP 0\ni=voice\nk=prompt\nw=whatever\n")
    )
    assert sdp.extra_lines == [("y", "0123456789")]
    assert sdp.media[0].extra_lines == [("i", "voice"), ("k", "prompt"), ("w", "whatever")]
    assert SessionDescription.parse(sdp.serialize()) == sdp


def test_ptime_and_maxptime_parse_and_real_values_round_up() -> None:
    body = "m=audio 5000 RTP/AVP 0\na=ptime:20\na=maxptime:40\n"
    audio = SessionDescription.parse(audio_only(body)).media[0]
    assert (audio.ptime, audio.maxptime) == (20, 40)
    real = SessionDescription.parse(audio_only("m=audio 5000 RTP/AVP 0\na=ptime:22.5\n"))
    assert real.media[0].ptime == 23  # RFC 8866 allows a real number; we round up


def test_direction_is_none_when_not_stated() -> None:
    sdp = SessionDescription.parse(RFC8866_EXAMPLE)
    assert sdp.direction is None
    assert sdp.media[0].direction is None


def test_effective_direction_falls_back_from_media_to_session_to_sendrecv() -> None:
    body = "a=sendonly\nm=audio 5000 RTP/AVP 0\nm=audio 5002 RTP/AVP 0\na=inactive\n"
    sdp = SessionDescription.parse(audio_only(body))
    assert sdp.effective_direction(sdp.media[0]) == "sendonly"
    assert sdp.effective_direction(sdp.media[1]) == "inactive"
    plain = SessionDescription.parse(RFC8866_EXAMPLE)
    assert plain.effective_direction(plain.media[0]) == "sendrecv"


def test_formats_that_are_not_numbers_are_not_payload_types() -> None:
    body = "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=fmtp:webrtc-datachannel x\n"
    media = SessionDescription.parse(audio_only(body)).media[0]
    assert media.formats == ["webrtc-datachannel"]
    assert media.payload_types == []
    assert media.fmtp == {}


# --- line endings and round trips --------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_lf_and_crlf_input_parse_the_same(name: str) -> None:
    text = SAMPLES[name]
    assert SessionDescription.parse(text) == SessionDescription.parse(crlf(text))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_serialize_writes_the_input_back_with_crlf(name: str) -> None:
    sdp = SessionDescription.parse(SAMPLES[name])
    assert sdp.serialize() == crlf(SAMPLES[name])
    assert str(sdp) == sdp.serialize()
    assert SessionDescription.parse(sdp.serialize()) == sdp


def test_bytes_input_is_decoded_as_utf8() -> None:
    text = audio_only("m=audio 5000 RTP/AVP 0\n").replace("s=-", "s=Café ☕")
    sdp = SessionDescription.parse(text.encode("utf-8"))
    assert sdp.session_name == "Café ☕"


def test_blank_lines_and_trailing_blanks_are_tolerated() -> None:
    sdp = SessionDescription.parse(audio_only("m=audio 5000 RTP/AVP 0 \r\na=sendonly\t\n\n\n"))
    assert sdp.media[0].formats == ["0"]
    assert sdp.media[0].direction == "sendonly"


def test_missing_t_line_defaults_to_unbounded_timing() -> None:
    sdp = SessionDescription.parse("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nm=audio 5000 RTP/AVP 0\n")
    assert sdp.timing == "0 0"


def test_built_description_serializes_in_rfc_order() -> None:
    sdp = SessionDescription(
        version=0,
        origin=Origin("mediacore", 42, 1, "IN", "IP4", "192.0.2.10"),
        session_name="-",
        connection=Connection("IN", "IP4", "192.0.2.10"),
        media=[
            MediaDescription(
                "audio", 40000, "RTP/AVP", ["0"], attributes=[("rtpmap", "0 PCMU/8000")]
            )
        ],
    )
    assert sdp.serialize() == (
        "v=0\r\no=mediacore 42 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
        "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )


def test_serialize_refuses_line_breaks_smuggled_into_fields() -> None:
    sdp = SessionDescription.parse(audio_only("m=audio 5000 RTP/AVP 0\n"))
    sdp.media[0].attributes.append(("label", "x\r\nm=video 1 RTP/AVP 31"))
    with pytest.raises(SdpError, match="CR, LF or NUL"):
        sdp.serialize()


# --- malformed input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("o=- 1 1 IN IP4 192.0.2.1\nv=0\n", "line 1: .*must start with v=0"),
        ("v=1\no=- 1 1 IN IP4 192.0.2.1\ns=-\n", "must start with v=0"),
        ("v=0\ns=-\nt=0 0\n", "no o= line"),
        ("v=0\no=- 1 1 IN IP4 192.0.2.1\nt=0 0\n", "no s= line"),
        ("v=0\no=- 1 1 IN IP4\ns=-\n", "line 2: .*6 fields"),
        ("v=0\no=- x 1 IN IP4 192.0.2.1\ns=-\n", "line 2: .*session id"),
        ("v=0\no=- 1 1 IN IP4 1.2.3.4\no=- 1 1 IN IP4 1.2.3.4\ns=-\n", "line 3: .*second o="),
        ("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nv=0\n", "line 4: .*second v="),
        ("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nhello\n", "line 4: 'hello' is not <type>=<value>"),
        ("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\n1=x\n", "line 4"),
        ("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=now\n", "line 4: .*t= needs"),
        ("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nb=AS\n", "line 4: .*b= needs"),
        ("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4\n", "line 4: .*3 fields"),
    ],
)
def test_malformed_session_lines_raise_sdp_error_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(SdpError, match=message):
        SessionDescription.parse(text)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("m=audio\n", "line 6: .*m= needs"),
        ("m=audio 70000 RTP/AVP 0\n", "line 6: .*port 70000 is outside"),
        ("m=audio -1 RTP/AVP 0\n", "line 6: .*port"),
        ("m=audio 5000/0 RTP/AVP 0\n", "line 6: .*port count"),
        ("m=audio 5000 RTP//AVP 0\n", "line 6: .*transport protocol"),
        ("m=audio 5000 RTP/AVP 0\na=rtpmap:0\n", "line 7: .*rtpmap needs"),
        ("m=audio 5000 RTP/AVP 0\na=rtpmap:128 x/8000\n", "line 7: .*payload type 128"),
        ("m=audio 5000 RTP/AVP 0\na=rtpmap:0 PCMU\n", "line 7: .*<name>/<rate>"),
        ("m=audio 5000 RTP/AVP 0\na=rtpmap:0 PCMU/0\n", "line 7: .*clock rate 0"),
        ("m=audio 5000 RTP/AVP 0\na=rtpmap:0 PCMU/٨٠٠٠\n", "line 7: .*not a decimal"),
        ("m=audio 5000 RTP/AVP 0\na=rtpmap:0 A/1\na=rtpmap:0 B/1\n", "line 8: .*second a=rtpmap"),
        ("m=audio 5000 RTP/AVP 0\na=fmtp:0 a\na=fmtp:0 b\n", "line 8: .*second a=fmtp"),
        ("m=audio 5000 RTP/AVP 0\na=fmtp\n", "line 7: .*needs a value"),
        ("m=audio 5000 RTP/AVP 0\na=ptime:0\n", "line 7: .*ptime"),
        ("m=audio 5000 RTP/AVP 0\na=ptime:fast\n", "line 7: .*ptime"),
        ("m=audio 5000 RTP/AVP 0\na=maxptime:-5\n", "line 7: .*maxptime"),
        ("m=audio 5000 RTP/AVP 0\na=rtcp:x\n", "line 7: .*rtcp port"),
        ("m=audio 5000 RTP/AVP 0\na=rtcp:5001 IN IP4\n", "line 7: .*RFC 3605"),
        ("m=audio 5000 RTP/AVP 0\na=extmap:0 urn:x\n", "line 7: .*extmap id 0"),
        ("m=audio 5000 RTP/AVP 0\na=extmap:1/sideways urn:x\n", "line 7: .*direction"),
        ("m=audio 5000 RTP/AVP 0\na=extmap:1 urn:x\na=extmap:1 urn:y\n", "line 8: .*id 1"),
        ("m=audio 5000 RTP/AVP 0\na=sendonly\na=recvonly\n", "line 8: .*contradicts"),
        ("m=audio 5000 RTP/AVP 0\na=sendonly:yes\n", "line 7: .*takes no value"),
        ("m=audio 5000 RTP/AVP 0\na=\n", "line 7: .*attribute name"),
        ("m=audio 5000 RTP/AVP 0\na=:x\n", "line 7: .*attribute name"),
        ("m=audio 5000 RTP/AVP 0\nc=IN IP4 1.2.3.4\nc=IN IP4 1.2.3.5\n", "line 8: .*second c="),
        ("m=audio 5000 RTP/AVP 0\no=- 1 1 IN IP4 1.2.3.4\n", "line 7: .*not allowed inside"),
        ("m=audio 5000 RTP/AVP 0\nt=0 0\n", "line 7: .*not allowed inside"),
    ],
)
def test_malformed_media_lines_raise_sdp_error_naming_the_line(body: str, message: str) -> None:
    with pytest.raises(SdpError, match=message):
        SessionDescription.parse(audio_only(body))


def test_same_direction_stated_twice_is_accepted() -> None:
    sdp = SessionDescription.parse(audio_only("m=audio 5000 RTP/AVP 0\na=sendonly\na=sendonly\n"))
    assert sdp.media[0].direction == "sendonly"


def test_non_utf8_bytes_raise_sdp_error() -> None:
    with pytest.raises(SdpError, match="line 3: SDP is not UTF-8"):
        SessionDescription.parse(b"v=0\no=- 1 1 IN IP4 192.0.2.1\ns=\xff\xfe\n")


def test_lone_surrogate_in_text_raises_sdp_error() -> None:
    with pytest.raises(SdpError, match="surrogate"):
        SessionDescription.parse("v=0\ns=\udc80\n")


def test_nul_and_stray_cr_raise_sdp_error() -> None:
    with pytest.raises(SdpError, match="line 3: .*stray CR or a NUL"):
        SessionDescription.parse("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=a\0b\n")
    with pytest.raises(SdpError, match="line 3: .*stray CR or a NUL"):
        SessionDescription.parse("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=a\rb=AS:1\n")


def test_text_over_64_kib_is_refused() -> None:
    big = audio_only("m=audio 5000 RTP/AVP 0\n" + "a=x:" + "y" * 4000 + "\n") * 17
    with pytest.raises(SdpError, match="more than 65536"):
        SessionDescription.parse(big)
    with pytest.raises(SdpError, match="more than 65536 bytes"):
        SessionDescription.parse(big.encode())
    wide = "v=0\ns=" + "€" * (MAX_SDP_BYTES // 3)  # fewer characters than bytes
    with pytest.raises(SdpError, match="bytes, more than"):
        SessionDescription.parse(wide)


def test_more_than_1000_lines_is_refused() -> None:
    with pytest.raises(SdpError, match="more than 1000"):
        SessionDescription.parse(audio_only("m=audio 5000 RTP/AVP 0\n" + "a=x\n" * 1000))
    SessionDescription.parse(audio_only("m=audio 5000 RTP/AVP 0\n" + "a=x\n" * 990))


def test_line_over_4096_characters_is_refused() -> None:
    line = "a=x:" + "y" * (MAX_LINE_LENGTH - 4)
    SessionDescription.parse(audio_only(f"m=audio 5000 RTP/AVP 0\n{line}\n"))
    with pytest.raises(SdpError, match="line 7: longer than 4096"):
        SessionDescription.parse(audio_only(f"m=audio 5000 RTP/AVP 0\n{line}y\n"))


def test_more_than_32_media_sections_is_refused() -> None:
    SessionDescription.parse(audio_only("m=audio 5000 RTP/AVP 0\n" * 32))
    with pytest.raises(SdpError, match="line 38: .*more than 32 media"):
        SessionDescription.parse(audio_only("m=audio 5000 RTP/AVP 0\n" * 33))


def test_sdp_error_is_a_value_error() -> None:
    assert issubclass(SdpError, ValueError)
