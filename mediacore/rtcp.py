"""RFC 3550 RTCP: sender/receiver reports, SDES, BYE, compound packets, NTP and RTT helpers.

Packet types this module does not model (APP, RTPFB/PSFB feedback, XR, ...) come back as
UnknownRtcp with their body kept, so they survive a parse/serialize round trip.
Padding (P bit) is validated and stripped on parse and never written back.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = [
    "BYE",
    "RR",
    "SDES",
    "SDES_CNAME",
    "SDES_END",
    "SR",
    "Bye",
    "ReceiverReport",
    "ReportBlock",
    "RtcpError",
    "RtcpPacket",
    "SenderReport",
    "SourceDescription",
    "UnknownRtcp",
    "middle_32",
    "ntp_from_unix",
    "parse_compound",
    "round_trip_time",
    "serialize_compound",
]

SR = 200
RR = 201
SDES = 202
BYE = 203

SDES_END = 0
SDES_CNAME = 1

# Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
NTP_UNIX_OFFSET = 2_208_988_800

_HEADER = struct.Struct("!BBH")
_SENDER_INFO = struct.Struct("!IQIII")  # SSRC, NTP, RTP timestamp, packet count, octet count
_SSRC = struct.Struct("!I")
_REPORT_BLOCK = struct.Struct("!IIIIII")
_REPORT_BLOCK_SIZE = _REPORT_BLOCK.size
_MAX_COUNT = 31  # the 5-bit count field in the RTCP header


class RtcpError(ValueError):
    """A datagram that is not well-formed RTCP, or packet fields that cannot be encoded."""


@dataclass(slots=True)
class ReportBlock:
    """One reception report (RFC 3550 section 6.4.1); `cumulative_lost` is signed 24-bit."""

    ssrc: int
    fraction_lost: int
    cumulative_lost: int
    highest_sequence: int
    jitter: int
    lsr: int
    dlsr: int

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> ReportBlock:
        """Parse the 24-byte block at `offset`; raises RtcpError if fewer bytes remain."""
        if len(data) - offset < _REPORT_BLOCK_SIZE:
            raise RtcpError("report block runs past the packet end")
        ssrc, loss, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, offset)
        cumulative = loss & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 0x1000000
        return cls(ssrc, loss >> 24, cumulative, highest, jitter, lsr, dlsr)

    def serialize(self) -> bytes:
        """Encode the 24-byte block; raises RtcpError if a field is out of range."""
        if not 0 <= self.fraction_lost <= 0xFF:
            raise RtcpError(f"fraction lost {self.fraction_lost} outside 0..255")
        if not -0x800000 <= self.cumulative_lost <= 0x7FFFFF:
            raise RtcpError(f"cumulative lost {self.cumulative_lost} outside signed 24 bits")
        loss = (self.fraction_lost << 24) | (self.cumulative_lost & 0xFFFFFF)
        try:
            return _REPORT_BLOCK.pack(
                self.ssrc, loss, self.highest_sequence, self.jitter, self.lsr, self.dlsr
            )
        except struct.error as exc:
            raise RtcpError(f"report block field out of range: {exc}") from None

    def __bytes__(self) -> bytes:
        return self.serialize()


@dataclass(slots=True)
class SenderReport:
    """SR (packet type 200). `profile_extension` keeps any bytes after the report blocks."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)
    profile_extension: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> SenderReport:
        """Parse exactly one SR packet; raises RtcpError if it is anything else or malformed."""
        return _parse_single(data, cls)

    def serialize(self) -> bytes:
        """Encode the packet with its header; raises RtcpError if a field is out of range."""
        try:
            info = _SENDER_INFO.pack(
                self.ssrc,
                self.ntp_timestamp,
                self.rtp_timestamp,
                self.packet_count,
                self.octet_count,
            )
        except struct.error as exc:
            raise RtcpError(f"sender report field out of range: {exc}") from None
        body = info + _report_blocks(self.reports) + self.profile_extension
        return _with_header(SR, len(self.reports), body)

    def __bytes__(self) -> bytes:
        return self.serialize()


