"""RFC 3264 offer/answer for one audio stream over plain RTP.

Used by plain RTP legs, SIP calls and the load generator, which drives any plain-RTP conference
server; so this module depends on nothing but `mediacore.sdp` and `mediacore.codecs.base`.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mediacore.sdes import (
    SECURE_PROFILES,
    CryptoAttribute,
    SrtpKeys,
    SrtpMode,
    crypto_attributes,
    new_key,
    offered_attributes,
    pick_offered,
)
from mediacore.sdp import (
    DIRECTIONS,
    Attribute,
    Connection,
    Extmap,
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
)

if TYPE_CHECKING:  # only for types: importing mediacore.codecs at run time loads every codec
    from mediacore.codecs.base import CodecInfo

ALLOWED_PTIMES = (10, 20, 30, 40, 60)
DEFAULT_PTIME = 20
PLAIN_RTP_PROFILES = ("RTP/AVP", "RTP/AVPF")
TELEPHONE_EVENT = "telephone-event"
TELEPHONE_EVENT_FMTP = "0-16"  # RFC 4733 DTMF digits 0-9, *, #, A-D and flash
SESSION_USERNAME = "mediacore"

Reason = Literal["no-audio", "no-common-codec", "bad-ptime", "bad-address", "rejected", "no-srtp"]

# RFC 3551 table 4: audio payload types that mean a codec even without an a=rtpmap line.
STATIC_AUDIO_PAYLOAD_TYPES: dict[int, RtpMap] = {
    pt: RtpMap(pt, name, rate, channels)
    for pt, name, rate, channels in (
        (0, "PCMU", 8000, 1),
        (3, "GSM", 8000, 1),
        (4, "G723", 8000, 1),
        (5, "DVI4", 8000, 1),
        (6, "DVI4", 16000, 1),
        (7, "LPC", 8000, 1),
        (8, "PCMA", 8000, 1),
        (9, "G722", 8000, 1),
        (10, "L16", 44100, 2),
        (11, "L16", 44100, 1),
        (12, "QCELP", 8000, 1),
        (13, "CN", 8000, 1),
        (14, "MPA", 90000, 1),
        (15, "G728", 8000, 1),
        (16, "DVI4", 11025, 1),
        (17, "DVI4", 22050, 1),
        (18, "G729", 8000, 1),
    )
}

# RFC 3264 section 6.1: the answer's direction mirrors the offer's.
_MIRROR = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


class OfferAnswerError(ValueError):
    """The offer or answer cannot give us a usable audio stream; `reason` says why, briefly."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason


@dataclass(frozen=True)
class AudioNegotiation:
    """What both sides agreed for the audio stream, from our point of view."""

    codec: CodecInfo
    payload_type: int
    ptime: int
    telephone_event_pt: int | None
    remote_address: str  # 0.0.0.0 or :: means the peer holds the call
    remote_port: int
    remote_rtcp: tuple[str, int] | None  # None when RTCP is muxed onto the RTP port
    rtcp_mux: bool
    direction: str  # ours: sendrecv, sendonly, recvonly or inactive
    fmtp: str | None
    extmaps: tuple[Extmap, ...]
    srtp: SrtpKeys | None = None  # SDES keys when the stream is SRTP (RFC 4568)


