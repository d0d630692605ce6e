"""RFC 3550 RTCP compound packets, report blocks, SDES, BYE and the NTP/RTT helpers."""

from __future__ import annotations

import pytest

from mediacore.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpError,
    RtcpPacket,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    middle_32,
    ntp_from_unix,
    parse_compound,
    round_trip_time,
    serialize_compound,
)

# SR (no report blocks) + SDES with a Chrome-style 16-character CNAME; from a public SRTP test
# vector set (a=ssrc:3027665466 cname:ceiNLmy6VHSE5Ja7).
CHROME_SR_SDES = bytes.fromhex(
    "80c80006b476823adc2327b2ac348f545550cd92000000050000017581ca0006"
    "b476823a01106365694e4c6d793656485345354a61370000"
)

# SR + SDES from an Android IMS client; its CNAME is an IPv6 address with a stray trailing NUL
# counted in the item length, followed by the terminator and two padding nulls.
IMS_SR_SDES = bytes.fromhex(
    "80c80006b1c8cb02e65fa531539124c2000401850000004100" + "00c85381ca000ab1c8cb02011f"
    "323630303a313030653a313030383a616634663a3a316562653a3638353100000000"
)

# RR with one report block: 1 lost of 0x3e9 expected; fraction 0x01, jitter 0x2c, LSR and DLSR.
RR_ONE_BLOCK = bytes.fromhex("81c90007d2bd4e3e58f33dea01000001000003e90000002c8df9f5810000a000")

# RTCP-FB PSFB PLI (RFC 4585 6.3.1): FMT 1 in the count field, sender and media SSRC.
PLI = bytes.fromhex("81ce0002d2bd4e3e58f33dea")


def test_chrome_sr_sdes_compound_section_6_4_1_and_6_5() -> None:
    sr, sdes = parse_compound(CHROME_SR_SDES)
    assert sr == SenderReport(
        ssrc=3027665466,
        ntp_timestamp=0xDC2327B2AC348F54,
        rtp_timestamp=0x5550CD92,
        packet_count=5,
        octet_count=373,
    )
    assert sdes == SourceDescription([(3027665466, [(1, b"ceiNLmy6VHSE5Ja7")])])
    assert isinstance(sdes, SourceDescription)
    assert sdes.cname(3027665466) == b"ceiNLmy6VHSE5Ja7"
    assert sdes.cname(1) is None


def test_chrome_sr_sdes_compound_round_trips_byte_exact() -> None:
    assert serialize_compound(parse_compound(CHROME_SR_SDES)) == CHROME_SR_SDES


def test_ims_sr_sdes_keeps_cname_bytes_verbatim_and_round_trips() -> None:
    assert len(IMS_SR_SDES) == 72
    sr, sdes = parse_compound(IMS_SR_SDES)
    assert isinstance(sr, SenderReport)
    assert (sr.ssrc, sr.packet_count, sr.octet_count) == (0xB1C8CB02, 65, 51283)
    assert sr.rtp_timestamp == 0x00040185
    assert sdes == SourceDescription([(0xB1C8CB02, [(1, b"2600:100e:1008:af4f::1ebe:6851\0")])])
    assert serialize_compound([sr, sdes]) == IMS_SR_SDES


def test_receiver_report_block_fields_section_6_4_2() -> None:
    (rr,) = parse_compound(RR_ONE_BLOCK)
    assert rr == ReceiverReport(
        ssrc=0xD2BD4E3E,
        reports=[
            ReportBlock(
                ssrc=0x58F33DEA,
                fraction_lost=1,
                cumulative_lost=1,
                highest_sequence=0x3E9,
                jitter=0x2C,
                lsr=0x8DF9F581,
                dlsr=0xA000,
            )
        ],
    )
    assert bytes(rr) == RR_ONE_BLOCK
    assert ReceiverReport.parse(RR_ONE_BLOCK) == rr


def test_cumulative_lost_is_signed_24_bit() -> None:
    block = ReportBlock(1, 0, -1, 2, 3, 4, 5)
    data = block.serialize()
    assert data[4:8] == bytes.fromhex("00ffffff")
    assert ReportBlock.parse(data) == block
    extremes = [ReportBlock(1, 255, v, 0, 0, 0, 0) for v in (-0x800000, 0x7FFFFF)]
    for block in extremes:
        assert ReportBlock.parse(bytes(block)) == block


def test_sender_report_with_blocks_and_profile_extension_round_trips() -> None:
    block = ReportBlock(7, 25, 100, 70000, 12, 0x12345678, 0x00010000)
    sr = SenderReport(1, ntp_from_unix(1_700_000_000.25), 160, 10, 1600, [block, block], b"ext!")
    data = bytes(sr)
    assert data[0] == 0x82 and data[1] == 200
    assert len(data) == 28 + 48 + 4
    assert parse_compound(data) == [sr]
    assert SenderReport.parse(data) == sr


