"""ISO/IEC 13818-1 program streams as GB/T 28181 devices send them over RTP."""

from __future__ import annotations

import random
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.ps import (
    DemuxedFrame,
    PsDemuxer,
    PsError,
    PsMuxer,
    is_keyframe,
    split_payloads,
)

SPS = b"\x00\x00\x00\x01\x67\x42\xc0\x1f\xda\x01\x40\x16\xe8"
PPS = b"\x00\x00\x00\x01\x68\xce\x3c\x80"


def _body(rng: random.Random, size: int) -> bytes:
    return bytes(rng.randrange(1, 256) for _ in range(size))  # no zeros: no false start codes


def _h264_gop(rng: random.Random, frames: int, idr_size: int = 30000) -> list[tuple[bytes, bool]]:
    gop = [(SPS + PPS + b"\x00\x00\x00\x01\x65" + _body(rng, idr_size), True)]
    gop += [
        (b"\x00\x00\x00\x01\x41" + _body(rng, rng.randrange(50, 3000)), False)
        for _ in range(frames - 1)
    ]
    return gop


def _play(
    demuxer: PsDemuxer, packs: list[tuple[bytes, int]], mtu: int = 1400
) -> list[DemuxedFrame]:
    out: list[DemuxedFrame] = []
    for pack, ts in packs:
        payloads = split_payloads(pack, mtu)
        for i, payload in enumerate(payloads):
            out += demuxer.feed(payload, i == len(payloads) - 1, ts)
    return out


def test_h264_round_trip_gives_back_every_frame_with_keyframes_flagged() -> None:
    rng = random.Random(1)
    muxer = PsMuxer("h264", "pcma")
    gop = _h264_gop(rng, 10) + _h264_gop(rng, 5)
    packs = [(muxer.video(data, 3600 * n), 3600 * n) for n, (data, _) in enumerate(gop)]
    frames = _play(PsDemuxer(), packs)
    assert [f.data for f in frames] == [data for data, _ in gop]
    assert [f.keyframe for f in frames] == [key for _, key in gop]
    assert [f.pts for f in frames] == [3600 * n for n in range(len(gop))]
    assert {(f.kind, f.codec) for f in frames} == {("video", "h264")}


def test_frame_over_64k_is_split_into_several_pes_and_joined_again() -> None:
    rng = random.Random(2)
    data = SPS + PPS + b"\x00\x00\x00\x01\x65" + _body(rng, 200_000)
    pack = PsMuxer().video(data, 90000, dts=87000)
    assert pack.count(b"\x00\x00\x01\xe0") == 4
    frames = _play(PsDemuxer(), [(pack, 90000)])
    assert frames == [DemuxedFrame("video", "h264", 90000, data, True)]


def test_h265_irap_and_psm_stream_type_0x24() -> None:
    vps_idr = b"\x00\x00\x00\x01\x40\x01\x0c" + b"\x00\x00\x01\x26\x01" + b"\xaa" * 500
    trail = b"\x00\x00\x00\x01\x02\x01" + b"\xbb" * 300
    muxer = PsMuxer("h265", None)
    frames = _play(PsDemuxer(), [(muxer.video(vps_idr, 0), 0), (muxer.video(trail, 3600), 3600)])
    assert [(f.codec, f.keyframe) for f in frames] == [("h265", True), ("h265", False)]


def test_g711_audio_interleaved_with_video() -> None:
    rng = random.Random(3)
    muxer = PsMuxer("h264", "pcmu")
    gop = _h264_gop(rng, 3, 2000)
    audio = [bytes([n]) * 160 for n in range(1, 7)]
    packs: list[tuple[bytes, int]] = []
    for n, (data, _) in enumerate(gop):
        packs.append((muxer.video(data, 3600 * n), 3600 * n))
        for k in range(2):
            pts = 3600 * n + 1800 * k
            packs.append((muxer.audio(audio[2 * n + k], pts), pts))
    frames = _play(PsDemuxer(), packs)
    assert [f.data for f in frames if f.kind == "audio"] == audio
    assert {f.codec for f in frames if f.kind == "audio"} == {"pcmu"}
    assert [f.pts for f in frames if f.kind == "audio"] == [0, 1800, 3600, 5400, 7200, 9000]
    assert [f.data for f in frames if f.kind == "video"] == [d for d, _ in gop]