def answer_audio(
    offer: SessionDescription,
    supported: list[CodecInfo],
    local_address: str,
    local_port: int,
    *,
    session_id: int,
    supported_extensions: tuple[str, ...] = (),
    ptime: int | None = None,
    session_version: int = 1,
    profiles: tuple[str, ...] = PLAIN_RTP_PROFILES,
    srtp: SrtpMode = "off",
    srtp_key: bytes | None = None,
) -> tuple[SessionDescription, AudioNegotiation]:
    """Answer an offer, accepting its first audio stream and rejecting every other m= line.

    `supported` is in our preference order, but the offerer's order picks the codec (RFC 3264
    section 6.1). `ptime` is the packet time we want when the offer states none (default 20);
    `profiles` are the m= transport protocols we accept for audio; with `srtp` "optional" or
    "mandatory" RTP/SAVP too, and an offered a=crypto is answered with our key `srtp_key`
    (a new one when None); "mandatory" refuses an offer without one (reason "no-srtp").
    Returns the answer and the negotiated stream. Raises OfferAnswerError when there is no
    usable audio stream, SdpError when a line the answer depends on is malformed, and
    ValueError for bad local arguments."""
    local_addrtype = _local_addrtype(local_address)
    _check_local(local_port, session_id, session_version, ptime)
    if srtp != "off":
        profiles = profiles + SECURE_PROFILES
    index = _pick_offered_audio(offer, profiles)
    offered = offer.media[index]
    crypto = _offered_crypto(offered, srtp)
    remote_address = _remote_address(offered.connection or offer.connection)
    payload_type, codec = _pick_offered_codec(offered, supported)
    event_pt, event_rate = _pick_telephone_event(offered, offered.rtpmaps, codec)
    packet_time = _ptime(offer, offered, ptime or DEFAULT_PTIME)
    direction = _MIRROR[offer.effective_direction(offered)]
    rtcp_mux = offered.rtcp_mux
    extmaps = _accepted_extmaps(offer, offered, supported_extensions)

    attributes = _mid(offered)
    attributes += _codec_attributes(payload_type, codec, codec.default_fmtp)
    formats = [str(payload_type)]
    if event_pt is not None:
        formats.append(str(event_pt))
        attributes.append(("rtpmap", RtpMap(event_pt, TELEPHONE_EVENT, event_rate).to_value()))
        attributes.append(("fmtp", f"{event_pt} {TELEPHONE_EVENT_FMTP}"))
    attributes.append(("ptime", str(packet_time)))
    attributes.append((direction, None))
    if rtcp_mux:
        attributes.append(("rtcp-mux", None))
    attributes += [("extmap", extmap.to_value()) for extmap in extmaps]
    keys = None
    if crypto is not None:
        keys = SrtpKeys(crypto.suite, srtp_key or new_key(), crypto.key)
        ours = CryptoAttribute(crypto.tag, crypto.suite, keys.local_key)
        attributes.append(("crypto", ours.to_value()))

    accepted = MediaDescription("audio", local_port, offered.proto, formats, attributes=attributes)
    # RFC 3264 section 6: as many m= lines as offered, in order; port 0 rejects the others.
    media = [
        accepted if position == index else _rejected(offered_media)
        for position, offered_media in enumerate(offer.media)
    ]
    answer = _description(local_address, local_addrtype, session_id, session_version, media)
    negotiation = AudioNegotiation(
        codec=codec,
        payload_type=payload_type,
        ptime=packet_time,
        telephone_event_pt=event_pt,
        remote_address=remote_address,
        remote_port=offered.port,
        remote_rtcp=None if rtcp_mux else _remote_rtcp(offered, remote_address),
        rtcp_mux=rtcp_mux,
        direction=direction,
        fmtp=codec.default_fmtp,
        extmaps=tuple(extmaps),
        srtp=keys,
    )
    return answer, negotiation