def test_receiver_report_with_no_blocks_is_eight_bytes() -> None:
    data = bytes(ReceiverReport(0xCAFEBABE))
    assert data == bytes.fromhex("80c90001cafebabe")
    assert parse_compound(data) == [ReceiverReport(0xCAFEBABE)]


def test_bye_with_reason_section_6_6() -> None:
    data = bytes.fromhex("81cb0002902f9e2e03464f4f")
    assert parse_compound(data) == [Bye([0x902F9E2E], b"FOO")]
    assert bytes(Bye([0x902F9E2E], b"FOO")) == data


def test_bye_reason_is_padded_to_a_word_with_nulls() -> None:
    data = bytes.fromhex("81cb0002902f9e2e01460000")
    assert Bye.parse(data) == Bye([0x902F9E2E], b"F")
    assert bytes(Bye([0x902F9E2E], b"F")) == data


def test_bye_without_reason_and_with_empty_reason_are_distinct() -> None:
    assert bytes(Bye([1])) == bytes.fromhex("81cb000100000001")
    assert bytes(Bye([1], b"")) == bytes.fromhex("81cb00020000000100000000")
    assert Bye.parse(bytes.fromhex("81cb000100000001")).reason is None
    assert Bye.parse(bytes.fromhex("81cb00020000000100000000")).reason == b""


def test_bye_of_several_sources_round_trips() -> None:
    bye = Bye([1, 2, 3], b"session ended")
    assert parse_compound(bytes(bye)) == [bye]


def test_unknown_packet_types_are_kept_not_rejected() -> None:
    compound = RR_ONE_BLOCK + PLI
    rr, pli = parse_compound(compound)
    assert isinstance(rr, ReceiverReport)
    assert pli == UnknownRtcp(packet_type=206, count=1, body=bytes.fromhex("d2bd4e3e58f33dea"))
    assert serialize_compound([rr, pli]) == compound


def test_app_packet_is_kept_as_unknown() -> None:
    app = bytes.fromhex("83cc0003d2bd4e3e" + "52495354" + "00000001")
    (packet,) = parse_compound(app)
    assert packet == UnknownRtcp(204, 3, bytes.fromhex("d2bd4e3e5249535400000001"))
    assert bytes(packet) == app


def test_padding_on_last_packet_section_6_4_1_is_validated_and_stripped() -> None:
    padded = bytes.fromhex("a0c90002cafebabe00000004")
    assert parse_compound(CHROME_SR_SDES + padded)[-1] == ReceiverReport(0xCAFEBABE)


def test_sdes_with_several_chunks_and_items_round_trips() -> None:
    sdes = SourceDescription(
        [
            (1, [(1, b"alice@example.org"), (2, b"Alice"), (6, b"mediacore")]),
            (2, []),
            (3, [(1, b"abc")]),  # 4 + 2 + 3 = 9 bytes: terminator plus 2 nulls
            (4, [(8, b"\x03abcvalue")]),  # PRIV keeps its prefix inside the value
        ]
    )
    data = bytes(sdes)
    assert len(data) % 4 == 0
    assert parse_compound(data) == [sdes]


def test_empty_sdes_and_empty_bye_are_header_only() -> None:
    assert bytes(SourceDescription()) == bytes.fromhex("80ca0000")
    assert parse_compound(bytes.fromhex("80ca0000")) == [SourceDescription([])]
    assert parse_compound(bytes.fromhex("80cb0000")) == [Bye([], None)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x80\xc9\x00", "stray"),
        (RR_ONE_BLOCK + b"\x80\xc9", "stray"),
        (bytes.fromhex("40c90001cafebabe"), "version"),
        (bytes.fromhex("80c90002cafebabe"), "runs past the datagram"),
        (CHROME_SR_SDES[:-4], "runs past the datagram"),
        (bytes.fromhex("a0c90001cafeba00"), "padding count 0"),
        (bytes.fromhex("a0c90001cafeba09"), "padding count 9"),
        (bytes.fromhex("a0c90001cafeba04"), "no SSRC"),
        (bytes.fromhex("80c80001cafebabe"), "sender info"),
        (bytes.fromhex("81c90001cafebabe"), "1 report blocks"),
        (bytes.fromhex("81ca0001cafebabe"), "no terminating null"),
        (bytes.fromhex("81ca0000"), "SSRC runs past"),
        (bytes.fromhex("81ca0002cafebabe0110"), "runs past the datagram"),
        (bytes.fromhex("81ca0002cafebabe01100000"), "item type 1 runs past"),
        (bytes.fromhex("81ca0002cafebabe00000000" + "00000000"), "version must be 2, got 0"),
        (bytes.fromhex("81ca0003cafebabe0000000000000000"), "after the last SDES chunk"),
        (bytes.fromhex("81ca0002cafebabe01020000"), "no terminating null"),
        (bytes.fromhex("82cb0001cafebabe"), "2 sources"),
        (bytes.fromhex("81cb0002cafebabe05414243"), "reason runs past"),
        (bytes.fromhex("81cb0003cafebabe0141000000000000"), "after the BYE reason"),
    ],
)
def test_malformed_compounds_raise_rtcp_error(data: bytes, message: str) -> None:
    with pytest.raises(RtcpError, match=message):
        parse_compound(data)


