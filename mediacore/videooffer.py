"""Our own video offer, for a dial-out with video (a cascade to another MCU, 级联): the m=video
line we offer, the stream's terms until the far end answers, and its answer read.

We offer H.264 packetization-mode 1, constrained baseline level 3.1 (what every terminal and
MCU takes, 1280x720 at 30 fps), with NACK, PLI and FIR feedback, sending and receiving: the far
end receives our composed picture, and its picture becomes a source of our room. Its answer is
read as an offer would be (`negotiate_video`: the payload type, fmtp, address, direction and
bandwidth it chose, mirrored to our side); a refused line (port 0) or one we cannot take ends
our video and the audio goes on.
"""

from __future__ import annotations

from dataclasses import replace

from mediacore.sdp import MediaDescription, SessionDescription
from mediacore.videosdp import VideoNegotiation, VideoOfferError, answer_media, negotiate_video

OFFER_PAYLOAD_TYPE = 96
OFFER_FMTP = "packetization-mode=1;profile-level-id=42e01f"
OFFER_FEEDBACK = frozenset({"nack", "nack pli", "ccm fir"})


def pending_negotiation(index: int) -> VideoNegotiation:
    """The stream's terms from our offer until the answer comes: nothing sent, nothing taken."""
    return VideoNegotiation(
        index=index,
        codec="H264",
        payload_type=OFFER_PAYLOAD_TYPE,
        remote_address="0.0.0.0",
        remote_port=0,
        remote_rtcp=None,
        rtcp_mux=False,
        direction="inactive",
        fmtp=OFFER_FMTP,
        feedback=OFFER_FEEDBACK,
    )


def offer_media(pending: VideoNegotiation, local_port: int) -> MediaDescription:
    """Our offer's m=video line, receiving on `local_port`."""
    return answer_media(replace(pending, direction="sendrecv"), local_port)


def answered_video(answer: SessionDescription, index: int) -> VideoNegotiation:
    """The terms of the far end's answer to our video line `index`. Raises VideoOfferError
    when it refused the line or answered what we cannot take, SdpError when it is malformed."""
    if not 0 <= index < len(answer.media) or answer.media[index].kind != "video":
        raise VideoOfferError("no-video", "the answer has no video line for our offer's")
    if answer.media[index].port == 0:
        raise VideoOfferError("no-video", "the far end refused video (port 0)")
    return negotiate_video(answer, index)