def make_audio_offer(
    codecs: list[CodecInfo],
    local_address: str,
    local_port: int,
    *,
    session_id: int,
    ptime: int = DEFAULT_PTIME,
    telephone_event: bool = True,
    direction: str = "sendrecv",
    first_dynamic_pt: int = 96,
    session_version: int = 1,
    rtcp_mux: bool = False,
    srtp: SrtpMode = "off",
    srtp_key: bytes | None = None,
) -> SessionDescription:
    """An offer for one RTP/AVP audio stream with `codecs` in our preference order.

    With `srtp` "mandatory" the stream is RTP/SAVP with our a=crypto suites (key `srtp_key`,
    a new one when None); with "optional" it stays RTP/AVP and carries the a=crypto lines
    too (best-effort SDES: a peer that knows them answers with its key, others ignore them).

    Codecs with a static payload type keep it; the others, and telephone-event/8000, get
    dynamic ones counting up from `first_dynamic_pt`. Raises ValueError for bad arguments
    (no codecs, a ptime outside ALLOWED_PTIMES, a direction that is not one of the four, a
    local address that is not a literal IP address, or running out of dynamic numbers)."""
    local_addrtype = _local_addrtype(local_address)
    _check_local(local_port, session_id, session_version, ptime)
    if not codecs:
        raise ValueError("an offer needs at least one codec")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    if not 96 <= first_dynamic_pt <= 127:
        raise ValueError(f"first dynamic payload type {first_dynamic_pt} is outside 96-127")

    next_dynamic = first_dynamic_pt
    formats: list[str] = []
    attributes: list[Attribute] = []
    seen: set[tuple[str, int, int]] = set()
    for codec in codecs:
        identity = (codec.name.lower(), codec.clock_rate, codec.channels)
        if identity in seen:
            continue
        seen.add(identity)
        if codec.static_payload_type is not None:
            payload_type = codec.static_payload_type
        else:
            payload_type, next_dynamic = _take_dynamic(next_dynamic)
        formats.append(str(payload_type))
        attributes += _codec_attributes(payload_type, codec, codec.default_fmtp)
    if telephone_event:
        event_pt, next_dynamic = _take_dynamic(next_dynamic)
        formats.append(str(event_pt))
        attributes.append(("rtpmap", RtpMap(event_pt, TELEPHONE_EVENT, 8000).to_value()))
        attributes.append(("fmtp", f"{event_pt} {TELEPHONE_EVENT_FMTP}"))
    attributes.append(("ptime", str(ptime)))
    attributes.append((direction, None))
    if rtcp_mux:
        attributes.append(("rtcp-mux", None))
    if srtp != "off":
        key = srtp_key or new_key()
        attributes += [("crypto", crypto.to_value()) for crypto in offered_attributes(key)]
    proto = "RTP/SAVP" if srtp == "mandatory" else "RTP/AVP"
    media = MediaDescription("audio", local_port, proto, formats, attributes=attributes)
    return _description(local_address, local_addrtype, session_id, session_version, [media])


def read_answer(
    offer: SessionDescription,
    answer: SessionDescription,
    supported: list[CodecInfo],
    *,
    profiles: tuple[str, ...] = PLAIN_RTP_PROFILES,
) -> AudioNegotiation:
    """What the offerer learns from the answer to its `offer`.

    The answer's first format must be one the offer listed, with the offer's meaning; the codec
    is the first format in the answer that we support. `fmtp` is the one our offer gave for it.
    Raises OfferAnswerError when the answer gives no usable audio stream and SdpError when a
    line it depends on is malformed. When our offer carried a=crypto, the answer's crypto
    attribute makes the stream SRTP; an RTP/SAVP offer answered without one is refused."""
    index = _pick_offered_audio(offer, profiles + SECURE_PROFILES)
    offered = offer.media[index]
    if len(answer.media) != len(offer.media):
        raise OfferAnswerError(
            "no-audio",
            f"answer has {len(answer.media)} m= lines but the offer had {len(offer.media)}",
        )
    answered = answer.media[index]
    if answered.kind != "audio":
        raise OfferAnswerError("no-audio", f"answer m= line {index + 1} is {answered.kind!r}")
    if answered.port == 0:
        raise OfferAnswerError("rejected", "the answer rejected the audio stream (port 0)")
    remote_address = _remote_address(answered.connection or answer.connection)
    payload_type, codec = _pick_answered_codec(offered, answered, supported)
    offered_maps = _meanings(offered)
    answered_events = {pt: offered_maps[pt] for pt in answered.payload_types if pt in offered_maps}
    event_pt, _ = _pick_telephone_event(answered, answered_events, codec)
    offered_ptime = _whole_ms(offered.attribute("ptime") or offer.attribute("ptime"))
    fallback = offered_ptime if offered_ptime in ALLOWED_PTIMES else DEFAULT_PTIME
    packet_time = _ptime(answer, answered, fallback)
    rtcp_mux = offered.rtcp_mux and answered.rtcp_mux
    offered_ids = {(extmap.id, extmap.uri) for extmap in offered.extmaps + offer.extmaps}
    extmaps = tuple(
        extmap
        for extmap in answered.extmaps + answer.extmaps
        if (extmap.id, extmap.uri) in offered_ids
    )
    return AudioNegotiation(
        codec=codec,
        payload_type=payload_type,
        ptime=packet_time,
        telephone_event_pt=event_pt,
        remote_address=remote_address,
        remote_port=answered.port,
        remote_rtcp=None if rtcp_mux else _remote_rtcp(answered, remote_address),
        rtcp_mux=rtcp_mux,
        direction=_intersect(
            offer.effective_direction(offered), _MIRROR[answer.effective_direction(answered)]
        ),
        fmtp=offered.fmtp.get(payload_type),
        extmaps=extmaps,
        srtp=_answered_crypto(offered, answered),
    )


