"""RFC 8285 RTP header extension elements: the one-byte (0xBEDE) and two-byte (0x100X) forms.

Works on the raw extension body that mediacore.rtp.RtpPacket keeps in `extension_data`.
"""

from __future__ import annotations

__all__ = [
    "ONE_BYTE_PROFILE",
    "TWO_BYTE_PROFILE",
    "RtpExtensionError",
    "build_extensions",
    "is_two_byte_profile",
    "parse_extensions",
]

ONE_BYTE_PROFILE = 0xBEDE
# The low 4 bits of the two-byte profile are "appbits" the application may use (RFC 8285 4.3).
TWO_BYTE_PROFILE = 0x1000

_ONE_BYTE_STOP_ID = 15  # reserved: processing stops at it (RFC 8285 section 4.2)
_MAX_EXTENSION_BYTES = 0xFFFF * 4  # the length field counts 32-bit words in 16 bits


class RtpExtensionError(ValueError):
    """An extension body that overruns its elements, an unknown profile, or unencodable elements."""


def is_two_byte_profile(profile: int) -> bool:
    """True for 0x1000..0x100F, the two-byte form with any appbits."""
    return profile & 0xFFF0 == TWO_BYTE_PROFILE


def parse_extensions(profile: int, data: bytes) -> list[tuple[int, bytes]]:
    """Split an RFC 8285 extension body into (id, value) elements in wire order.

    Takes the profile from the RTP header and the raw body. Padding bytes (id 0) are skipped;
    in the one-byte form, id 15 ends parsing. Raises RtpExtensionError if an element runs past
    the end of `data` or the profile is neither the one-byte nor the two-byte form."""
    if profile == ONE_BYTE_PROFILE:
        return _parse_one_byte(data)
    if is_two_byte_profile(profile):
        return _parse_two_byte(data)
    raise RtpExtensionError(f"profile 0x{profile:04X} is not an RFC 8285 extension profile")


def _parse_one_byte(data: bytes) -> list[tuple[int, bytes]]:
    elements: list[tuple[int, bytes]] = []
    end = len(data)
    offset = 0
    while offset < end:
        header = data[offset]
        element_id = header >> 4
        if element_id == 0:
            # Padding; like libwebrtc, the length nibble of an id-0 byte is ignored.
            offset += 1
            continue
        if element_id == _ONE_BYTE_STOP_ID:
            break
        start = offset + 1
        offset = start + (header & 0x0F) + 1
        if offset > end:
            raise RtpExtensionError(
                f"one-byte element id {element_id} of {offset - start} bytes overruns the body"
            )
        elements.append((element_id, bytes(data[start:offset])))
    return elements


def _parse_two_byte(data: bytes) -> list[tuple[int, bytes]]:
    elements: list[tuple[int, bytes]] = []
    end = len(data)
    offset = 0
    while offset < end:
        element_id = data[offset]
        if element_id == 0:
            offset += 1
            continue
        if offset + 2 > end:
            raise RtpExtensionError(f"two-byte element id {element_id} has no length byte")
        start = offset + 2
        offset = start + data[offset + 1]
        if offset > end:
            raise RtpExtensionError(
                f"two-byte element id {element_id} of {offset - start} bytes overruns the body"
            )
        elements.append((element_id, bytes(data[start:offset])))
    return elements


def build_extensions(elements: list[tuple[int, bytes]], appbits: int = 0) -> tuple[int, bytes]:
    """Encode (id, value) elements as an extension body padded to whole 32-bit words.

    Uses the one-byte form when every id is 1..14 and every value 1..16 bytes, else the
    two-byte form (ids 1..255, values 0..255 bytes, `appbits` in the profile's low 4 bits).
    Returns (profile, body). Raises RtpExtensionError for elements neither form can carry."""
    one_byte = all(1 <= i <= 14 and 1 <= len(v) <= 16 for i, v in elements)
    parts: list[bytes] = []
    if one_byte:
        profile = ONE_BYTE_PROFILE
        for element_id, value in elements:
            parts.append(bytes(((element_id << 4) | (len(value) - 1),)))
            parts.append(value)
    else:
        if not 0 <= appbits <= 0x0F:
            raise RtpExtensionError(f"appbits {appbits} outside 0..15")
        profile = TWO_BYTE_PROFILE | appbits
        for element_id, value in elements:
            if not 1 <= element_id <= 255:
                raise RtpExtensionError(f"element id {element_id} outside 1..255")
            if len(value) > 255:
                raise RtpExtensionError(f"element id {element_id} value of {len(value)} bytes")
            parts.append(bytes((element_id, len(value))))
            parts.append(value)
    body = b"".join(parts)
    body += bytes(-len(body) % 4)
    if len(body) > _MAX_EXTENSION_BYTES:
        raise RtpExtensionError(f"extension body of {len(body)} bytes exceeds the length field")
    return profile, body