@dataclass(slots=True)
class ReceiverReport:
    """RR (packet type 201). `profile_extension` keeps any bytes after the report blocks."""

    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)
    profile_extension: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> ReceiverReport:
        """Parse exactly one RR packet; raises RtcpError if it is anything else or malformed."""
        return _parse_single(data, cls)

    def serialize(self) -> bytes:
        """Encode the packet with its header; raises RtcpError if a field is out of range."""
        body = _pack_ssrc(self.ssrc) + _report_blocks(self.reports) + self.profile_extension
        return _with_header(RR, len(self.reports), body)

    def __bytes__(self) -> bytes:
        return self.serialize()


@dataclass(slots=True)
class SourceDescription:
    """SDES (packet type 202): per source, a list of (item type, value) such as (1, CNAME)."""

    chunks: list[tuple[int, list[tuple[int, bytes]]]] = field(default_factory=list)

    @classmethod
    def parse(cls, data: bytes) -> SourceDescription:
        """Parse exactly one SDES packet; raises RtcpError if it is anything else or malformed."""
        return _parse_single(data, cls)

    def serialize(self) -> bytes:
        """Encode the packet; each chunk's item list gets its null terminator and word padding.

        Raises RtcpError for an item type 0, a value over 255 bytes or more than 31 chunks."""
        parts: list[bytes] = []
        for ssrc, items in self.chunks:
            chunk = [_pack_ssrc(ssrc)]
            size = 4
            for item_type, value in items:
                if not 1 <= item_type <= 255:
                    raise RtcpError(f"SDES item type {item_type} outside 1..255")
                if len(value) > 255:
                    raise RtcpError(f"SDES item of {len(value)} bytes, at most 255 fit")
                chunk.append(bytes((item_type, len(value))))
                chunk.append(value)
                size += 2 + len(value)
            # At least one null octet ends the list, then nulls up to the next word boundary.
            chunk.append(bytes(4 - size % 4))
            parts.extend(chunk)
        return _with_header(SDES, len(self.chunks), b"".join(parts))

    def __bytes__(self) -> bytes:
        return self.serialize()

    def cname(self, ssrc: int) -> bytes | None:
        """The CNAME item of source `ssrc`, or None if it has none."""
        for chunk_ssrc, items in self.chunks:
            if chunk_ssrc == ssrc:
                for item_type, value in items:
                    if item_type == SDES_CNAME:
                        return value
        return None


@dataclass(slots=True)
class Bye:
    """BYE (packet type 203); `reason` is None when the packet carries no reason field."""

    sources: list[int] = field(default_factory=list)
    reason: bytes | None = None

    @classmethod
    def parse(cls, data: bytes) -> Bye:
        """Parse exactly one BYE packet; raises RtcpError if it is anything else or malformed."""
        return _parse_single(data, cls)

    def serialize(self) -> bytes:
        """Encode the packet; raises RtcpError for a reason over 255 bytes or >31 sources."""
        parts = [_pack_ssrc(ssrc) for ssrc in self.sources]
        if self.reason is not None:
            if len(self.reason) > 255:
                raise RtcpError(f"BYE reason of {len(self.reason)} bytes, at most 255 fit")
            size = 1 + len(self.reason)
            parts.append(bytes((len(self.reason),)) + self.reason + bytes(-size % 4))
        return _with_header(BYE, len(self.sources), b"".join(parts))

    def __bytes__(self) -> bytes:
        return self.serialize()


@dataclass(slots=True)
class UnknownRtcp:
    """Any other packet type (APP, feedback, XR, ...): header fields and the raw body."""

    packet_type: int
    count: int
    body: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> UnknownRtcp:
        """Parse exactly one packet of a type this module does not model."""
        return _parse_single(data, cls)

    def serialize(self) -> bytes:
        """Encode the packet; raises RtcpError if the body is not whole 32-bit words."""
        if not 0 <= self.packet_type <= 255:
            raise RtcpError(f"packet type {self.packet_type} outside 0..255")
        return _with_header(self.packet_type, self.count, self.body)

    def __bytes__(self) -> bytes:
        return self.serialize()


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | UnknownRtcp