def _offered_crypto(offered: MediaDescription, srtp: SrtpMode) -> CryptoAttribute | None:
    """The offer's crypto attribute we take, by our SRTP mode; raises "no-srtp" when the
    offer needs SRTP we cannot give, or we need SRTP the offer does not give."""
    if srtp == "off":
        return None
    crypto = pick_offered(offered.attribute_values("crypto"))
    if crypto is None and offered.proto in SECURE_PROFILES:
        raise OfferAnswerError("no-srtp", f"{offered.proto} offer has no crypto suite we speak")
    if crypto is None and srtp == "mandatory":
        raise OfferAnswerError("no-srtp", "SRTP is required and the offer has no usable a=crypto")
    return crypto


def _answered_crypto(offered: MediaDescription, answered: MediaDescription) -> SrtpKeys | None:
    """The SRTP keys agreed by our offer's a=crypto and the answer's; None for plain RTP.

    Raises OfferAnswerError when our offer was RTP/SAVP and the answer took none of its suites."""
    ours = {crypto.tag: crypto for crypto in crypto_attributes(offered.attribute_values("crypto"))}
    for theirs in crypto_attributes(answered.attribute_values("crypto")):
        mine = ours.get(theirs.tag)
        if mine is not None and theirs.suite == mine.suite and theirs.usable:
            return SrtpKeys(mine.suite, mine.key, theirs.key)
    if offered.proto in SECURE_PROFILES:
        raise OfferAnswerError("no-srtp", "the answer accepted none of our SRTP crypto suites")
    return None


def _pick_offered_audio(offer: SessionDescription, profiles: tuple[str, ...]) -> int:
    """Index of the first audio m= line with a port and a profile we speak."""
    audio = [(i, m) for i, m in enumerate(offer.media) if m.kind == "audio"]
    if not audio:
        raise OfferAnswerError("no-audio", "the offer has no audio m= line")
    live = [(i, m) for i, m in audio if m.port != 0]
    if not live:
        raise OfferAnswerError("rejected", "every audio m= line in the offer has port 0")
    for index, media in live:
        if media.proto in profiles:
            return index
    offered = ", ".join(sorted({m.proto for _, m in live}))
    raise OfferAnswerError(
        "no-audio", f"no audio m= line uses {' or '.join(profiles)} (offered: {offered})"
    )


def _meanings(media: MediaDescription) -> dict[int, RtpMap]:
    """What each payload type of an m= line means: its a=rtpmap, else RFC 3551's static one."""
    rtpmaps = media.rtpmaps
    meanings: dict[int, RtpMap] = {}
    for pt in media.payload_types:
        meaning = rtpmaps.get(pt) or STATIC_AUDIO_PAYLOAD_TYPES.get(pt)
        if meaning is not None:  # a dynamic type without a=rtpmap means nothing we can use
            meanings[pt] = meaning
    return meanings


def _match(meaning: RtpMap, supported: list[CodecInfo]) -> CodecInfo | None:
    if meaning.encoding.lower() == TELEPHONE_EVENT:
        return None
    for codec in supported:
        if (
            codec.name.lower() == meaning.encoding.lower()
            and codec.clock_rate == meaning.clock_rate
            and codec.channels == (meaning.channels or 1)
        ):
            return codec
    return None


def _pick_offered_codec(
    media: MediaDescription, supported: list[CodecInfo]
) -> tuple[int, CodecInfo]:
    """The offerer's most preferred format that we support, with its payload type."""
    for pt, meaning in _meanings(media).items():
        codec = _match(meaning, supported)
        if codec is not None:
            return pt, codec
    offered = " ".join(media.formats) or "nothing"
    raise OfferAnswerError("no-common-codec", f"no supported codec among offered {offered}")