def test_lost_packet_drops_that_frame_and_resyncs_on_next_pack() -> None:
    rng = random.Random(4)
    muxer = PsMuxer()
    gop = _h264_gop(rng, 6, 5000)
    demuxer = PsDemuxer()
    out: list[DemuxedFrame] = []
    for n, (data, _) in enumerate(gop):
        payloads = split_payloads(muxer.video(data, 3600 * n), 500)
        for i, payload in enumerate(payloads):
            if n == 2 and i == 1:
                demuxer.lost()  # the sequence number jumped: this payload never came
                continue
            out += demuxer.feed(payload, i == len(payloads) - 1, 3600 * n)
    assert [f.pts for f in out] == [0, 3600, 10800, 14400, 18000]
    assert demuxer.dropped_frames == 1


def test_lost_marker_packet_detected_from_timestamp_change() -> None:
    rng = random.Random(5)
    muxer = PsMuxer()
    gop = _h264_gop(rng, 4, 3000)
    demuxer = PsDemuxer()
    out: list[DemuxedFrame] = []
    for n, (data, _) in enumerate(gop):
        payloads = split_payloads(muxer.video(data, 3600 * n), 700)
        if n == 1:
            payloads = payloads[:-1]  # the last packet, with the marker, is lost unnoticed
        for i, payload in enumerate(payloads):
            out += demuxer.feed(payload, n != 1 and i == len(payloads) - 1, 3600 * n)
    assert [f.pts for f in out] == [0, 7200, 10800]
    assert [f.data for f in out] == [gop[0][0], gop[2][0], gop[3][0]]


def test_garbage_between_packs_is_skipped() -> None:
    rng = random.Random(6)
    muxer = PsMuxer()
    gop = _h264_gop(rng, 3, 1000)
    demuxer = PsDemuxer()
    out = demuxer.feed(b"\xff\x00\x00\x01\x13junk" * 20, False, 0)
    for n, (data, _) in enumerate(gop):
        out += demuxer.feed(muxer.video(data, 3600 * n), True, 3600 * n)
        out += demuxer.feed(bytes(rng.randrange(256) for _ in range(37)), False, 3600 * n + 1)
    assert [f.data for f in out] == [d for d, _ in gop]
    assert demuxer.dropped_bytes >= 20 * 9


def test_oversized_frame_is_dropped_and_the_next_one_decodes() -> None:
    muxer = PsMuxer()
    big = b"\x00\x00\x00\x01\x41" + b"\x11" * 70_000
    small = b"\x00\x00\x00\x01\x41" + b"\x22" * 100
    demuxer = PsDemuxer(max_frame_bytes=50_000)
    out = _play(demuxer, [(muxer.video(big, 0), 0), (muxer.video(small, 3600), 3600)])
    assert [f.data for f in out] == [small]
    assert demuxer.dropped_frames == 1


def test_muxer_refuses_frames_over_4_mib() -> None:
    try:
        PsMuxer().video(b"\x00\x00\x00\x01\x41" + bytes(4 * 1024 * 1024), 0)
    except PsError:
        return
    raise AssertionError("PsError expected")


def _pes(stream_id: int, payload: bytes, pts: int | None) -> bytes:
    if pts is None:
        header = b"\x80\x00\x00"
    else:
        header = bytes((0x80, 0x80, 5)) + bytes(
            (
                0x21 | ((pts >> 29) & 0x0E),
                (pts >> 22) & 0xFF,
                ((pts >> 14) & 0xFE) | 1,
                (pts >> 7) & 0xFF,
                ((pts << 1) & 0xFE) | 1,
            )
        )
    body = header + payload
    return b"\x00\x00\x01" + bytes((stream_id,)) + struct.pack(">H", len(body)) + body


