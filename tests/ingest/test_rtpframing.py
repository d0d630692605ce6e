"""RFC 4571 section 2: RTP over TCP, each packet after a 16-bit big-endian length."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.rtpframing import FramingError, Rfc4571Framer, frame

RTP = bytes.fromhex("80e00001000000640bebc201") + b"payload"


def test_frame_prefixes_big_endian_length() -> None:
    assert frame(RTP)[:2] == b"\x00\x13"
    assert frame(RTP)[2:] == RTP
    assert Rfc4571Framer.frame(RTP) == frame(RTP)


def test_packets_split_across_reads_and_joined_in_one_read() -> None:
    stream = frame(RTP) + frame(RTP[::-1]) + frame(RTP)
    framer = Rfc4571Framer()
    assert framer.feed(stream[:1]) == []
    assert framer.feed(stream[1:21]) == [RTP]
    assert framer.feed(stream[21:]) == [RTP[::-1], RTP]
    assert framer.pending == 0


def test_zero_length_and_runt_frames_are_skipped() -> None:
    framer = Rfc4571Framer()
    assert framer.feed(b"\x00\x00" + b"\x00\x03abc" + frame(RTP)) == [RTP]
    assert framer.skipped == 1


def test_packet_over_65535_bytes_cannot_be_framed() -> None:
    with pytest.raises(FramingError):
        frame(bytes(65536))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=12, max_size=2000), max_size=20), st.data())
def test_any_split_of_the_stream_gives_back_the_packets(
    packets: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(map(frame, packets))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    framer = Rfc4571Framer()
    out: list[bytes] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += framer.feed(stream[start:end])
    assert out == packets


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=3000), max_size=30))
def test_garbage_never_raises_and_buffer_stays_under_one_frame(chunks: list[bytes]) -> None:
    framer = Rfc4571Framer()
    for chunk in chunks:
        for packet in framer.feed(chunk):
            assert 12 <= len(packet) <= 65535
        assert framer.pending <= 65536 + 1
