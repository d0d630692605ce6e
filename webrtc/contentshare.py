"""A peer's track shared as its room's content (双流): which video of the call it is.

A browser shares its screen by adding a track to its call and offering again (the signalling
message "share" carries that offer and the track's `mid`); a track shared before can be shared
again with no offer (the browser replaced the track on the same transceiver). The track becomes
a video source of the hub named `<participant>/content`, which the room's content registry
(control's) then shows in the composed picture and browsers subscribe to.

`offered_video_sends(offer, mid)` is the pure check made before anything is applied: a bad
`mid` must not leave the browser with an offer nobody answers."""

from __future__ import annotations

from mediacore.sdp import SdpError, SessionDescription
from webrtc.peer import WebRtcError, WebRtcLeg
from webrtc.service import WebRtcService

MAX_MID = 32
CONTENT_SUFFIX = "content"  # the source id is <participant>/content
_SENDING = ("sendonly", "sendrecv")


def offered_video_sends(offer: str, mid: str) -> None:
    """Raise WebRtcError ("bad-sdp", "bad-field") unless `offer` has a video m-line `mid`
    that the offerer sends."""
    try:
        parsed = SessionDescription.parse(offer)
    except SdpError as error:
        raise WebRtcError("bad-sdp", f"unusable SDP offer: {error}") from None
    for media in parsed.media:
        if media.kind == "video" and media.attribute("mid") == mid:
            if media.port == 0 or parsed.effective_direction(media) not in _SENDING:
                raise WebRtcError("bad-field", f"the offer does not send video {mid!r}")
            return
    raise WebRtcError("bad-field", f"the offer has no video m-line with mid {mid!r}")


async def share_track(
    leg: WebRtcLeg, service: WebRtcService, offer: str | None, mid: str
) -> tuple[str | None, str]:
    """Take the peer's video `mid` as a source (applying `offer` first when given); returns
    our answer (None without an offer) and the source id. Raises WebRtcError
    ("video-unavailable", "negotiating", "bad-sdp", "bad-field", "video-refused")."""
    hub = service.video_hub
    if hub is None:
        raise WebRtcError("video-unavailable", "this server forwards no video")
    answer = None
    if offer is not None:
        offered_video_sends(offer, mid)
        answer = await leg.accept_offer(offer)
    receiver = next(
        (
            t.receiver
            for t in leg.pc.getTransceivers()
            if t.mid == mid and t.kind == "video" and t.receiver in leg.video_receivers
        ),
        None,
    )
    if receiver is None:
        raise WebRtcError("bad-field", f"the call receives no video with mid {mid!r}")
    try:
        source = hub.receiver_source(leg, receiver, CONTENT_SUFFIX)
    except ValueError:
        raise WebRtcError(
            "video-refused", f"the video {mid!r} has ended: share a new track"
        ) from None
    hub.attach(leg)  # other tracks the offer added are sources as ever
    return answer, source
