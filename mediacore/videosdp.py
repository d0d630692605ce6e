"""RFC 3264 offer/answer for the video stream of a SIP call or a plain RTP leg.

The audio answer (mediacore.offeranswer) rejects every m= line but its audio one; this module
answers the offer's first live video m= line instead, and the caller puts that line in the
audio answer's place (`accept_in`). No I/O: text in, dataclasses out.

What we take: H.264 with packetization-mode 1 (RFC 6184), profiles baseline, constrained
baseline, main and high up to level 4.0 (a higher level is answered lowered to 4.0, as RFC 6184
section 8.2.2 lets an answerer do), and VP8 (RFC 7741), over RTP/AVP or RTP/AVPF. Anything else
(SRTP profiles, packetization modes 0 and 2, H.265, ...) is refused with port 0 and the audio
goes on. The offer's b=AS/b=TIAS (RFC 3890), RTCP feedback (RFC 4585, RFC 5104, REMB) and
a=imageattr (RFC 6236, the first `recv` size) are recorded in the negotiation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from mediacore.offeranswer import OfferAnswerError, literal_address, remote_rtcp_address
from mediacore.sdp import MediaDescription, SdpError, SessionDescription

VIDEO_CLOCK_RATE = 90000
VIDEO_PROFILES = ("RTP/AVP", "RTP/AVPF")
MAX_FMTP_PARAMETERS = 32
MAX_FMTP_LENGTH = 1024
# Level 4.0 (1080p30, 720p60): what we offer to receive and forward at most.
MAX_LEVEL_IDC = 0x28
# RFC 6184 profile_idc values we take: baseline (incl. constrained), main, high.
H264_PROFILES = {0x42: "baseline", 0x4D: "main", 0x64: "high"}
# RTCP feedback we honour, as the a=rtcp-fb values that announce it.
FEEDBACK = ("nack", "nack pli", "ccm fir", "ccm tmmbr", "goog-remb")
_MIRROR = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly"}
_HEX6 = re.compile(r"[0-9A-Fa-f]{6}")
_IMAGEATTR_SIZE = re.compile(r"\[x=([0-9]{1,5}),y=([0-9]{1,5})[,\]]")

VideoReason = Literal["no-video", "no-common-codec", "bad-profile", "bad-address"]


class VideoOfferError(ValueError):
    """The offer's video cannot be taken: answered with port 0, the audio carries on."""

    def __init__(self, reason: VideoReason, message: str) -> None:
        super().__init__(message)
        self.reason: VideoReason = reason


@dataclass(frozen=True, slots=True)
class H264Format:
    """What an H.264 a=fmtp says: profile_idc, constraint flags, level_idc, packetization mode.

    An absent profile-level-id means 42000a (baseline level 1.0, RFC 6184 section 8.1)."""

    profile_idc: int = 0x42
    constraints: int = 0x00
    level_idc: int = 0x0A
    packetization_mode: int = 0
    level_asymmetry_allowed: bool = False

    @property
    def profile_level_id(self) -> str:
        return f"{self.profile_idc:02x}{self.constraints:02x}{self.level_idc:02x}"


def parse_fmtp(text: str) -> dict[str, str]:
    """`key=value;key=value` parameters, keys lower-cased; at most 32 of them and 1024
    characters. Raises SdpError when over those bounds or when a parameter has no `=`."""
    if len(text) > MAX_FMTP_LENGTH:
        raise SdpError(f"fmtp is {len(text)} characters, more than {MAX_FMTP_LENGTH}")
    parameters: dict[str, str] = {}
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise SdpError(f"fmtp parameter {item[:40]!r} is not key=value")
        if len(parameters) >= MAX_FMTP_PARAMETERS:
            raise SdpError(f"fmtp has more than {MAX_FMTP_PARAMETERS} parameters")
        parameters[key.strip().lower()] = value.strip()
    return parameters


