"""A server re-offer that keeps what the first offer/answer round fixed.

aiortc's `createOffer()` starts every media section over from its own defaults: Opus at payload
type 96, header extension ids 1 and 2. After answering a browser's offer (Chrome: Opus 111,
`ssrc-audio-level` at id 1, `sdes:mid` at id 4), a re-offer that adds a video then renumbers the
audio section, and Chrome refuses the whole offer ("RTP extension ID reassignment not supported").
In one BUNDLE group an extension id and a payload type must also mean the same thing in every
section (Chrome: "codec collision for payload_type").

`keep_negotiated` rewrites aiortc's offer: sections negotiated before get back their codecs and
extension ids; new sections take the ids and payload types the group already uses for the same
thing, and free numbers for the rest."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

from aiortc import sdp as aiortc_sdp
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters

DYNAMIC_TYPES = range(96, 128)
EXTENSION_IDS = range(1, 15)  # one-byte header extensions (RFC 8285)

CodecKey = tuple[str, int, int | None, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class Negotiated:
    """One media section's codecs and header extensions as the last round fixed them."""

    codecs: list[RTCRtpCodecParameters]
    extensions: list[RTCRtpHeaderExtensionParameters]


def _key(codec: RTCRtpCodecParameters) -> CodecKey:
    parameters = tuple(sorted((str(k), str(v)) for k, v in codec.parameters.items()))
    return (codec.mimeType.lower(), codec.clockRate, codec.channels, parameters)


class _Numbers:
    """The group's payload types and extension ids, and the next free ones."""

    def __init__(self) -> None:
        self.types: dict[int, CodecKey] = {}
        self.ids: dict[str, int] = {}

    def learn(self, media: aiortc_sdp.MediaDescription) -> None:
        for codec in media.rtp.codecs:
            if codec.payloadType is not None:
                self.types.setdefault(codec.payloadType, _key(codec))
        for extension in media.rtp.headerExtensions:
            self.ids.setdefault(extension.uri, extension.id)

    def extension_id(self, uri: str) -> int:
        if uri not in self.ids:
            used = set(self.ids.values())
            self.ids[uri] = next(i for i in EXTENSION_IDS if i not in used)
        return self.ids[uri]

    def payload_type(self, codec: RTCRtpCodecParameters) -> int:
        key = _key(codec)
        known = next((pt for pt, k in self.types.items() if k == key), None)
        if known is not None:
            return known
        wanted = codec.payloadType
        if wanted is None or wanted in self.types:
            wanted = next(pt for pt in DYNAMIC_TYPES if pt not in self.types)
        self.types[wanted] = key
        return wanted


def keep_negotiated(
    description: aiortc_sdp.SessionDescription, negotiated: Mapping[str, Negotiated]
) -> None:
    """Rewrite an offer (aiortc's parsed SDP) in place: the media sections whose mid is in
    `negotiated` get those codecs and extensions back; the others are renumbered to agree
    with them. Raises StopIteration only when the group runs out of payload types or ids."""
    numbers = _Numbers()
    fresh: list[aiortc_sdp.MediaDescription] = []
    for media in description.media:
        if media.kind not in ("audio", "video"):
            continue
        kept = negotiated.get(media.rtp.muxId)
        if kept is None:
            fresh.append(media)
            continue
        media.rtp.codecs = copy.deepcopy(kept.codecs)
        media.rtp.headerExtensions = copy.deepcopy(kept.extensions)
        media.fmt = [c.payloadType for c in media.rtp.codecs]
        numbers.learn(media)
    for media in fresh:
        for extension in media.rtp.headerExtensions:
            extension.id = numbers.extension_id(extension.uri)
        renumbered: dict[int | str | None, int] = {}
        for codec in sorted(media.rtp.codecs, key=is_rtx):  # bases first: RTX names them
            apt = codec.parameters.get("apt")
            if is_rtx(codec) and apt in renumbered:
                codec.parameters["apt"] = renumbered[apt]
            old = codec.payloadType
            codec.payloadType = renumbered[old] = numbers.payload_type(codec)
        media.fmt = [c.payloadType for c in media.rtp.codecs]
