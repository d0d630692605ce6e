"""RFC 3550 RTP packet parsing/building, RFC 5761 demultiplexing and sequence arithmetic."""

from __future__ import annotations

import pytest

from mediacore.rtp import (
    MAX_DATAGRAM,
    RtpError,
    RtpPacket,
    build_rtp,
    is_rtcp,
    seq_distance,
    seq_newer,
)

# Chrome Opus packet (PT 111, marker set) with a one-byte header extension carrying
# abs-send-time (id 3) and ssrc-audio-level (id 1); from a public SRTP test vector pair
# (a=ssrc:3027665466 cname:ceiNLmy6VHSE5Ja7).
CHROME_OPUS = bytes.fromhex(
    "90ef41cd5550be52b476823abede00023254e1e110aa0000"
    "78039cdb17916be3b1020af1a556e1c4f02df01c90160f342ec234ab93fcf9de"
    "7f94b310af10f3233bced79f55a07033629a72e928cd40a5ae61caa1f6727c10"
    "ce6ed6d98716b1e8226628"
)

# A G.711 u-law packet as a SIP phone sends it: PT 0, 20 ms (160 bytes) of digital silence.
PCMU_HEADER = bytes.fromhex("80001c7c00024c40d2bd4e3e")
PCMU = PCMU_HEADER + b"\xff" * 160


def test_parse_chrome_opus_packet_reads_fixed_header_and_one_byte_extension() -> None:
    packet = RtpPacket.parse(CHROME_OPUS)
    assert packet.marker is True
    assert packet.payload_type == 111
    assert packet.sequence_number == 0x41CD
    assert packet.timestamp == 0x5550BE52
    assert packet.ssrc == 3027665466
    assert packet.csrc == ()
    assert packet.extension_profile == 0xBEDE
    assert packet.extension_data == bytes.fromhex("3254e1e110aa0000")
    assert packet.payload == CHROME_OPUS[24:]
    assert packet.padding_size == 0


def test_chrome_opus_packet_round_trips_byte_exact() -> None:
    assert bytes(RtpPacket.parse(CHROME_OPUS)) == CHROME_OPUS


def test_parse_pcmu_packet_section_5_1_fixed_header() -> None:
    packet = RtpPacket.parse(PCMU)
    assert (packet.payload_type, packet.marker) == (0, False)
    assert packet.sequence_number == 7292
    assert packet.timestamp == 150592
    assert packet.ssrc == 0xD2BD4E3E
    assert packet.payload == b"\xff" * 160
    assert packet.extension_profile is None
    assert packet.serialize() == PCMU


def test_csrc_list_section_5_1_is_parsed_and_round_trips() -> None:
    packet = RtpPacket(8, 1, 2, 3, b"abc", csrc=(0x11111111, 0x22222222, 0xFFFFFFFF))
    data = packet.serialize()
    assert data[0] == 0x83
    assert RtpPacket.parse(data) == packet


def test_empty_extension_with_x_bit_round_trips() -> None:
    packet = RtpPacket(96, 1, 2, 3, b"x", extension_profile=0x1000, extension_data=b"")
    data = bytes(packet)
    assert data[12:16] == bytes.fromhex("10000000")
    assert RtpPacket.parse(data) == packet


def test_padding_section_5_1_count_includes_itself_and_is_stripped() -> None:
    data = b"\xa0" + PCMU_HEADER[1:] + b"media" + b"\0\0\0\x04"
    packet = RtpPacket.parse(data)
    assert packet.payload == b"media"
    assert packet.padding_size == 4
    assert bytes(packet) == data


def test_padding_only_packet_has_empty_payload() -> None:
    data = bytes.fromhex("a0000001000000020000000300000004")
    packet = RtpPacket.parse(data)
    assert packet.payload == b""
    assert packet.padding_size == 4


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (PCMU_HEADER[:11], "too short"),
        (b"\x40" + PCMU[1:], "version"),
        (b"\x00" + PCMU[1:], "version"),
        (b"\x82" + PCMU_HEADER[1:] + b"\0\0\0\1", "CSRC"),
        (b"\x90" + PCMU_HEADER[1:] + b"\xbe\xde", "extension header"),
        (b"\x90" + PCMU_HEADER[1:] + b"\xbe\xde\x00\x02" + b"\0" * 7, "extension of 2 words"),
        (b"\xa0" + PCMU_HEADER[1:], "no padding count"),
        (b"\xa0" + PCMU_HEADER[1:] + b"ab\0", "padding count is zero"),
        (b"\xa0" + PCMU_HEADER[1:] + b"ab\x04", "padding count 4"),
    ],
)
def test_malformed_packets_raise_rtp_error(data: bytes, message: str) -> None:
    with pytest.raises(RtpError, match=message):
        RtpPacket.parse(data)


