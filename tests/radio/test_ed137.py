"""ED-137B radio header extension (profile 0x0167) and R2S keep-alives, bit for bit.

Expected bytes are worked out from the field masks the Wireshark ED-137 dissector uses:
PTT type 0xE000, SQU 0x1000, PTT-id 0x0FC0, PM 0x0020, PTTS 0x0010, SCT 0x0008, X 0x0001,
then type/length feature blocks."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediacore.rtp import RtpError, RtpPacket
from radio.ed137 import (
    DEFAULT_KEEPALIVE_MULTIPLIER,
    DEFAULT_KEEPALIVE_PERIOD_MS,
    DEFAULT_KEEPALIVE_PT,
    MAX_FEATURE_BLOCKS,
    PROFILE,
    Ed137Error,
    FeatureBlock,
    FeatureType,
    PttType,
    RadioHeader,
    SignalQuality,
    SqiMethod,
    build_keepalive,
    build_radio_header,
    parse_radio_header,
    sqi_block,
)

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=300, deadline=None)


def body(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


# --- the fixed 16-bit word ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # The server keys the gateway for the floor holder: PTT normal, our PTT-id 5, no SQU.
        (RadioHeader(ptt_type=PttType.NORMAL, ptt_id=5), "2140 0000"),
        # The gateway's receiver opened: SQU alone is 0x1000 in the first 16-bit word.
        (RadioHeader(squelch=True), "1000 0000"),
        (RadioHeader(ptt_id=63), "0fc0 0000"),
        (RadioHeader(), "0000 0000"),  # keep-alive with PTT off, squelch closed
        (RadioHeader(ptt_type=PttType.COUPLING, ptt_id=1), "4040 0000"),
        (RadioHeader(ptt_type=PttType.PRIORITY, ptt_id=2), "6080 0000"),
        (RadioHeader(ptt_type=PttType.EMERGENCY, ptt_id=63), "8fc0 0000"),
        (RadioHeader(ptt_type=PttType.NORMAL, ptt_id=1, pm=True), "2060 0000"),
        (RadioHeader(ptts=True), "0010 0000"),
        (RadioHeader(sct=True), "0008 0000"),
        # Every field set: only the two reserved bits and X stay clear.
        (
            RadioHeader(ptt_type=7, squelch=True, ptt_id=63, pm=True, ptts=True, sct=True),
            "fff8 0000",
        ),
    ],
)
def test_fixed_word_is_bit_exact(header: RadioHeader, expected: str) -> None:
    assert build_radio_header(header) == (PROFILE, body(expected))
    assert parse_radio_header(PROFILE, body(expected)) == header


def test_contract_masks_ptt_type_top_3_bits_squ_0x1000_ptt_id_0x0fc0() -> None:
    for ptt_type in range(8):
        _, data = build_radio_header(RadioHeader(ptt_type=ptt_type))
        assert int.from_bytes(data[:2], "big") == ptt_type << 13
    _, data = build_radio_header(RadioHeader(squelch=True, ptt_id=63))
    assert int.from_bytes(data[:2], "big") == 0x1000 | 0x0FC0


def test_ptt_property_is_any_type_but_off() -> None:
    assert not RadioHeader().ptt
    assert not RadioHeader(squelch=True).ptt  # the radio hearing is not us keying it
    assert all(RadioHeader(ptt_type=value).ptt for value in range(1, 8))


@pytest.mark.parametrize("reserved", [5, 6, 7])
def test_reserved_ptt_types_parse_and_round_trip_as_ints(reserved: int) -> None:
    header = parse_radio_header(PROFILE, bytes((reserved << 5, 0, 0, 0)))
    assert header.ptt_type == reserved
    assert build_radio_header(header)[1] == bytes((reserved << 5, 0, 0, 0))


def test_reserved_bits_are_ignored_on_parse_and_written_as_zero() -> None:
    header = parse_radio_header(PROFILE, body("fffe ffff"))  # reserved 0x0006 set, X clear
    assert header == RadioHeader(ptt_type=7, squelch=True, ptt_id=63, pm=True, ptts=True, sct=True)
    assert build_radio_header(header)[1] == body("fff8 0000")


# --- feature blocks ----------------------------------------------------------------------


def test_sqi_block_fills_one_word_without_padding() -> None:
    # SQU open, X set; block type 1 length 1; RSSI index 12 (-74.29 dBm) method RSSI (0).
    header = RadioHeader(squelch=True, features=(sqi_block(12),))
    assert build_radio_header(header)[1] == body("1001 11 60")
    parsed = parse_radio_header(PROFILE, body("1001 11 60"))
    assert parsed == header
    assert parsed.quality == SignalQuality(index=12, method=SqiMethod.RSSI)
    assert parsed.rssi == 12


def test_sqi_with_another_method_has_quality_but_no_rssi() -> None:
    header = parse_radio_header(PROFILE, body("1001 11 fa"))  # index 31, method 2 (C/N)
    assert header.quality == SignalQuality(31, SqiMethod.CARRIER_TO_NOISE)
    assert header.rssi is None


def test_rssi_index_above_15_is_out_of_range() -> None:
    header = parse_radio_header(PROFILE, body("1001 11 80"))  # index 16, method RSSI
    assert header.quality == SignalQuality(16, SqiMethod.RSSI)
    assert header.rssi is None
    with pytest.raises(Ed137Error, match="SQI index 16"):
        sqi_block(16)


def test_climax_rmm_block_is_padded_to_two_words() -> None:
    # ED-137B CLIMAX RMM: type 4, length 3 (time-quality bit and 23-bit T1), then 2 pad bytes.
    rmm = FeatureBlock(FeatureType.CLIMAX_DYNAMIC_DELAY, body("801234"))
    header = RadioHeader(ptt_type=PttType.NORMAL, ptt_id=3, features=(rmm,))
    assert build_radio_header(header)[1] == body("20c1 43 801234 0000")
    assert parse_radio_header(PROFILE, body("20c1 43 801234 0000")) == header
    assert header.quality is None and header.rssi is None


def test_unknown_and_vendor_blocks_are_kept_raw_and_round_trip() -> None:
    # Vendor type 11 (5 bytes), reserved type 7 (empty), radio remote control (3 bytes).
    data = body("1001 b5 0102030405 70 33 bbccdd 000000")
    header = parse_radio_header(PROFILE, data)
    assert header.features == (
        FeatureBlock(11, body("0102030405")),
        FeatureBlock(7, b""),
        FeatureBlock(FeatureType.RADIO_REMOTE_CONTROL, body("bbccdd")),
    )
    assert build_radio_header(header) == (PROFILE, data)


def test_type_zero_byte_ends_the_blocks_and_later_bytes_are_padding() -> None:
    # Zero-length type-7 block, then a 0x00 byte: the list ends; 3a bbccdd is never read.
    header = parse_radio_header(PROFILE, body("1001 b5 0102030405 70 00 3a bbccdd 0000"))
    assert header.features == (FeatureBlock(11, body("0102030405")), FeatureBlock(7, b""))
    assert build_radio_header(header)[1] == body("1001 b5 0102030405 70 000000")


def test_x_set_with_only_padding_is_no_features() -> None:
    header = parse_radio_header(PROFILE, body("1001 0000"))
    assert header == RadioHeader(squelch=True)
    assert build_radio_header(header)[1] == body("1000 0000")  # X is written only with blocks


def test_blocks_are_read_only_with_the_x_bit() -> None:
    assert parse_radio_header(PROFILE, body("1000 1160")).features == ()


@pytest.mark.parametrize("blocks", [1, 2, 5, MAX_FEATURE_BLOCKS])
def test_bodies_are_whole_words(blocks: int) -> None:
    header = RadioHeader(features=tuple(FeatureBlock(1 + i % 15, bytes(i)) for i in range(blocks)))
    _, data = build_radio_header(header)
    used = 2 + sum(1 + len(block.value) for block in header.features)
    assert len(data) % 4 == 0 and len(data) - used < 4
    assert data[used:] == bytes(len(data) - used)
    assert parse_radio_header(PROFILE, data) == header


def test_longest_body_is_sixteen_blocks_of_fifteen_bytes() -> None:
    header = RadioHeader(features=tuple(FeatureBlock(15, bytes(range(15))) for _ in range(16)))
    _, data = build_radio_header(header)
    assert len(data) == 260  # 2 + 16 * 16 = 258, padded to whole words
    assert parse_radio_header(PROFILE, data) == header


# --- refused input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "data", "message"),
    [
        (0x0067, body("2140 0000"), "first ED-137 edition"),
        (0xBEDE, body("2140 0000"), "not the ED-137B profile"),
        (PROFILE, b"", "empty"),
        (PROFILE, body("2140 00"), "not whole 32-bit words"),
        (PROFILE, body("0001 1560"), "runs past"),  # type 1 says 5 bytes, 1 left
        (PROFILE, body("0001") + bytes((0x10,)) * 17 + bytes(1), "more than 16 feature blocks"),
    ],
)
def test_malformed_bodies_raise_ed137_error(profile: int, data: bytes, message: str) -> None:
    with pytest.raises(Ed137Error, match=message):
        parse_radio_header(profile, data)


def test_sixteen_blocks_are_allowed() -> None:
    header = parse_radio_header(PROFILE, body("0001") + bytes((0x10,)) * 16 + bytes(2))
    assert header.features == (FeatureBlock(1, b""),) * 16


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RadioHeader(ptt_type=8), "PTT type 8"),
        (lambda: RadioHeader(ptt_type=-1), "PTT type -1"),
        (lambda: RadioHeader(ptt_id=64), "PTT-id 64"),
        (lambda: FeatureBlock(0, b""), "feature type 0"),
        (lambda: FeatureBlock(16, b""), "feature type 16"),
        (lambda: FeatureBlock(1, bytes(16)), "16 bytes"),
        (lambda: RadioHeader(features=(FeatureBlock(1, b""),) * 17), "17 feature blocks"),
        (lambda: sqi_block(3, method=8), "SQI method 8"),
    ],
)
def test_unencodable_fields_raise_ed137_error(make: object, message: str) -> None:
    with pytest.raises(Ed137Error, match=message):
        make()  # type: ignore[operator]


def test_parse_is_bounded_on_the_largest_possible_extension() -> None:
    # An RTP extension can be 65535 words; the parser stops after 17 blocks whatever follows.
    flood = body("0001") + bytes((0x10,)) * (0xFFFF * 4 - 2)
    zeros = body("0001") + bytes(0xFFFF * 4 - 2)
    started = time.perf_counter()
    with pytest.raises(Ed137Error, match="more than 16"):
        parse_radio_header(PROFILE, flood)
    assert parse_radio_header(PROFILE, zeros) == RadioHeader()
    assert time.perf_counter() - started < 0.5  # microseconds in practice; generous for CI


# --- keep-alives -------------------------------------------------------------------------


def test_keepalive_defaults_are_ed137b() -> None:
    assert (DEFAULT_KEEPALIVE_PT, DEFAULT_KEEPALIVE_PERIOD_MS, DEFAULT_KEEPALIVE_MULTIPLIER) == (
        123,
        200,
        10,
    )


def test_keepalive_is_an_empty_r2s_packet_carrying_the_header() -> None:
    header = RadioHeader(ptt_type=PttType.OFF, squelch=False, ptt_id=0)
    datagram = build_keepalive(0x1234, 0x00ABCDEF, 0xCAFEBABE, header)
    # V=2 X=1, M=0 PT=123, sequence, timestamp, SSRC, profile 0x0167 length 1, the word.
    assert datagram == body("907b 1234 00abcdef cafebabe 0167 0001 0000 0000")
    packet = RtpPacket.parse(datagram)
    assert (packet.payload_type, packet.payload, packet.marker) == (123, b"", False)
    assert packet.extension_profile == PROFILE
    assert parse_radio_header(packet.extension_profile, packet.extension_data) == header


def test_keepalive_with_negotiated_payload_type_and_features() -> None:
    header = RadioHeader(squelch=True, features=(sqi_block(9),))
    packet = RtpPacket.parse(build_keepalive(7, 0, 1, header, payload_type=100))
    assert packet.payload_type == 100 and packet.sequence_number == 7
    assert packet.extension_profile is not None
    assert parse_radio_header(packet.extension_profile, packet.extension_data) == header


def test_keepalive_fields_out_of_range_raise_rtp_error() -> None:
    with pytest.raises(RtpError):
        build_keepalive(0x10000, 0, 0, RadioHeader())
    with pytest.raises(RtpError):
        build_keepalive(0, 0, 0, RadioHeader(), payload_type=128)


# --- properties ----------------------------------------------------------------------------

feature_blocks = st.builds(FeatureBlock, st.integers(1, 15), st.binary(max_size=15))
headers = st.builds(
    RadioHeader,
    ptt_type=st.integers(0, 7),
    squelch=st.booleans(),
    ptt_id=st.integers(0, 63),
    pm=st.booleans(),
    ptts=st.booleans(),
    sct=st.booleans(),
    features=st.lists(feature_blocks, max_size=MAX_FEATURE_BLOCKS).map(tuple),
)


@ROUND_TRIP
@given(headers)
def test_parse_of_build_is_identity(header: RadioHeader) -> None:
    profile, data = build_radio_header(header)
    assert profile == PROFILE and data and len(data) % 4 == 0
    assert parse_radio_header(profile, data) == header


@ROUND_TRIP
@given(headers, st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.integers(0, 127))
def test_keepalive_round_trips_through_rtp(
    header: RadioHeader, sequence: int, ssrc: int, payload_type: int
) -> None:
    packet = RtpPacket.parse(build_keepalive(sequence, 0, ssrc, header, payload_type))
    assert (packet.sequence_number, packet.ssrc, packet.payload_type) == (
        sequence,
        ssrc,
        payload_type,
    )
    assert packet.extension_profile is not None
    assert parse_radio_header(packet.extension_profile, packet.extension_data) == header


@FUZZ
@given(
    st.one_of(st.just(PROFILE), st.integers(0, 0xFFFF)),
    st.binary(max_size=600),
)
def test_parse_of_arbitrary_bytes_raises_only_ed137_error(profile: int, data: bytes) -> None:
    try:
        header = parse_radio_header(profile, data)
    except Ed137Error:
        return
    # Whatever parses re-encodes into a body that parses to the same header.
    assert parse_radio_header(*build_radio_header(header)) == header


@FUZZ
@given(st.binary(min_size=2, max_size=300).map(lambda b: bytes((b[0], b[1] | 1)) + b[2:]))
def test_parse_of_arbitrary_feature_lists_raises_only_ed137_error(data: bytes) -> None:
    # X forced on, padded to whole words: the fuzz reaches the feature-block loop every time.
    data += bytes(-len(data) % 4)
    try:
        header = parse_radio_header(PROFILE, data)
    except Ed137Error:
        return
    assert len(header.features) <= MAX_FEATURE_BLOCKS
    assert parse_radio_header(*build_radio_header(header)) == header