def test_hikvision_shaped_pack_stuffing_descriptors_private_stream_one_pes_per_nal() -> None:
    # The shape Hikvision cameras send: pack header with 6 stuffing bytes (last byte 0xFE),
    # a PSM with program and elementary stream descriptors, a 0xBD private stream, and
    # SPS, PPS, SEI and IDR each in its own PES with the same PTS.
    pack = bytes.fromhex("000001ba 7fdc f9d4 8401 0147 b3fe ffff 0000 0001".replace(" ", ""))
    psm_body = bytes.fromhex(
        "e0ff 0006 0a04 656e6700"  # program_stream_info: an ISO 639 language descriptor
        "0014"  # elementary_stream_map_length 20
        "1be0 0006 0a04 656e6700"  # H.264 on 0xE0 with a 6-byte descriptor
        "90c0 0006 0a04 656e6700"  # G.711A on 0xC0
        "deadbeef".replace(" ", "")  # CRC, deliberately wrong as many cameras write it
    )
    psm = b"\x00\x00\x01\xbc" + struct.pack(">H", len(psm_body)) + psm_body
    private = b"\x00\x00\x01\xbd" + struct.pack(">H", 8) + b"\x80\x00\x00" + b"\x00" * 5
    pts = 0x1_2345_6789
    idr = b"\x00\x00\x00\x01\x65" + b"\x88" * 3000
    nals = [SPS, PPS, b"\x00\x00\x00\x01\x06\x05\x01\x80", idr]
    stream = pack + psm + private + b"".join(_pes(0xE0, nal, pts) for nal in nals)
    audio = pack + _pes(0xC0, b"\xd5" * 320, pts)
    demuxer = PsDemuxer()
    out = _play(demuxer, [(stream, 1), (audio, 2)], mtu=1024)
    assert out[0] == DemuxedFrame("video", "h264", pts, b"".join(nals), True)
    assert out[1] == DemuxedFrame("audio", "pcma", pts, b"\xd5" * 320, False)
    assert demuxer.codecs == {0xE0: "h264", 0xC0: "pcma"}


def test_unbounded_video_pes_ends_at_next_start_code_or_marker() -> None:
    nal = b"\x00\x00\x00\x01\x41" + b"\x00\x00\x01\x41" + b"\x5a" * 800
    pack = bytes.fromhex("000001ba4400040004010189c3f8")
    packs = []
    for pts in (9000, 12600):
        pes = _pes(0xE0, nal, pts)
        packs.append((pack + pes[:4] + b"\x00\x00" + pes[6:], pts))  # PES_packet_length 0
    out = _play(PsDemuxer(), packs, mtu=300)
    assert [(f.pts, f.data) for f in out] == [(9000, nal), (12600, nal)]
    # Without markers, the next pack's start code ends the unbounded PES, and the next PTS
    # ends the frame.
    demuxer = PsDemuxer()
    out = demuxer.feed(packs[0][0] + packs[1][0] + pack, False, 0)
    assert [(f.pts, f.data) for f in out] == [(9000, nal)]


def test_is_keyframe_reads_nal_types() -> None:
    assert is_keyframe("h264", SPS + PPS + b"\x00\x00\x01\x65\x88")
    assert not is_keyframe("h264", b"\x00\x00\x01\x41\x9a")
    assert is_keyframe("h265", b"\x00\x00\x01\x2a\x01")  # CRA_NUT 21
    assert not is_keyframe("h265", b"\x00\x00\x01\x02\x01")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=300), st.booleans(), st.integers(0, 3)), max_size=40))
def test_demuxer_never_raises_and_stays_bounded(
    chunks: list[tuple[bytes, bool, int]],
) -> None:
    demuxer = PsDemuxer(max_frame_bytes=4096)
    for data, marker, ts in chunks:
        for frame in demuxer.feed(b"\x00\x00\x01\xba" + data if ts == 3 else data, marker, ts):
            assert len(frame.data) <= 4096
            assert 0 <= frame.pts < 1 << 33
    assert len(demuxer._buffer) <= 4096 + 303


@settings(max_examples=50, deadline=None)
@given(st.integers(0, (1 << 33) - 1), st.integers(1, 1500), st.binary(min_size=1, max_size=5000))
def test_any_payload_split_round_trips(pts: int, mtu: int, body: bytes) -> None:
    data = b"\x00\x00\x00\x01\x41" + body.replace(b"\x00", b"\x01")
    frames = _play(PsDemuxer(), [(PsMuxer().video(data, pts), 0)], mtu)
    assert frames == [DemuxedFrame("video", "h264", pts, data, False)]
