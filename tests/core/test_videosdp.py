"""Offer/answer for a SIP or plain RTP leg's video (RFC 3264, RFC 6184 section 8, RFC 7741),
against offers the way video terminals and softphones write them."""

from __future__ import annotations

import pytest

from mediacore.codecs.base import CodecInfo
from mediacore.offeranswer import answer_audio
from mediacore.sdp import SdpError, SessionDescription
from mediacore.videosdp import (
    VideoOfferError,
    accept_in,
    answer_h264,
    answer_media,
    negotiate_video,
    offered_video,
    parse_fmtp,
    parse_h264_fmtp,
)

PCMU = CodecInfo("PCMU", 8000, 8000, 1, 0)

# A hardware room terminal's offer (Polycom/Cisco style): H.264 high and baseline, each in
# packetization modes 1 and 0, H.263 last, b=AS and b=TIAS, RTCP feedback, separate RTCP port.
TERMINAL = """v=0
o=terminal 1 1 IN IP4 192.0.2.10
s=-
c=IN IP4 192.0.2.10
b=AS:2048
t=0 0
m=audio 49170 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=sendrecv
m=video 49172 RTP/AVP 109 110 111 34
b=TIAS:1920000
a=rtpmap:109 H264/90000
a=fmtp:109 profile-level-id=640029; packetization-mode=1; max-mbps=245760; max-fs=8192
a=rtpmap:110 H264/90000
a=fmtp:110 profile-level-id=42e01f; packetization-mode=1
a=rtpmap:111 H264/90000
a=fmtp:111 profile-level-id=42e01f
a=rtpmap:34 H263/90000
a=rtcp-fb:* ccm fir
a=rtcp-fb:* ccm tmmbr
a=rtcp-fb:* nack pli
a=imageattr:109 send * recv [x=1280,y=720]
a=sendrecv
"""

# baresip with its vp8 module: VP8 only, AVP, no feedback lines.
BARESIP = """v=0
o=- 1443578925 2091394521 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 10146 RTP/AVP 0 8 101
a=rtpmap:101 telephone-event/8000
a=sendrecv
m=video 12548 RTP/AVP 100
b=AS:500
a=rtpmap:100 VP8/90000
a=fmtp:100 max-fs=3600
a=rtcp-rsize
a=sendrecv
"""


def parse(text: str) -> SessionDescription:
    return SessionDescription.parse(text.replace("\n", "\r\n"))


def test_the_offerers_first_h264_format_in_packetization_mode_1_is_taken() -> None:
    offer = parse(TERMINAL)
    index = offered_video(offer)
    assert index == 1
    video = negotiate_video(offer, index)
    assert (video.codec, video.payload_type) == ("H264", 109)
    assert video.remote_address == "192.0.2.10" and video.remote_port == 49172
    assert video.remote_rtcp == ("192.0.2.10", 49173) and not video.rtcp_mux
    assert video.direction == "sendrecv"


def test_a_level_above_4_0_is_answered_lowered_to_4_0_in_the_same_profile() -> None:
    """RFC 6184 section 8.2.2: the answerer may lower the level; the profile stays."""
    video = negotiate_video(parse(TERMINAL), 1)
    assert video.fmtp == "profile-level-id=640028;packetization-mode=1"


@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        ("42e01f", "42e01f"),  # constrained baseline 3.1
        ("42001e", "42001e"),  # baseline 3.0
        ("4d0028", "4d0028"),  # main 4.0
        ("64001e", "64001e"),  # high 3.0 (x264's default for 640x360)
        ("640033", "640028"),  # high 5.1 lowered
        ("42e034", "42e028"),
    ],
)
def test_profile_level_id_negotiation(offered: str, answered: str) -> None:
    ours = answer_h264(parse_h264_fmtp(f"profile-level-id={offered};packetization-mode=1"))
    assert ours.profile_level_id == answered


@pytest.mark.parametrize(
    ("fmtp", "reason"),
    [
        ("profile-level-id=42e01f", "no-common-codec"),  # mode 0 by default
        ("profile-level-id=42e01f;packetization-mode=2", "no-common-codec"),
        ("profile-level-id=f4001f;packetization-mode=1", "bad-profile"),  # High 4:4:4
        ("profile-level-id=6e001f;packetization-mode=1", "bad-profile"),  # High 10
    ],
)
def test_h264_we_cannot_take_is_refused(fmtp: str, reason: str) -> None:
    with pytest.raises(VideoOfferError) as caught:
        answer_h264(parse_h264_fmtp(fmtp))
    assert caught.value.reason == reason


