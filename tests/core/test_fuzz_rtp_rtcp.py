"""Property tests: hostile bytes raise only the module error; generated packets round-trip."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediacore.dtmf import DtmfError, DtmfReceiver, TelephoneEvent
from mediacore.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpError,
    RtcpPacket,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    parse_compound,
    serialize_compound,
)
from mediacore.rtp import MAX_DATAGRAM, RtpError, RtpPacket, build_rtp
from mediacore.rtpext import RtpExtensionError, build_extensions, parse_extensions
from mediacore.rtpstats import ReceptionStatistics

FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STRUCTURED = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
datagrams = st.binary(max_size=MAX_DATAGRAM)


def with_version_2(data: bytes) -> bytes:
    """Force the version bits to 2 so fuzzing reaches past the first check."""
    return bytes((data[0] & 0x3F | 0x80,)) + data[1:] if data else data


# --- RTP ---------------------------------------------------------------------------------


@FUZZ
@given(datagrams)
def test_rtp_parse_of_random_bytes_raises_only_rtp_error(data: bytes) -> None:
    for candidate in (data, with_version_2(data)):
        try:
            packet = RtpPacket.parse(candidate)
        except RtpError:
            continue
        # Whatever parses re-encodes to something that parses to the same packet.
        assert RtpPacket.parse(packet.serialize()) == packet


rtp_packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence_number=u16,
    timestamp=u32,
    ssrc=u32,
    payload=st.binary(max_size=300),
    marker=st.booleans(),
    csrc=st.lists(u32, max_size=15).map(tuple),
    extension_profile=st.none() | u16,
    extension_data=st.binary(max_size=64).map(lambda b: b[: len(b) // 4 * 4]),
    padding_size=u8,
)


@STRUCTURED
@given(rtp_packets)
def test_generated_rtp_packets_round_trip_exactly(packet: RtpPacket) -> None:
    if packet.extension_profile is None:
        packet.extension_data = b""
    data = packet.serialize()
    assert RtpPacket.parse(data) == packet
    assert bytes(RtpPacket.parse(data)) == data


@STRUCTURED
@given(st.integers(0, 127), u16, u32, u32, st.binary(max_size=200), st.booleans())
def test_build_rtp_equals_full_serializer(
    pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool
) -> None:
    fast = build_rtp(pt, seq, ts, ssrc, payload, marker)
    assert fast == RtpPacket(pt, seq, ts, ssrc, payload, marker).serialize()


# --- RFC 8285 extensions -------------------------------------------------------------------


@FUZZ
@given(st.sampled_from([0xBEDE, 0x1000, 0x1005, 0x100F]), st.binary(max_size=256))
def test_extension_parse_of_random_bytes_raises_only_extension_error(
    profile: int, data: bytes
) -> None:
    try:
        elements = parse_extensions(profile, data)
    except RtpExtensionError:
        return
    for element_id, value in elements:
        assert element_id > 0
        assert len(value) <= 256


@STRUCTURED
@given(st.lists(st.tuples(st.integers(1, 255), st.binary(max_size=40)), max_size=12))
def test_built_extensions_parse_back_to_the_same_elements(
    elements: list[tuple[int, bytes]],
) -> None:
    profile, body = build_extensions(elements)
    assert len(body) % 4 == 0
    assert parse_extensions(profile, body) == elements


# --- RTCP ----------------------------------------------------------------------------------


@FUZZ
@given(datagrams)
def test_rtcp_parse_of_random_bytes_raises_only_rtcp_error(data: bytes) -> None:
    for candidate in (data, with_version_2(data)):
        try:
            packets = parse_compound(candidate)
        except RtcpError:
            continue
        assert parse_compound(serialize_compound(packets)) == packets


@FUZZ
@given(
    st.lists(
        st.tuples(st.sampled_from([200, 201, 202, 203, 205, 206]), st.integers(0, 31), u8),
        min_size=1,
        max_size=4,
    ),
    st.binary(min_size=4, max_size=400),
)
def test_rtcp_with_plausible_headers_and_random_bodies_raises_only_rtcp_error(
    headers: list[tuple[int, int, int]], noise: bytes
) -> None:
    # Valid-looking headers with random lengths over random bytes reach every body parser.
    parts = []
    offset = 0
    for packet_type, count, words in headers:
        body = noise[offset : offset + 4 * (words % 32)]
        offset += len(body)
        parts.append(bytes((0x80 | count, packet_type, 0, words % 32)) + body)
    try:
        packets = parse_compound(b"".join(parts))
    except RtcpError:
        return
    assert parse_compound(serialize_compound(packets)) == packets


report_blocks = st.builds(
    ReportBlock,
    ssrc=u32,
    fraction_lost=u8,
    cumulative_lost=st.integers(-0x800000, 0x7FFFFF),
    highest_sequence=u32,
    jitter=u32,
    lsr=u32,
    dlsr=u32,
)
words = st.binary(max_size=32).map(lambda b: b[: len(b) // 4 * 4])
rtcp_packets = st.one_of(
    st.builds(
        SenderReport,
        ssrc=u32,
        ntp_timestamp=st.integers(0, (1 << 64) - 1),
        rtp_timestamp=u32,
        packet_count=u32,
        octet_count=u32,
        reports=st.lists(report_blocks, max_size=31),
        profile_extension=words,
    ),
    st.builds(
        ReceiverReport,
        ssrc=u32,
        reports=st.lists(report_blocks, max_size=31),
        profile_extension=words,
    ),
    st.builds(
        SourceDescription,
        chunks=st.lists(
            st.tuples(
                u32,
                st.lists(st.tuples(st.integers(1, 255), st.binary(max_size=255)), max_size=4),
            ),
            max_size=31,
        ),
    ),
    st.builds(
        Bye,
        sources=st.lists(u32, max_size=31),
        reason=st.none() | st.binary(max_size=255),
    ),
    st.builds(
        UnknownRtcp,
        packet_type=u8.filter(lambda t: not 200 <= t <= 203),
        count=st.integers(0, 31),
        body=st.binary(max_size=64).map(lambda b: b[: len(b) // 4 * 4]),
    ),
)


@STRUCTURED
@given(st.lists(rtcp_packets, min_size=1, max_size=5))
def test_generated_rtcp_compounds_round_trip_exactly(packets: list[RtcpPacket]) -> None:
    data = serialize_compound(packets)
    parsed = parse_compound(data)
    assert parsed == packets
    assert serialize_compound(parsed) == data


# --- DTMF and reception statistics --------------------------------------------------------


@FUZZ
@given(st.binary(max_size=24))
def test_telephone_event_parse_raises_only_dtmf_error(payload: bytes) -> None:
    try:
        event = TelephoneEvent.parse(payload)
    except DtmfError:
        return
    # Re-encoding gives the first block back with the reserved R bit cleared.
    assert event.serialize() == bytes((payload[0], payload[1] & 0xBF)) + payload[2:4]


@STRUCTURED
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 3), st.booleans(), u16, st.booleans()),
        max_size=60,
    )
)
def test_dtmf_receiver_reports_each_timestamp_at_most_once(
    packets: list[tuple[int, int, bool, int, bool]],
) -> None:
    receiver = DtmfReceiver()
    reported: list[int] = []
    for timestamp_index, event, end, duration, marker in packets:
        payload = TelephoneEvent(event, end, 10, duration).serialize()
        digit = receiver.receive(timestamp_index * 1000, payload, marker)
        if digit is not None:
            reported.append(digit.rtp_timestamp)
    reported.extend(digit.rtp_timestamp for digit in receiver.flush())
    # Arbitrary reordering can legitimately revisit an old timestamp after 16 newer events,
    # which cannot happen with 6 distinct timestamps, so every report is unique.
    assert len(reported) == len(set(reported))


@STRUCTURED
@given(st.lists(st.tuples(u16, u32, st.floats(0, 1e4)), max_size=200))
def test_reception_statistics_never_raise_and_report_encodable_blocks(
    packets: list[tuple[int, int, float]],
) -> None:
    stats = ReceptionStatistics()
    for seq, ts, arrival in packets:
        stats.update(seq, ts, arrival, 8000)
        assert stats.packets_received <= len(packets)
    block = stats.report_block(ssrc=1)
    assert 0 <= block.fraction_lost <= 255
    assert len(bytes(block)) == 24


@STRUCTURED
@given(st.integers(0, 0xFFFF), st.lists(st.integers(1, 50), max_size=300))
def test_reception_statistics_count_losses_exactly_for_forward_gaps(
    start: int, gaps: list[int]
) -> None:
    stats = ReceptionStatistics()
    seq = start
    stats.update(seq & 0xFFFF, 0, 0.0, 8000)
    for gap in gaps:
        seq += gap
        stats.update(seq & 0xFFFF, 0, 0.0, 8000)
    assert stats.expected == seq - start + 1
    assert stats.cumulative_lost == sum(gap - 1 for gap in gaps)
    assert stats.extended_highest_sequence == seq
