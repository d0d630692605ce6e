"""RFC 8285 one-byte and two-byte RTP header extension elements."""

from __future__ import annotations

import pytest

from mediacore.rtp import RtpPacket
from mediacore.rtpext import (
    ONE_BYTE_PROFILE,
    TWO_BYTE_PROFILE,
    RtpExtensionError,
    build_extensions,
    is_two_byte_profile,
    parse_extensions,
)

# Chrome Opus packet with abs-send-time (id 3) and ssrc-audio-level (id 1) in a one-byte
# extension; from a public SRTP test vector pair (a=ssrc:3027665466 cname:ceiNLmy6VHSE5Ja7).
CHROME_OPUS = bytes.fromhex(
    "90ef41cd5550be52b476823abede00023254e1e110aa0000"
    "78039cdb17916be3b1020af1a556e1c4f02df01c90160f342ec234ab93fcf9de"
)

# RFC 6904 appendix A's plaintext extension: ids 1..4 of 8, 3, 1 and 7 bytes, one padding byte.
RFC6904_BODY = bytes.fromhex("174142 73a4752627 48 22 0000c8 30 8e 46 55996386b395fb 00")
RFC6904_ELEMENTS = [
    (1, bytes.fromhex("414273a475262748")),
    (2, bytes.fromhex("0000c8")),
    (3, bytes.fromhex("8e")),
    (4, bytes.fromhex("55996386b395fb")),
]
# Two-byte form body from the same public test set: id 1, 4 bytes, two padding bytes.
TWO_BYTE_BODY = bytes.fromhex("0104deadbeef0000")


def test_chrome_one_byte_extension_section_4_2_elements() -> None:
    packet = RtpPacket.parse(CHROME_OPUS)
    assert packet.extension_profile is not None
    elements = parse_extensions(packet.extension_profile, packet.extension_data)
    # abs-send-time (3 bytes) then ssrc-audio-level (voice bit + level 42 dBov).
    assert elements == [(3, bytes.fromhex("54e1e1")), (1, b"\xaa")]


def test_rfc6904_appendix_a_extension_parses_with_trailing_padding() -> None:
    assert parse_extensions(ONE_BYTE_PROFILE, RFC6904_BODY) == RFC6904_ELEMENTS


def test_two_byte_form_section_4_3() -> None:
    assert parse_extensions(TWO_BYTE_PROFILE, TWO_BYTE_BODY) == [(1, bytes.fromhex("deadbeef"))]


@pytest.mark.parametrize("appbits", range(16))
def test_two_byte_profile_accepts_any_appbits(appbits: int) -> None:
    assert is_two_byte_profile(0x1000 | appbits)
    assert parse_extensions(0x1000 | appbits, TWO_BYTE_BODY) == [(1, bytes.fromhex("deadbeef"))]


def test_two_byte_form_allows_zero_length_elements() -> None:
    assert parse_extensions(0x1000, bytes.fromhex("05000702abcd0000")) == [
        (5, b""),
        (7, b"\xab\xcd"),
    ]


def test_padding_bytes_between_elements_are_skipped() -> None:
    body = bytes.fromhex("00 00 10 aa 00 22 010203")
    assert parse_extensions(ONE_BYTE_PROFILE, body) == [(1, b"\xaa"), (2, b"\x01\x02\x03")]
    assert parse_extensions(0x1000, bytes.fromhex("00 01 01 ff 00")) == [(1, b"\xff")]


def test_one_byte_id_15_stops_parsing_section_4_2() -> None:
    # Everything after id 15 is ignored, even bytes that would overrun.
    body = bytes.fromhex("10aa f0 ff ff ff")
    assert parse_extensions(ONE_BYTE_PROFILE, body) == [(1, b"\xaa")]


def test_empty_body_has_no_elements() -> None:
    assert parse_extensions(ONE_BYTE_PROFILE, b"") == []
    assert parse_extensions(TWO_BYTE_PROFILE, b"") == []


@pytest.mark.parametrize(
    ("profile", "body", "message"),
    [
        (ONE_BYTE_PROFILE, bytes.fromhex("1f00"), "overruns"),  # 16 bytes announced
        (ONE_BYTE_PROFILE, bytes.fromhex("10aa21"), "overruns"),
        (TWO_BYTE_PROFILE, bytes.fromhex("01"), "no length byte"),
        (TWO_BYTE_PROFILE, bytes.fromhex("0105aabbccdd"), "overruns"),
        (0x0167, b"\0\0\0\0", "not an RFC 8285"),  # ED-137 radio profile is parsed elsewhere
        (0x1010, b"", "not an RFC 8285"),
        (0, b"", "not an RFC 8285"),
    ],
)
def test_malformed_or_foreign_extensions_raise(profile: int, body: bytes, message: str) -> None:
    with pytest.raises(RtpExtensionError, match=message):
        parse_extensions(profile, body)


def test_build_reproduces_chrome_one_byte_body_exactly() -> None:
    profile, body = build_extensions([(3, bytes.fromhex("54e1e1")), (1, b"\xaa")])
    assert (profile, body) == (ONE_BYTE_PROFILE, bytes.fromhex("3254e1e110aa0000"))


def test_build_reproduces_rfc6904_body_exactly() -> None:
    assert build_extensions(RFC6904_ELEMENTS) == (ONE_BYTE_PROFILE, RFC6904_BODY)


@pytest.mark.parametrize(
    "elements",
    [
        [(15, b"x")],  # id 15 is reserved in the one-byte form
        [(1, b"")],  # zero-length values need the two-byte form
        [(1, b"x" * 17)],  # longer than 16 bytes
        [(1, b"a"), (200, b"b")],  # one element forces the form for all
    ],
)
def test_build_falls_back_to_two_byte_form(elements: list[tuple[int, bytes]]) -> None:
    profile, body = build_extensions(elements)
    assert profile == TWO_BYTE_PROFILE
    assert len(body) % 4 == 0
    assert parse_extensions(profile, body) == elements


def test_build_two_byte_form_carries_appbits() -> None:
    profile, body = build_extensions([(1, b"")], appbits=0xA)
    assert profile == 0x100A
    assert body == bytes.fromhex("01000000")


def test_build_empty_list_is_empty_one_byte_body() -> None:
    assert build_extensions([]) == (ONE_BYTE_PROFILE, b"")


@pytest.mark.parametrize(
    ("elements", "appbits"),
    [
        ([(0, b"")], 0),
        ([(256, b"x")], 0),
        ([(1, b"x" * 256)], 0),
        ([(1, b"")], 16),
    ],
)
def test_build_rejects_unencodable_elements(
    elements: list[tuple[int, bytes]], appbits: int
) -> None:
    with pytest.raises(RtpExtensionError):
        build_extensions(elements, appbits=appbits)


def test_built_extension_round_trips_inside_an_rtp_packet() -> None:
    profile, body = build_extensions([(1, b"\x80"), (2, b"\x01\x02\x03")])
    packet = RtpPacket(111, 1, 960, 42, b"opus", extension_profile=profile, extension_data=body)
    parsed = RtpPacket.parse(bytes(packet))
    assert parsed.extension_profile == profile
    assert parse_extensions(profile, parsed.extension_data) == [(1, b"\x80"), (2, b"\x01\x02\x03")]