def parse_h264_fmtp(text: str) -> H264Format:
    """An H.264 a=fmtp value (without its format number). Raises SdpError when malformed."""
    parameters = parse_fmtp(text)
    profile = parameters.get("profile-level-id", "42000a")
    if not _HEX6.fullmatch(profile):
        raise SdpError(f"profile-level-id {profile[:20]!r} is not six hex digits")
    mode = parameters.get("packetization-mode", "0")
    if mode not in ("0", "1", "2"):
        raise SdpError(f"packetization-mode {mode[:20]!r} is not 0, 1 or 2")
    return H264Format(
        profile_idc=int(profile[0:2], 16),
        constraints=int(profile[2:4], 16),
        level_idc=int(profile[4:6], 16),
        packetization_mode=int(mode),
        level_asymmetry_allowed=parameters.get("level-asymmetry-allowed") == "1",
    )


def answer_h264(offered: H264Format) -> H264Format:
    """The format we answer an offered one with. Raises VideoOfferError for a packetization
    mode or profile we do not take; lowers a level above 4.0 to 4.0."""
    if offered.packetization_mode != 1:
        raise VideoOfferError(
            "no-common-codec", f"H.264 packetization-mode {offered.packetization_mode} (we take 1)"
        )
    if offered.profile_idc not in H264_PROFILES:
        raise VideoOfferError(
            "bad-profile", f"H.264 profile_idc {offered.profile_idc:#04x} is not baseline/main/high"
        )
    level = offered.level_idc
    # level_idc 9 is level 1b (constrained baseline's other way to say it): below 4.0 too
    return H264Format(
        offered.profile_idc, offered.constraints, min(level, MAX_LEVEL_IDC), 1,
        offered.level_asymmetry_allowed,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class VideoNegotiation:
    """What both sides agreed for the video stream, from our point of view.

    `codec` is "H264" or "VP8"; `fmtp` the parameters we answered; `feedback` the a=rtcp-fb
    values both sides use; `max_bitrate` the peer's limit for what we send, in bit/s (b=TIAS,
    else b=AS), None when it stated none; `image_size` the first size its a=imageattr asks to
    receive, None without one."""

    index: int  # the m= line's position in the offer and the answer
    codec: str
    payload_type: int
    remote_address: str
    remote_port: int
    remote_rtcp: tuple[str, int] | None  # None when RTCP is muxed onto the RTP port
    rtcp_mux: bool
    direction: str
    fmtp: str | None = None
    feedback: frozenset[str] = field(default_factory=frozenset)
    max_bitrate: int | None = None
    image_size: tuple[int, int] | None = None
    proto: str = "RTP/AVP"
    mid: str | None = None

    @property
    def sends(self) -> bool:
        return self.direction in ("sendrecv", "sendonly") and self.remote_port != 0

    @property
    def receives(self) -> bool:
        return self.direction in ("sendrecv", "recvonly")


def offered_video(offer: SessionDescription) -> int | None:
    """Index of the offer's first video m= line with a port, None if it has none."""
    for index, media in enumerate(offer.media):
        if media.kind == "video" and media.port != 0:
            return index
    return None


def negotiate_video(offer: SessionDescription, index: int) -> VideoNegotiation:
    """Agree the video of m= line `index` of `offer`. Raises VideoOfferError when we cannot
    take it, SdpError when a line it depends on is malformed."""
    media = offer.media[index]
    if media.kind != "video" or media.port == 0:
        raise VideoOfferError("no-video", f"m= line {index + 1} is not a live video stream")
    if media.proto not in VIDEO_PROFILES:
        raise VideoOfferError("no-video", f"video over {media.proto} (we take RTP/AVP, RTP/AVPF)")
    connection = media.connection or offer.connection
    if connection is None:
        raise VideoOfferError("bad-address", "no c= line for the video stream")
    try:
        address = literal_address(connection.nettype, connection.addrtype, connection.address)
        rtcp = None if media.rtcp_mux else remote_rtcp_address(media, address)
    except OfferAnswerError as error:
        raise VideoOfferError("bad-address", str(error)) from None
    payload_type, codec, fmtp = _pick_codec(media)
    offered_direction = offer.effective_direction(media)
    direction = _MIRROR.get(offered_direction, "inactive")
    return VideoNegotiation(
        index=index,
        codec=codec,
        payload_type=payload_type,
        remote_address=address,
        remote_port=media.port,
        remote_rtcp=rtcp,
        rtcp_mux=media.rtcp_mux,
        direction=direction,
        fmtp=fmtp,
        feedback=_feedback(media, payload_type),
        max_bitrate=max_bitrate(offer, media),
        image_size=image_size(media),
        proto=media.proto,
        mid=media.attribute("mid"),
    )


def answer_media(negotiation: VideoNegotiation, local_port: int) -> MediaDescription:
    """Our answer's m=video line for `negotiation`, receiving on `local_port`."""
    pt = negotiation.payload_type
    attributes: list[tuple[str, str | None]] = []
    if negotiation.mid is not None:
        attributes.append(("mid", negotiation.mid))
    attributes.append(("rtpmap", f"{pt} {negotiation.codec}/{VIDEO_CLOCK_RATE}"))
    if negotiation.fmtp:
        attributes.append(("fmtp", f"{pt} {negotiation.fmtp}"))
    attributes += [("rtcp-fb", f"{pt} {value}") for value in sorted(negotiation.feedback)]
    attributes.append((negotiation.direction, None))
    if negotiation.rtcp_mux:
        attributes.append(("rtcp-mux", None))
    return MediaDescription(
        "video", local_port, negotiation.proto, [str(pt)], attributes=attributes
    )


def accept_in(answer: SessionDescription, media: MediaDescription, index: int) -> None:
    """Put our accepted video line in place of the rejected one at `index` of `answer`."""
    if not 0 <= index < len(answer.media) or answer.media[index].kind != "video":
        raise ValueError(f"answer m= line {index + 1} is not the offer's video line")
    answer.media[index] = media


def max_bitrate(offer: SessionDescription, media: MediaDescription) -> int | None:
    """The peer's bandwidth limit in bit/s: b=TIAS (bit/s), else b=AS (kbit/s), media level
    first, then session level; None when neither states one (or states 0)."""
    for bandwidths in (media.bandwidths, offer.bandwidths):
        found = dict(bandwidths)
        if found.get("TIAS"):
            return found["TIAS"]
        if found.get("AS"):
            return found["AS"] * 1000
    return None


def image_size(media: MediaDescription) -> tuple[int, int] | None:
    """The first single `recv [x=W,y=H]` size of the first a=imageattr, if any (RFC 6236;
    ranges and lists are not read: the room's default size is used then)."""
    value = media.attribute("imageattr")
    if value is None:
        return None
    _, _, rest = value.partition("recv")
    match = _IMAGEATTR_SIZE.search(rest[:200])
    if match is None:
        return None
    width, height = int(match.group(1)), int(match.group(2))
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        return None
    return width, height


def _pick_codec(media: MediaDescription) -> tuple[int, str, str | None]:
    """The offerer's most preferred format we take: (payload type, codec, our fmtp)."""
    rtpmaps = media.rtpmaps
    fmtps = media.fmtp
    refusals: list[str] = []
    for pt in media.payload_types:
        meaning = rtpmaps.get(pt)
        if meaning is None or meaning.clock_rate != VIDEO_CLOCK_RATE:
            continue
        name = meaning.encoding.upper()
        if name == "H264":
            try:
                ours = answer_h264(parse_h264_fmtp(fmtps.get(pt, "")))
            except (VideoOfferError, SdpError) as error:
                refusals.append(str(error))
                continue
            fmtp = f"profile-level-id={ours.profile_level_id};packetization-mode=1"
            if ours.level_asymmetry_allowed:
                fmtp = "level-asymmetry-allowed=1;" + fmtp
            return pt, "H264", fmtp
        if name == "VP8":
            return pt, "VP8", None
    offered = " ".join(media.formats[:8]) or "nothing"
    detail = f" ({'; '.join(refusals[:3])})" if refusals else ""
    raise VideoOfferError("no-common-codec", f"no H.264 or VP8 we take among {offered}{detail}")


def _feedback(media: MediaDescription, payload_type: int) -> frozenset[str]:
    """The a=rtcp-fb values offered for `payload_type` (or `*`) that we honour."""
    found: set[str] = set()
    for value in media.attribute_values("rtcp-fb")[:64]:
        fmt, _, kind = value.partition(" ")
        kind = " ".join(kind.split()).lower()
        if fmt in ("*", str(payload_type)) and kind in FEEDBACK:
            found.add(kind)
    return frozenset(found)
