"""GB/T 28181 SDP for live play and playback: the platform's INVITE offer and the device's answer.

GB/T 28181-2016 annex F adds two lines to RFC 4566 inside the media section: `y=` (the
decimal SSRC the device must send with) and `f=` (media parameters). mediacore/sdp.py keeps
them as media `extra_lines`, so this module builds and reads them on top of it. No I/O here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mediacore.sdp import (
    Connection,
    MediaDescription,
    Origin,
    SdpError,
    SessionDescription,
)

_DIGITS = re.compile(r"[0-9]+")
_SSRC = re.compile(r"[0-9]{10}")
SETUP_MODES = ("passive", "active")


class GbSdpError(ValueError):
    """An answer this platform cannot play, or arguments that make no GB/T 28181 offer."""


def make_ssrc(domain_id: str, sequence: int, playback: bool = False) -> str:
    """The 10-digit y= SSRC: 0 live / 1 playback, digits 4-8 of the domain id, then 4 digits
    (`sequence` modulo 10000: the platform draws them at random, never counts them).

    `domain_id` is the 10-digit SIP domain or any 20-digit id in it. Raises GbSdpError if
    the domain id is not at least 8 ASCII digits."""
    if not _DIGITS.fullmatch(domain_id) or len(domain_id) < 8:
        raise GbSdpError(f"domain id {domain_id[:24]!r} is not a GB/T 28181 id")
    return f"{1 if playback else 0}{domain_id[3:8]}{sequence % 10000:04d}"


def ssrc_value(y_line: str) -> int:
    """The RTP SSRC number a y= value stands for (the decimal string read as an integer)."""
    if not _SSRC.fullmatch(y_line) or int(y_line) > 0xFFFFFFFF:
        raise GbSdpError(f"y={y_line[:24]!r} is not a 10-digit SSRC")
    return int(y_line)


def build_offer(
    *,
    platform_id: str,
    channel_id: str,
    address: str,
    port: int,
    ssrc: str,
    transport: str = "udp",
    setup: str = "passive",
    playback: tuple[int, int] | None = None,
    download_speed: int | None = None,
) -> SessionDescription:
    """The platform's INVITE offer to receive a channel's stream at `address`:`port`.

    `transport` is "udp" (RTP/AVP) or "tcp" (TCP/RTP/AVP with a=setup and a=connection:new;
    "passive" means the platform listens). `playback` (start, end in Unix seconds) makes an
    s=Playback offer with its t= line; with `download_speed` too it is s=Download at that many
    times real time (a=downloadspeed). Raises GbSdpError for bad arguments."""
    if transport not in ("udp", "tcp"):
        raise GbSdpError(f"transport must be udp or tcp, not {transport!r}")
    if setup not in SETUP_MODES:
        raise GbSdpError(f"setup must be passive or active, not {setup!r}")
    if not 0 <= port <= 65535:
        raise GbSdpError(f"port {port} out of range")
    ssrc_value(ssrc)
    attributes: list[tuple[str, str | None]] = [
        ("recvonly", None),
        ("rtpmap", "96 PS/90000"),
        ("rtpmap", "97 MPEG4/90000"),
        ("rtpmap", "98 H264/90000"),
    ]
    if transport == "tcp":
        attributes += [("setup", setup), ("connection", "new")]
    if playback and download_speed is not None:
        attributes.append(("downloadspeed", str(download_speed)))
    media = MediaDescription(
        kind="video",
        port=port,
        proto="TCP/RTP/AVP" if transport == "tcp" else "RTP/AVP",
        formats=["96", "97", "98"],
        attributes=attributes,
        extra_lines=[("y", ssrc)],
    )
    return SessionDescription(
        version=0,
        origin=Origin(platform_id, 0, 0, "IN", "IP4", address),
        session_name=_session_name(playback, download_speed),
        connection=Connection("IN", "IP4", address),
        timing=f"{playback[0]} {playback[1]}" if playback else "0 0",
        media=[media],
        extra_lines=[("u", f"{channel_id}:0")],
    )


def _session_name(playback: tuple[int, int] | None, download_speed: int | None) -> str:
    if not playback:
        return "Play"
    return "Playback" if download_speed is None else "Download"


@dataclass(frozen=True, slots=True)
class GbAnswer:
    """What a device's answer says about the stream it will send."""

    address: str
    port: int
    transport: str  # "udp" | "tcp"
    setup: str | None  # the device's a=setup for TCP: "active" (it connects) or "passive"
    payload_type: int
    encoding: str  # e.g. "PS", "H264"
    ssrc: int | None  # from y=, None when the device left it out
    f_line: str | None


def parse_answer(text: str | bytes) -> GbAnswer:
    """Read a device's 200 OK SDP; returns its first video section with a port.

    Raises GbSdpError (wrapping SdpError) for malformed SDP, no video section, no address,
    or a y= line that is not a 10-digit SSRC."""
    try:
        sdp = SessionDescription.parse(text)
    except SdpError as exc:
        raise GbSdpError(f"malformed SDP: {exc}") from None
    media = next((m for m in sdp.media if m.kind == "video" and m.port != 0), None)
    if media is None:
        raise GbSdpError("answer has no video section with a port")
    connection = media.connection or sdp.connection
    if connection is None:
        raise GbSdpError("answer has no c= line")
    proto = media.proto.upper()
    if proto not in ("RTP/AVP", "TCP/RTP/AVP", "RTP/AVP/TCP"):
        raise GbSdpError(f"unsupported transport {media.proto!r}")
    if not media.payload_types:
        raise GbSdpError("answer names no payload type")
    payload_type = media.payload_types[0]
    try:
        rtpmap = media.rtpmaps.get(payload_type)
    except SdpError as exc:
        raise GbSdpError(f"malformed SDP: {exc}") from None
    encoding = rtpmap.encoding if rtpmap else ("PS" if payload_type == 96 else "")
    lines = dict(media.extra_lines) | {k: v for k, v in sdp.extra_lines if k in ("y", "f")}
    y_line = lines.get("y")
    return GbAnswer(
        address=connection.address.split("/")[0],
        port=media.port,
        transport="udp" if proto == "RTP/AVP" else "tcp",
        setup=media.attribute("setup"),
        payload_type=payload_type,
        encoding=encoding,
        ssrc=ssrc_value(y_line.strip()) if y_line else None,
        f_line=lines.get("f"),
    )