def _pick_answered_codec(
    offered: MediaDescription, answered: MediaDescription, supported: list[CodecInfo]
) -> tuple[int, CodecInfo]:
    """The answer's first format we support; the answer must keep the offer's meanings."""
    answered_pts = answered.payload_types
    offered_maps = _meanings(offered)
    if not answered_pts or answered_pts[0] not in offered_maps:
        first = answered.formats[0] if answered.formats else "nothing"
        raise OfferAnswerError("no-common-codec", f"answer's first format {first} was not offered")
    answered_maps = answered.rtpmaps
    for pt in answered_pts:
        meaning = offered_maps.get(pt)
        if meaning is None:
            continue
        restated = answered_maps.get(pt)
        if restated is not None and not _same_format(restated, meaning):
            raise OfferAnswerError(
                "no-common-codec",
                f"answer maps payload type {pt} to {restated.to_value()!r}, "
                f"the offer to {meaning.to_value()!r}",
            )
        codec = _match(meaning, supported)
        if codec is not None:
            return pt, codec
    raise OfferAnswerError("no-common-codec", "the answer lists no codec we support")


def _same_format(a: RtpMap, b: RtpMap) -> bool:
    return (a.encoding.lower(), a.clock_rate, a.channels or 1) == (
        b.encoding.lower(),
        b.clock_rate,
        b.channels or 1,
    )


def _pick_telephone_event(
    media: MediaDescription, meanings: dict[int, RtpMap], codec: CodecInfo
) -> tuple[int | None, int]:
    """RFC 4733 events at the codec's clock rate if listed, else at 8000 Hz; (None, 0) if none."""
    events = [
        (pt, meanings[pt].clock_rate)
        for pt in media.payload_types
        if pt in meanings and meanings[pt].encoding.lower() == TELEPHONE_EVENT
    ]
    for wanted_rate in (codec.clock_rate, 8000):
        for pt, rate in events:
            if rate == wanted_rate:
                return pt, rate
    return None, 0


def _whole_ms(value: str | None) -> int | None:
    """A packet time attribute as whole milliseconds; None if absent or not a whole number."""
    if value is None:
        return None
    number = float(value)  # the SDP parser checked the grammar: digits with an optional fraction
    return int(number) if number.is_integer() else None


def _ptime(description: SessionDescription, media: MediaDescription, preferred: int) -> int:
    """The stated a=ptime, else `preferred` cut down to fit a=maxptime."""
    stated = media.attribute("ptime") or description.attribute("ptime")
    if stated is not None:
        ptime = _whole_ms(stated)
        if ptime not in ALLOWED_PTIMES:
            raise OfferAnswerError(
                "bad-ptime",
                f"a=ptime:{stated} is not one of {', '.join(map(str, ALLOWED_PTIMES))} ms",
            )
        return ptime
    stated_max = media.attribute("maxptime") or description.attribute("maxptime")
    if stated_max is None:
        return preferred
    limit = math.floor(float(stated_max))
    fitting = [p for p in ALLOWED_PTIMES if p <= limit]
    if not fitting:
        raise OfferAnswerError("bad-ptime", f"a=maxptime:{stated_max} is below every packet time")
    return preferred if preferred <= limit else max(fitting)


def _remote_address(connection: Connection | None) -> str:
    """The peer's literal unicast address from c=; 0.0.0.0 (RFC 2543 hold) is allowed."""
    if connection is None:
        raise OfferAnswerError("bad-address", "no c= line for the audio stream")
    return _literal_address(connection.nettype, connection.addrtype, connection.address)


def _literal_address(nettype: str, addrtype: str, address: str) -> str:
    shown = f"{nettype} {addrtype} {address}"
    if nettype != "IN" or addrtype not in ("IP4", "IP6"):
        raise OfferAnswerError("bad-address", f"{shown!r} is not an IN IP4 or IN IP6 address")
    parsed = _unicast(address)
    if parsed.version != (4 if addrtype == "IP4" else 6):
        raise OfferAnswerError("bad-address", f"{shown!r}: the address does not match its type")
    return str(parsed)


