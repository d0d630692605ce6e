"""RFC 3550 RTP packets: parse and build the fixed header, CSRCs, header extension and padding.

No I/O here: callers hand in datagrams and send what `serialize()` / `build_rtp()` return.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "MAX_DATAGRAM",
    "RtpError",
    "RtpPacket",
    "build_rtp",
    "is_rtcp",
    "seq_distance",
    "seq_newer",
]

# The largest RTP/RTCP datagram a media leg accepts (an Ethernet MTU). Anything bigger is
# dropped before parsing and counted by the caller; the parsers themselves accept any length.
MAX_DATAGRAM = 1500

RTP_VERSION = 2
HEADER_SIZE = 12

_FIXED_HEADER = struct.Struct("!BBHII")
_EXTENSION_HEADER = struct.Struct("!HH")


class RtpError(ValueError):
    """A datagram that is not a well-formed RTP packet, or packet fields that cannot be encoded."""


@dataclass(slots=True)
class RtpPacket:
    """One RTP packet (RFC 3550 section 5.1).

    `extension_profile` is None when the X bit is clear; `extension_data` is the raw extension
    body (a multiple of 4 bytes, see mediacore.rtpext to read its elements). `padding_size` is
    the total number of padding bytes including the final count byte (0 means no P bit)."""

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension_profile: int | None = None
    extension_data: bytes = b""
    padding_size: int = 0

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one RTP packet from `data`.

        Raises RtpError for a wrong version, a CSRC list, extension or padding count that runs
        past the end of the datagram, or a zero padding count."""
        length = len(data)
        if length < HEADER_SIZE:
            raise RtpError(f"RTP packet too short: {length} bytes, need at least {HEADER_SIZE}")
        first, second, sequence_number, timestamp, ssrc = _FIXED_HEADER.unpack_from(data)
        if first >> 6 != RTP_VERSION:
            raise RtpError(f"RTP version must be 2, got {first >> 6}")
        offset = HEADER_SIZE
        csrc_count = first & 0x0F
        csrc: tuple[int, ...] = ()
        if csrc_count:
            end = offset + 4 * csrc_count
            if end > length:
                raise RtpError(f"CSRC list of {csrc_count} entries runs past the packet end")
            csrc = struct.unpack_from(f"!{csrc_count}I", data, offset)
            offset = end

        extension_profile: int | None = None
        extension_data = b""
        if first & 0x10:
            if offset + 4 > length:
                raise RtpError("header extension header runs past the packet end")
            extension_profile, words = _EXTENSION_HEADER.unpack_from(data, offset)
            offset += 4
            end = offset + 4 * words
            if end > length:
                raise RtpError(f"header extension of {words} words runs past the packet end")
            extension_data = bytes(data[offset:end])
            offset = end

        payload_end = length
        padding_size = 0
        if first & 0x20:
            if offset == length:
                raise RtpError("padding bit set but there is no padding count byte")
            padding_size = data[-1]
            # The count includes itself, so 0 is meaningless (RFC 3550 section 5.1).
            if padding_size == 0:
                raise RtpError("padding count is zero")
            if padding_size > length - offset:
                raise RtpError(
                    f"padding count {padding_size} exceeds the {length - offset} bytes after the"
                    " header"
                )
            payload_end = length - padding_size

        return cls(
            payload_type=second & 0x7F,
            sequence_number=sequence_number,
            timestamp=timestamp,
            ssrc=ssrc,
            payload=bytes(data[offset:payload_end]),
            marker=bool(second & 0x80),
            csrc=csrc,
            extension_profile=extension_profile,
            extension_data=extension_data,
            padding_size=padding_size,
        )

    def serialize(self) -> bytes:
        """Encode the packet; padding is written as zeros followed by the count byte.

        Raises RtpError if a field is out of range (payload type over 127, more than 15 CSRCs,
        extension data not a multiple of 4 bytes, padding over 255, ...)."""
        if not 0 <= self.payload_type <= 0x7F:
            raise RtpError(f"payload type {self.payload_type} outside 0..127")
        csrc_count = len(self.csrc)
        if csrc_count > 15:
            raise RtpError(f"{csrc_count} CSRCs, at most 15 fit the header")
        if not 0 <= self.padding_size <= 0xFF:
            raise RtpError(f"padding size {self.padding_size} outside 0..255")
        first = 0x80 | csrc_count
        if self.padding_size:
            first |= 0x20
        if self.extension_profile is not None:
            first |= 0x10
        second = self.payload_type | 0x80 if self.marker else self.payload_type
        try:
            parts = [
                _FIXED_HEADER.pack(first, second, self.sequence_number, self.timestamp, self.ssrc)
            ]
            if csrc_count:
                parts.append(struct.pack(f"!{csrc_count}I", *self.csrc))
            if self.extension_profile is not None:
                words, remainder = divmod(len(self.extension_data), 4)
                if remainder:
                    raise RtpError("extension data must be a multiple of 4 bytes")
                parts.append(_EXTENSION_HEADER.pack(self.extension_profile, words))
                parts.append(self.extension_data)
        except struct.error as exc:
            raise RtpError(f"RTP header field out of range: {exc}") from None
        parts.append(self.payload)
        if self.padding_size:
            parts.append(bytes(self.padding_size - 1) + bytes((self.padding_size,)))
        return b"".join(parts)

    def __bytes__(self) -> bytes:
        return self.serialize()


def build_rtp(
    payload_type: int,
    sequence_number: int,
    timestamp: int,
    ssrc: int,
    payload: bytes,
    marker: bool = False,
) -> bytes:
    """Build a plain RTP packet (no CSRC, extension or padding): the per-packet send path.

    Takes 16-bit `sequence_number` and 32-bit `timestamp`/`ssrc` already wrapped by the caller.
    Raises RtpError if any field is out of range."""
    if not 0 <= payload_type <= 0x7F:
        raise RtpError(f"payload type {payload_type} outside 0..127")
    try:
        header = _FIXED_HEADER.pack(
            0x80, payload_type | 0x80 if marker else payload_type, sequence_number, timestamp, ssrc
        )
    except struct.error as exc:
        raise RtpError(f"RTP header field out of range: {exc}") from None
    return header + payload


def is_rtcp(data: bytes) -> bool:
    """Tell RTCP from RTP on a muxed port (RFC 5761 section 4): version 2, second byte 192..223.

    Returns False for anything shorter than 2 bytes."""
    return len(data) >= 2 and data[0] >> 6 == RTP_VERSION and 192 <= data[1] <= 223


def seq_distance(a: int, b: int) -> int:
    """How many steps sequence number `a` is ahead of `b` (negative if behind), modulo 2**16.

    The result lies in -32768..32767; 16-bit wrap-around is accounted for."""
    delta = (a - b) & 0xFFFF
    return delta - 0x10000 if delta >= 0x8000 else delta


def seq_newer(a: int, b: int) -> bool:
    """True if 16-bit sequence number `a` comes after `b`, allowing for wrap-around."""
    return 0 < ((a - b) & 0xFFFF) < 0x8000