_P = TypeVar("_P", SenderReport, ReceiverReport, SourceDescription, Bye, UnknownRtcp)


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Parse every packet of a compound RTCP datagram, in order.

    Raises RtcpError if the datagram is empty, a packet is not version 2, any length field
    runs past the datagram, padding is inconsistent, or a known packet's body is malformed."""
    length = len(data)
    if length == 0:
        raise RtcpError("empty RTCP datagram")
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < length:
        if length - offset < 4:
            raise RtcpError(f"{length - offset} stray bytes after the last RTCP packet")
        first, packet_type, words = _HEADER.unpack_from(data, offset)
        if first >> 6 != 2:
            raise RtcpError(f"RTCP version must be 2, got {first >> 6}")
        # The length field counts 32-bit words minus one, i.e. the body after the header.
        end = offset + 4 * (words + 1)
        if end > length:
            raise RtcpError(
                f"RTCP packet type {packet_type} of {4 * (words + 1)} bytes runs past the datagram"
            )
        body_end = end
        if first & 0x20:
            padding = data[end - 1]
            if padding == 0 or padding > end - offset - 4:
                raise RtcpError(f"RTCP padding count {padding} is invalid")
            body_end = end - padding
        packets.append(_parse_body(packet_type, first & 0x1F, data, offset + 4, body_end))
        offset = end
    return packets


def serialize_compound(packets: list[RtcpPacket]) -> bytes:
    """Concatenate the encoded packets; raises RtcpError if one cannot be encoded."""
    return b"".join([packet.serialize() for packet in packets])


def ntp_from_unix(seconds: float) -> int:
    """Convert a Unix time in seconds to a 64-bit NTP timestamp (32.32 fixed point)."""
    whole = math.floor(seconds)
    fraction = int((seconds - whole) * 4294967296.0)
    return (((whole + NTP_UNIX_OFFSET) & 0xFFFFFFFF) << 32) | fraction


def middle_32(ntp: int) -> int:
    """The middle 32 bits of a 64-bit NTP timestamp: what a report block's LSR field carries."""
    return (ntp >> 16) & 0xFFFFFFFF


def round_trip_time(arrival_ntp_middle32: int, lsr: int, dlsr: int) -> float:
    """Round-trip time in seconds from a report block (RFC 3550 section 6.4.1).

    Takes the report's arrival time as middle-32 NTP, and its LSR and DLSR fields (1/65536 s).
    Wrap-around is handled; a slightly negative result from clock granularity becomes 0.0.
    Raises RtcpError if `lsr` is 0, which means the peer has not received a sender report yet."""
    if lsr == 0:
        raise RtcpError("LSR is 0: no sender report received by the peer, RTT unknown")
    delta = (arrival_ntp_middle32 - lsr - dlsr) & 0xFFFFFFFF
    if delta >= 0x80000000:
        return 0.0
    return delta / 65536.0


def _pack_ssrc(ssrc: int) -> bytes:
    try:
        return _SSRC.pack(ssrc)
    except struct.error:
        raise RtcpError(f"SSRC {ssrc} outside 32 bits") from None


def _report_blocks(reports: list[ReportBlock]) -> bytes:
    return b"".join([report.serialize() for report in reports])


def _with_header(packet_type: int, count: int, body: bytes) -> bytes:
    if not 0 <= count <= _MAX_COUNT:
        raise RtcpError(f"count {count} outside 0..31 for RTCP packet type {packet_type}")
    words, remainder = divmod(len(body), 4)
    if remainder:
        raise RtcpError(f"RTCP packet type {packet_type} body is not whole 32-bit words")
    if words > 0xFFFF:
        raise RtcpError(f"RTCP packet type {packet_type} body too long for the length field")
    return _HEADER.pack(0x80 | count, packet_type, words) + body


def _parse_single(data: bytes, cls: type[_P]) -> _P:
    packets = parse_compound(data)
    packet = packets[0]
    if len(packets) != 1 or not isinstance(packet, cls):
        raise RtcpError(f"expected exactly one {cls.__name__} packet")
    return packet