def _unicast(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A literal unicast IPv4 or IPv6 address; raises OfferAnswerError otherwise."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise OfferAnswerError("bad-address", f"{address!r} is not a literal IP address") from None
    if parsed.is_multicast:
        raise OfferAnswerError("bad-address", f"{address!r} is multicast; we only do unicast")
    return parsed


def _remote_rtcp(media: MediaDescription, rtp_address: str) -> tuple[str, int]:
    """Where the peer wants RTCP: RFC 3605 a=rtcp, else the RTP port plus one."""
    rtcp = media.rtcp
    if rtcp is not None:
        port, address = rtcp
        if address is None:
            return rtp_address, port
        return str(_unicast(address)), port
    if media.port >= 65535:
        raise OfferAnswerError("bad-address", f"RTP port {media.port} leaves no port for RTCP")
    return rtp_address, media.port + 1


def _accepted_extmaps(
    offer: SessionDescription, media: MediaDescription, supported: tuple[str, ...]
) -> list[Extmap]:
    """Offered header extensions we support, same ids, direction mirrored (RFC 8285 section 6)."""
    accepted: list[Extmap] = []
    uris: set[str] = set()
    ids: set[int] = set()
    for extmap in media.extmaps + offer.extmaps:
        if extmap.uri not in supported or extmap.uri in uris or extmap.id in ids:
            continue
        uris.add(extmap.uri)
        ids.add(extmap.id)
        direction = None if extmap.direction is None else _MIRROR[extmap.direction]
        accepted.append(Extmap(extmap.id, extmap.uri, direction))
    return accepted


def _intersect(ours: str, allowed: str) -> str:
    send = ours in ("sendrecv", "sendonly") and allowed in ("sendrecv", "sendonly")
    receive = ours in ("sendrecv", "recvonly") and allowed in ("sendrecv", "recvonly")
    return {
        (True, True): "sendrecv",
        (True, False): "sendonly",
        (False, True): "recvonly",
        (False, False): "inactive",
    }[(send, receive)]


def _rejected(offered: MediaDescription) -> MediaDescription:
    """An answer's port-0 m= line: still names one format, as RFC 3264 section 6 asks."""
    return MediaDescription(
        offered.kind, 0, offered.proto, offered.formats[:1], attributes=_mid(offered)
    )


def _mid(media: MediaDescription) -> list[Attribute]:
    """RFC 5888 section 9.1: an answer repeats each m= line's a=mid."""
    mid = media.attribute("mid")
    return [] if mid is None else [("mid", mid)]


def _codec_attributes(payload_type: int, codec: CodecInfo, fmtp: str | None) -> list[Attribute]:
    channels = None if codec.channels == 1 else codec.channels
    rtpmap = RtpMap(payload_type, codec.name, codec.clock_rate, channels)
    attributes: list[Attribute] = [("rtpmap", rtpmap.to_value())]
    if fmtp:
        attributes.append(("fmtp", f"{payload_type} {fmtp}"))
    return attributes


def _take_dynamic(next_dynamic: int) -> tuple[int, int]:
    if next_dynamic > 127:
        raise ValueError("ran out of dynamic payload types (96-127)")
    return next_dynamic, next_dynamic + 1


def _local_addrtype(local_address: str) -> str:
    try:
        return "IP4" if ipaddress.ip_address(local_address).version == 4 else "IP6"
    except ValueError:
        raise ValueError(f"local address {local_address!r} is not a literal IP address") from None


def _check_local(port: int, session_id: int, session_version: int, ptime: int | None) -> None:
    if not 1 <= port <= 65535:
        raise ValueError(f"local port {port} is outside 1-65535")
    for name, value in (("session id", session_id), ("session version", session_version)):
        if not 0 <= value < 2**64:
            raise ValueError(f"{name} {value} is outside 0 to 2**64-1")
    if ptime is not None and ptime not in ALLOWED_PTIMES:
        raise ValueError(f"ptime {ptime} is not one of {', '.join(map(str, ALLOWED_PTIMES))}")


def _description(
    local_address: str,
    addrtype: str,
    session_id: int,
    session_version: int,
    media: list[MediaDescription],
) -> SessionDescription:
    return SessionDescription(
        version=0,
        origin=Origin(SESSION_USERNAME, session_id, session_version, "IN", addrtype, local_address),
        session_name=SESSION_USERNAME,
        connection=Connection("IN", addrtype, local_address),
        media=media,
    )


# The same checks for the video stream's c= and a=rtcp lines (mediacore/videosdp.py).
literal_address = _literal_address
remote_rtcp_address = _remote_rtcp