def test_only_mode_0_h264_and_h263_refuse_the_video_line() -> None:
    text = TERMINAL.replace("a=fmtp:109 profile-level-id=640029; packetization-mode=1;", "a=x:")
    text = text.replace("a=fmtp:110 profile-level-id=42e01f; packetization-mode=1", "a=x:y")
    with pytest.raises(VideoOfferError) as caught:
        negotiate_video(parse(text), 1)
    assert caught.value.reason == "no-common-codec"
    assert "packetization-mode 0" in str(caught.value)


def test_b_tias_wins_over_b_as_and_media_level_over_session_level() -> None:
    offer = parse(TERMINAL)
    assert negotiate_video(offer, 1).max_bitrate == 1_920_000
    without_tias = parse(TERMINAL.replace("b=TIAS:1920000\n", ""))
    assert negotiate_video(without_tias, 1).max_bitrate == 2_048_000  # session b=AS, kbit/s
    assert negotiate_video(parse(BARESIP), 1).max_bitrate == 500_000


def test_feedback_we_honour_is_kept_and_answered() -> None:
    video = negotiate_video(parse(TERMINAL), 1)
    assert video.feedback == {"ccm fir", "ccm tmmbr", "nack pli"}
    lines = answer_media(video, 30000).to_lines()
    assert "a=rtcp-fb:109 ccm fir" in lines and "a=rtcp-fb:109 nack pli" in lines


def test_imageattr_recv_size_is_read() -> None:
    assert negotiate_video(parse(TERMINAL), 1).image_size == (1280, 720)
    assert negotiate_video(parse(BARESIP), 1).image_size is None


def test_vp8_from_baresip_is_taken_without_fmtp() -> None:
    video = negotiate_video(parse(BARESIP), 1)
    assert (video.codec, video.payload_type, video.fmtp) == ("VP8", 100, None)
    assert answer_media(video, 30000).to_lines()[:2] == [
        "m=video 30000 RTP/AVP 100",
        "a=rtpmap:100 VP8/90000",
    ]


def test_direction_is_mirrored() -> None:
    sendonly = parse(BARESIP.replace("a=rtcp-rsize\na=sendrecv", "a=rtcp-rsize\na=sendonly"))
    video = negotiate_video(sendonly, 1)
    assert video.direction == "recvonly" and video.receives and not video.sends


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("m=video 12548 RTP/AVP", "m=video 12548 RTP/SAVP"), "no-video"),
        (("m=video 12548 RTP/AVP 100", "m=video 12548 RTP/AVP 101"), "no-common-codec"),
        (("a=rtpmap:100 VP8/90000", "a=rtpmap:100 H265/90000"), "no-common-codec"),
        (("c=IN IP4 127.0.0.1", "c=IN IP4 224.0.0.1"), "bad-address"),
    ],
)
def test_video_we_cannot_take_is_refused(change: tuple[str, str], reason: str) -> None:
    with pytest.raises(VideoOfferError) as caught:
        negotiate_video(parse(BARESIP.replace(*change)), 1)
    assert caught.value.reason == reason


def test_the_audio_answer_gets_the_video_line_in_place_of_its_port_0() -> None:
    """RFC 3264 section 6: one answer line per offered line, in order."""
    offer = parse(TERMINAL)
    answer, _ = answer_audio(offer, [PCMU], "192.0.2.1", 20000, session_id=1)
    assert answer.media[1].port == 0
    video = negotiate_video(offer, 1)
    accept_in(answer, answer_media(video, 20002), video.index)
    again = SessionDescription.parse(answer.serialize())
    assert [m.kind for m in again.media] == ["audio", "video"]
    assert again.media[1].port == 20002 and again.media[1].formats == ["109"]


def test_an_offer_without_live_video_has_none() -> None:
    assert offered_video(parse(BARESIP.replace("m=video 12548", "m=video 0"))) is None
    assert offered_video(parse(BARESIP.split("m=video")[0])) is None


def test_fmtp_parsing_is_bounded() -> None:
    assert parse_fmtp(" a=1 ; B = 2;;") == {"a": "1", "b": "2"}
    with pytest.raises(SdpError):
        parse_fmtp(";".join(f"k{i}=1" for i in range(40)))
    with pytest.raises(SdpError):
        parse_fmtp("x=" + "1" * 2000)
    with pytest.raises(SdpError):
        parse_fmtp("no-equals")
    with pytest.raises(SdpError):
        parse_h264_fmtp("profile-level-id=42e0zz")