def test_single_packet_parse_rejects_other_types_and_compounds() -> None:
    with pytest.raises(RtcpError, match="exactly one SenderReport"):
        SenderReport.parse(CHROME_SR_SDES)
    with pytest.raises(RtcpError, match="exactly one ReceiverReport"):
        ReceiverReport.parse(CHROME_SR_SDES[:28])
    with pytest.raises(RtcpError, match="exactly one UnknownRtcp"):
        UnknownRtcp.parse(RR_ONE_BLOCK)
    assert SourceDescription.parse(CHROME_SR_SDES[28:]).chunks[0][0] == 3027665466
    assert UnknownRtcp.parse(PLI).packet_type == 206


@pytest.mark.parametrize(
    "packet",
    [
        ReceiverReport(1, [ReportBlock(1, 0, 0, 0, 0, 0, 0)] * 32),
        ReceiverReport(1 << 32),
        ReceiverReport(1, profile_extension=b"abc"),
        ReceiverReport(1, [ReportBlock(1, 256, 0, 0, 0, 0, 0)]),
        ReceiverReport(1, [ReportBlock(1, 0, 0x800000, 0, 0, 0, 0)]),
        ReceiverReport(1, [ReportBlock(1, 0, -0x800001, 0, 0, 0, 0)]),
        ReceiverReport(1, [ReportBlock(1, 0, 0, 1 << 32, 0, 0, 0)]),
        SenderReport(1, 1 << 64, 0, 0, 0),
        SenderReport(1, 0, 0, -1, 0),
        SourceDescription([(1, [(0, b"x")])]),
        SourceDescription([(1, [(1, b"x" * 256)])]),
        SourceDescription([(i, []) for i in range(32)]),
        Bye([1], b"x" * 256),
        Bye(list(range(32))),
        UnknownRtcp(206, 1, b"abc"),
        UnknownRtcp(206, 32, b""),
        UnknownRtcp(256, 0, b""),
        UnknownRtcp(204, 0, b"\0" * 4 * 0x10000),
    ],
)
def test_serialize_rejects_fields_that_do_not_fit(packet: RtcpPacket) -> None:
    with pytest.raises(RtcpError):
        packet.serialize()


def test_ntp_from_unix_section_4_epoch_and_fraction() -> None:
    assert ntp_from_unix(0.0) == 2_208_988_800 << 32
    assert ntp_from_unix(1.5) == (2_208_988_801 << 32) | 0x80000000
    # 2024-01-01T00:00:00Z in NTP seconds.
    assert ntp_from_unix(1_704_067_200.0) >> 32 == 3_913_056_000


def test_ntp_from_unix_is_monotonic_at_microsecond_steps() -> None:
    base = 1_700_000_000.0
    values = [ntp_from_unix(base + i * 1e-6) for i in range(100)]
    assert values == sorted(values)


def test_middle_32_is_the_lsr_field() -> None:
    assert middle_32(0xDC2327B2AC348F54) == 0x27B2AC34
    assert middle_32(ntp_from_unix(1.5)) == ((2_208_988_801 & 0xFFFF) << 16) | 0x8000


def test_round_trip_time_rfc3550_section_6_4_1_example() -> None:
    # A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000 -> 0x0006:2000 = 6.125 s.
    assert round_trip_time(0xB7108000, 0xB7052000, 0x00054000) == 6.125


def test_round_trip_time_across_32_bit_wrap() -> None:
    assert round_trip_time(0x00001000, 0xFFFFF000, 0) == pytest.approx(0x2000 / 65536)


def test_round_trip_time_clamps_clock_skew_to_zero() -> None:
    assert round_trip_time(0x10000000, 0x0FFFF000, 0x2000) == 0.0


def test_round_trip_time_without_sender_report_raises() -> None:
    with pytest.raises(RtcpError, match="LSR is 0"):
        round_trip_time(0x12345678, 0, 0)


def test_compound_built_from_parts_parses_back_in_order() -> None:
    packets: list[RtcpPacket] = [
        SenderReport(5, ntp_from_unix(1000.0), 8000, 50, 8000),
        SourceDescription([(5, [(1, b"cname")])]),
        Bye([5]),
    ]
    assert parse_compound(serialize_compound(packets)) == packets