@pytest.mark.parametrize(
    "packet",
    [
        RtpPacket(128, 0, 0, 0),
        RtpPacket(-1, 0, 0, 0),
        RtpPacket(0, 0x10000, 0, 0),
        RtpPacket(0, 0, 1 << 32, 0),
        RtpPacket(0, 0, 0, -1),
        RtpPacket(0, 0, 0, 0, csrc=tuple(range(16))),
        RtpPacket(0, 0, 0, 0, csrc=(1 << 32,)),
        RtpPacket(0, 0, 0, 0, extension_profile=0xBEDE, extension_data=b"abc"),
        RtpPacket(0, 0, 0, 0, extension_profile=0x10000),
        RtpPacket(0, 0, 0, 0, padding_size=256),
    ],
)
def test_serialize_rejects_fields_that_do_not_fit(packet: RtpPacket) -> None:
    with pytest.raises(RtpError):
        packet.serialize()


def test_build_rtp_matches_full_serializer() -> None:
    assert build_rtp(0, 7292, 150592, 0xD2BD4E3E, b"\xff" * 160) == PCMU
    fast = build_rtp(111, 0x41CD, 0x5550BE52, 3027665466, b"opus", marker=True)
    assert fast == RtpPacket(111, 0x41CD, 0x5550BE52, 3027665466, b"opus", marker=True).serialize()


@pytest.mark.parametrize(
    "args",
    [(128, 0, 0, 0), (-1, 0, 0, 0), (0, 65536, 0, 0), (0, 0, 1 << 32, 0), (0, 0, 0, 1 << 32)],
)
def test_build_rtp_rejects_out_of_range_fields(args: tuple[int, int, int, int]) -> None:
    with pytest.raises(RtpError):
        build_rtp(*args, b"")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (bytes.fromhex("80c80006b476823a"), True),  # SR
        (bytes.fromhex("81c90007"), True),  # RR
        (bytes.fromhex("81ce0002"), True),  # PSFB (PLI), RFC 4585
        (bytes.fromhex("80cf0002"), True),  # XR = 207
        (bytes.fromhex("80df"), True),  # 223, top of the RFC 5761 range
        (bytes.fromhex("80bf"), False),  # 191
        (bytes.fromhex("80e0"), False),  # 224
        (PCMU, False),
        (CHROME_OPUS, False),  # marker + PT 111 = 0xEF, above the range
        (bytes.fromhex("40c8"), False),  # version 1
        (b"\x80", False),
        (b"", False),
    ],
)
def test_is_rtcp_rfc5761_section_4_demultiplexing(data: bytes, expected: bool) -> None:
    assert is_rtcp(data) is expected


def test_rfc5761_payload_types_64_to_95_with_marker_collide_with_rtcp() -> None:
    # Why RFC 5761 section 4 forbids those PTs when muxing: M=1, PT=72 reads as SR.
    assert is_rtcp(build_rtp(72, 1, 2, 3, b"", marker=True))
    assert not is_rtcp(build_rtp(72, 1, 2, 3, b""))


def test_max_datagram_is_one_ethernet_mtu() -> None:
    assert MAX_DATAGRAM == 1500


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        (5, 5, 0),
        (6, 5, 1),
        (5, 6, -1),
        (0, 65535, 1),
        (65535, 0, -1),
        (10, 65530, 16),
        (65530, 10, -16),
        (0x7FFF, 0, 0x7FFF),
        (0x8000, 0, -0x8000),
    ],
)
def test_seq_distance_is_signed_and_wrap_aware(a: int, b: int, distance: int) -> None:
    assert seq_distance(a, b) == distance
    assert seq_newer(a, b) is (distance > 0)


def test_seq_newer_across_wrap() -> None:
    assert seq_newer(0, 65535)
    assert not seq_newer(65535, 0)
    assert not seq_newer(100, 100)
    # Exactly half the space apart is ambiguous: neither side is newer.
    assert not seq_newer(0x8000, 0) and not seq_newer(0, 0x8000)
