"""RTCP feedback for video (RFC 4585, RFC 5104, REMB): read from and written as RTCP packets.

`mediacore.rtcp` keeps transport-layer (RTPFB, 205) and payload-specific (PSFB, 206) packets as
`UnknownRtcp`; `read_feedback` turns those into the few messages a video leg acts on, and the
`*_packet` builders make ours. Bounded: a packet's body is at most what its length field says,
and a NACK is expanded to at most MAX_NACKED sequence numbers. No I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mediacore.rtcp import RtcpPacket, UnknownRtcp

RTPFB = 205
PSFB = 206
FMT_NACK = 1
FMT_TMMBR = 3
FMT_TMMBN = 4
FMT_PLI = 1
FMT_FIR = 4
FMT_REMB = 15
MAX_NACKED = 512
_TWO_SSRC = struct.Struct("!II")
_NACK_ITEM = struct.Struct("!HH")
_FIR_ITEM = struct.Struct("!IB3x")
_TMMB_ITEM = struct.Struct("!II")


@dataclass(frozen=True, slots=True)
class KeyframeRequest:
    """A PLI or FIR: the sender of `media_ssrc` should send a keyframe."""

    media_ssrc: int
    kind: str  # "pli" or "fir"


@dataclass(frozen=True, slots=True)
class Nack:
    """Generic NACK: the packets with these sequence numbers of `media_ssrc` were lost."""

    media_ssrc: int
    lost: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BitrateLimit:
    """TMMBR or REMB: the receiver asks us to send at most `bitrate` bit/s."""

    bitrate: int
    kind: str  # "tmmbr" or "remb"
    ssrc: int = 0  # TMMBR: the sender of the request (echoed in our TMMBN)


Feedback = KeyframeRequest | Nack | BitrateLimit


def read_feedback(packets: list[RtcpPacket]) -> list[Feedback]:
    """The feedback messages among parsed RTCP packets; malformed ones are skipped."""
    found: list[Feedback] = []
    for packet in packets:
        if isinstance(packet, UnknownRtcp) and packet.packet_type in (RTPFB, PSFB):
            found += _read_one(packet)
    return found


def _read_one(packet: UnknownRtcp) -> list[Feedback]:
    body = packet.body
    if len(body) < _TWO_SSRC.size:
        return []
    sender, media = _TWO_SSRC.unpack_from(body)
    fci = body[_TWO_SSRC.size :]
    fmt = packet.count
    if packet.packet_type == PSFB:
        if fmt == FMT_PLI:
            return [KeyframeRequest(media, "pli")]
        if fmt == FMT_FIR and len(fci) >= _FIR_ITEM.size:
            return [KeyframeRequest(_FIR_ITEM.unpack_from(fci)[0], "fir")]
        if fmt == FMT_REMB:
            remb = _remb(fci)
            return [] if remb is None else [BitrateLimit(remb, "remb", sender)]
        return []
    if fmt == FMT_NACK:
        lost: list[int] = []
        for offset in range(0, len(fci) - len(fci) % 4, 4):
            pid, blp = _NACK_ITEM.unpack_from(fci, offset)
            lost.append(pid)
            lost += [(pid + bit + 1) & 0xFFFF for bit in range(16) if blp >> bit & 1]
            if len(lost) >= MAX_NACKED:
                break
        return [Nack(media, tuple(lost[:MAX_NACKED]))] if lost else []
    if fmt == FMT_TMMBR and len(fci) >= _TMMB_ITEM.size:
        _, value = _TMMB_ITEM.unpack_from(fci)
        exponent, mantissa = value >> 26, (value >> 9) & 0x1FFFF
        return [BitrateLimit(mantissa << exponent, "tmmbr", sender)]
    return []


def _remb(fci: bytes) -> int | None:
    """draft-alvestrand-rmcat-remb: "REMB", SSRC count, 6-bit exponent, 18-bit mantissa."""
    if len(fci) < 8 or fci[:4] != b"REMB":
        return None
    exponent = fci[5] >> 2
    mantissa = ((fci[5] & 0x03) << 16) | (fci[6] << 8) | fci[7]
    return int(mantissa << exponent)


def pli_packet(sender_ssrc: int, media_ssrc: int) -> UnknownRtcp:
    """RFC 4585 section 6.3.1 Picture Loss Indication."""
    return UnknownRtcp(PSFB, FMT_PLI, _TWO_SSRC.pack(sender_ssrc, media_ssrc))


def fir_packet(sender_ssrc: int, media_ssrc: int, sequence: int) -> UnknownRtcp:
    """RFC 5104 section 4.3.1 Full Intra Request (`sequence` counts our requests, mod 256)."""
    body = _TWO_SSRC.pack(sender_ssrc, 0) + _FIR_ITEM.pack(media_ssrc, sequence & 0xFF)
    return UnknownRtcp(PSFB, FMT_FIR, body)


def nack_packet(sender_ssrc: int, media_ssrc: int, lost: list[int]) -> UnknownRtcp:
    """RFC 4585 section 6.2.1 Generic NACK for `lost` sequence numbers (PID + bitmask)."""
    items = b""
    remaining = sorted(set(lost))
    while remaining:
        pid = remaining.pop(0)
        mask = 0
        for seq in list(remaining):
            distance = (seq - pid) & 0xFFFF
            if 1 <= distance <= 16:
                mask |= 1 << (distance - 1)
                remaining.remove(seq)
        items += _NACK_ITEM.pack(pid, mask)
    return UnknownRtcp(RTPFB, FMT_NACK, _TWO_SSRC.pack(sender_ssrc, media_ssrc) + items)


def tmmbn_packet(sender_ssrc: int, limit: BitrateLimit) -> UnknownRtcp:
    """RFC 5104 section 4.2.2 TMMBN: we took the request `limit` (a TMMBR) as our bound."""
    exponent, mantissa = 0, limit.bitrate
    while mantissa > 0x1FFFF:
        mantissa >>= 1
        exponent += 1
    item = _TMMB_ITEM.pack(limit.ssrc, (exponent << 26) | (mantissa << 9))
    return UnknownRtcp(RTPFB, FMT_TMMBN, _TWO_SSRC.pack(sender_ssrc, 0) + item)
