"""Property tests for what a SIP or plain RTP video peer sends: fmtp and m=video lines, RTP and
RTCP feedback datagrams. Nothing escapes but the documented errors (SdpError, VideoOfferError);
datagrams never raise at all, they are counted as dropped."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediacore.rtcp import RtcpError, parse_compound
from mediacore.rtcpfeedback import read_feedback
from mediacore.sdp import SdpError, SessionDescription
from mediacore.videooffer import answered_video
from mediacore.videosdp import (
    VideoNegotiation,
    VideoOfferError,
    answer_h264,
    negotiate_video,
    parse_fmtp,
    parse_h264_fmtp,
)
from mediacore.videosession import VideoSession

FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FMTP_ALPHABET = "=;, -_.0123456789abcdefABCDEFprofile-level-idpacketization-mode\t"
PEER = ("127.0.0.1", 4000)


@FUZZ
@given(st.text(alphabet=FMTP_ALPHABET, max_size=300) | st.text(max_size=300))
def test_fmtp_text_never_escapes_but_as_sdp_error(text: str) -> None:
    try:
        parameters = parse_fmtp(text)
        assert len(parameters) <= 32
        answer_h264(parse_h264_fmtp(text))
    except (SdpError, VideoOfferError):
        pass


VIDEO_LINES = st.lists(
    st.sampled_from(
        [
            "a=rtpmap:96 H264/90000",
            "a=rtpmap:97 VP8/90000",
            "a=rtpmap:96 H264/8000",
            "a=fmtp:96 profile-level-id=640033;packetization-mode=1",
            "a=fmtp:96 packetization-mode=0",
            "a=fmtp:96 profile-level-id=zz",
            "a=rtcp-fb:* nack",
            "a=rtcp-fb:96 ccm fir",
            "a=imageattr:* recv [x=99999,y=1]",
            "a=imageattr:96 send * recv [x=640,y=360]",
            "a=rtcp:9",
            "a=rtcp-mux",
            "a=sendonly",
            "b=AS:0",
            "b=TIAS:128000",
            "c=IN IP6 ::1",
            "c=IN IP4 0.0.0.0",
        ]
    ),
    max_size=8,
)


@FUZZ
@given(st.sampled_from(["96", "96 97", "97 96 34", "x", "96 96"]), VIDEO_LINES)
def test_video_offers_are_taken_or_refused_never_crash(formats: str, lines: list[str]) -> None:
    body = "\r\n".join(
        ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0"]
        + ["m=audio 4000 RTP/AVP 0", f"m=video 4002 RTP/AVP {formats}", *lines, ""]
    )
    try:
        offer = SessionDescription.parse(body)
        video = negotiate_video(offer, 1)
        assert video.payload_type in (96, 97) and video.codec in ("H264", "VP8")
    except (SdpError, VideoOfferError):
        pass
    # the same lines as the far end's answer to our dial-out's video (cascade): the same errors
    for index in (1, 0, 5):
        try:
            answered_video(SessionDescription.parse(body), index)
        except (SdpError, VideoOfferError):
            pass


NEGOTIATION = VideoNegotiation(
    index=1, codec="H264", payload_type=96, remote_address=PEER[0], remote_port=PEER[1],
    remote_rtcp=None, rtcp_mux=True, direction="sendrecv",
    feedback=frozenset({"nack", "nack pli", "ccm tmmbr"}),
)  # fmt: skip


@FUZZ
@given(st.lists(st.binary(min_size=0, max_size=200), max_size=20))
def test_datagrams_never_raise(datagrams: list[bytes]) -> None:
    session = VideoSession(NEGOTIATION, now=0.0)
    for data in datagrams:
        # make most of them look like RTP of the negotiated type, or like RTCP feedback
        for candidate in (data, b"\x80\x60" + data, b"\x80\xcd" + data, b"\x81\xce" + data):
            session.receive(candidate, PEER, 0.0)
            try:
                read_feedback(parse_compound(candidate))
            except RtcpError:
                pass
    session.to_send()