def _parse_body(packet_type: int, count: int, data: bytes, start: int, end: int) -> RtcpPacket:
    if packet_type == SR:
        return _parse_sender_report(count, data, start, end)
    if packet_type == RR:
        return _parse_receiver_report(count, data, start, end)
    if packet_type == SDES:
        return _parse_sdes(count, data, start, end)
    if packet_type == BYE:
        return _parse_bye(count, data, start, end)
    return UnknownRtcp(packet_type, count, bytes(data[start:end]))


def _parse_reports(count: int, data: bytes, start: int, end: int) -> list[ReportBlock]:
    if start + count * _REPORT_BLOCK_SIZE > end:
        raise RtcpError(f"{count} report blocks run past the packet end")
    return [
        ReportBlock.parse(data, offset)
        for offset in range(start, start + count * _REPORT_BLOCK_SIZE, _REPORT_BLOCK_SIZE)
    ]


def _parse_sender_report(count: int, data: bytes, start: int, end: int) -> SenderReport:
    if end - start < _SENDER_INFO.size:
        raise RtcpError("sender report shorter than its sender info")
    ssrc, ntp, rtp_timestamp, packets, octets = _SENDER_INFO.unpack_from(data, start)
    start += _SENDER_INFO.size
    reports = _parse_reports(count, data, start, end)
    extension = bytes(data[start + count * _REPORT_BLOCK_SIZE : end])
    return SenderReport(ssrc, ntp, rtp_timestamp, packets, octets, reports, extension)


def _parse_receiver_report(count: int, data: bytes, start: int, end: int) -> ReceiverReport:
    if end - start < 4:
        raise RtcpError("receiver report has no SSRC")
    (ssrc,) = _SSRC.unpack_from(data, start)
    start += 4
    reports = _parse_reports(count, data, start, end)
    extension = bytes(data[start + count * _REPORT_BLOCK_SIZE : end])
    return ReceiverReport(ssrc, reports, extension)


def _parse_sdes(count: int, data: bytes, start: int, end: int) -> SourceDescription:
    chunks: list[tuple[int, list[tuple[int, bytes]]]] = []
    offset = start
    for _ in range(count):
        if offset + 4 > end:
            raise RtcpError("SDES chunk SSRC runs past the packet end")
        (ssrc,) = _SSRC.unpack_from(data, offset)
        chunk_start = offset
        offset += 4
        items: list[tuple[int, bytes]] = []
        while True:
            if offset >= end:
                raise RtcpError("SDES item list has no terminating null octet")
            item_type = data[offset]
            if item_type == SDES_END:
                # Skip the terminator and the nulls up to the next word boundary.
                offset += 4 - (offset - chunk_start) % 4
                if offset > end:
                    raise RtcpError("SDES chunk padding runs past the packet end")
                break
            if offset + 2 > end:
                raise RtcpError("SDES item length runs past the packet end")
            value_start = offset + 2
            offset = value_start + data[offset + 1]
            if offset > end:
                raise RtcpError(f"SDES item type {item_type} runs past the packet end")
            items.append((item_type, bytes(data[value_start:offset])))
        chunks.append((ssrc, items))
    if offset != end:
        raise RtcpError(f"{end - offset} bytes after the last SDES chunk")
    return SourceDescription(chunks)


def _parse_bye(count: int, data: bytes, start: int, end: int) -> Bye:
    sources_end = start + 4 * count
    if sources_end > end:
        raise RtcpError(f"BYE with {count} sources runs past the packet end")
    sources = list(struct.unpack_from(f"!{count}I", data, start))
    reason: bytes | None = None
    if sources_end < end:
        reason_end = sources_end + 1 + data[sources_end]
        if reason_end > end:
            raise RtcpError("BYE reason runs past the packet end")
        reason = bytes(data[sources_end + 1 : reason_end])
        if end - reason_end >= 4:
            raise RtcpError(f"{end - reason_end} bytes after the BYE reason")
    return Bye(sources, reason)
