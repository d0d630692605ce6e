"""RTCP feedback (RFC 4585 section 6, RFC 5104 section 4, REMB): ours parses as aiortc's does,
and what other stacks send reads back as the same message."""

from __future__ import annotations

import struct

from aiortc.rtp import RtcpPacket as AiortcRtcp
from aiortc.rtp import RtcpPsfbPacket, RtcpRtpfbPacket, pack_remb_fci

from mediacore.rtcp import parse_compound, serialize_compound
from mediacore.rtcpfeedback import (
    BitrateLimit,
    KeyframeRequest,
    Nack,
    fir_packet,
    nack_packet,
    pli_packet,
    read_feedback,
    tmmbn_packet,
)


def read(data: bytes) -> list[object]:
    return list(read_feedback(parse_compound(data)))


def test_pli_round_trips_and_aiortc_reads_it() -> None:
    data = serialize_compound([pli_packet(1, 0xABCD)])
    assert read(data) == [KeyframeRequest(0xABCD, "pli")]
    (theirs,) = AiortcRtcp.parse(data)
    assert isinstance(theirs, RtcpPsfbPacket) and theirs.fmt == 1 and theirs.media_ssrc == 0xABCD


def test_fir_names_the_media_source_in_its_fci() -> None:
    data = serialize_compound([fir_packet(1, 0x1234, 7)])
    assert read(data) == [KeyframeRequest(0x1234, "fir")]


def test_nack_packs_losses_into_pid_and_bitmask_as_aiortc_reads_them() -> None:
    lost = [100, 101, 105, 116, 117, 300]
    data = serialize_compound([nack_packet(1, 0x42, lost)])
    assert read(data) == [Nack(0x42, tuple(lost))]
    (theirs,) = AiortcRtcp.parse(data)
    assert isinstance(theirs, RtcpRtpfbPacket) and sorted(theirs.lost) == lost


def test_aiortc_nack_reads_back() -> None:
    data = bytes(RtcpRtpfbPacket(fmt=1, ssrc=5, media_ssrc=9, lost=[10, 12, 40]))
    assert read(data) == [Nack(9, (10, 12, 40))]


def test_remb_from_aiortc_is_a_bitrate_limit() -> None:
    fci = pack_remb_fci(1_500_000, [0x55])
    data = bytes(RtcpPsfbPacket(fmt=15, ssrc=3, media_ssrc=0, fci=fci))
    (limit,) = read(data)
    assert isinstance(limit, BitrateLimit) and limit.kind == "remb"
    assert abs(limit.bitrate - 1_500_000) < 1_500_000 * 0.001


def test_tmmbr_is_read_and_tmmbn_echoes_it() -> None:
    exponent, mantissa, overhead = 4, 64_000, 40  # 1.024 Mbit/s
    fci = struct.pack("!II", 0x99, (exponent << 26) | (mantissa << 9) | overhead)
    body = struct.pack("!II", 0x77, 0) + fci
    data = struct.pack("!BBH", 0x80 | 3, 205, len(body) // 4) + body
    (limit,) = read(data)
    assert limit == BitrateLimit(1_024_000, "tmmbr", 0x77)
    notice = serialize_compound([tmmbn_packet(1, limit)])
    assert notice[1] == 205 and notice[0] & 0x1F == 4
    _, value = struct.unpack_from("!II", notice, 12)
    assert (value >> 9 & 0x1FFFF) << (value >> 26) == 1_024_000


def test_truncated_feedback_is_skipped() -> None:
    for body in (b"", struct.pack("!I", 1), struct.pack("!II", 1, 2) + b"REM"):
        data = struct.pack("!BBH", 0x80 | 15, 206, len(body) // 4) + body[: len(body) // 4 * 4]
        assert read(data) == []
