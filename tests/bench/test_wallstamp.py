"""The wall benchmark's frame stamp, its RTP reassembly and its arithmetic: a stamp drawn into a
camera picture reads back after the wall's downscale and two x264 encodes, anything else
reads as unreadable; RTP packets rebuild the encoder's access units; latency and on-time
figures come out of known logs."""

from __future__ import annotations

import struct
from fractions import Fraction

import av
import numpy as np
import pytest

from bench.wallrecv import READ_RECORD, Depacketizer
from bench.wallsend import SEND_RECORD
from bench.wallsource import AUD, LoopSpec, encode_loop
from bench.wallstamp import (
    BLOCKS,
    MAX_FRAMES,
    MAX_SOURCES,
    SourcePictures,
    StampGeometry,
    StampReader,
    parse_bits,
    picture_rect,
    stamp_bits,
    write_stamp,
)
from bench.wallstats import latency, timing
from mixer.canvas import frame_from_planes, frame_planes


def test_stamp_bits_round_trip_at_the_range_ends_and_reject_bad_sync_and_parity() -> None:
    for source, frame in ((0, 0), (MAX_SOURCES - 1, MAX_FRAMES - 1), (9, 299), (16, 1)):
        bits = stamp_bits(source, frame)
        assert len(bits) == BLOCKS
        assert parse_bits(bits) == (source, frame)
    bits = stamp_bits(5, 123)
    for flipped in range(BLOCKS):  # any single wrong block: sync or parity catches it
        damaged = list(bits)
        damaged[flipped] ^= 1
        assert parse_bits(damaged) is None
    with pytest.raises(ValueError):
        stamp_bits(MAX_SOURCES, 0)


def test_a_stamp_reads_back_from_a_clean_picture_and_a_flat_one_is_unreadable() -> None:
    geometry = StampGeometry(1280, 720)
    luma = np.full((720, 1280), 90, dtype=np.uint8)
    reader = StampReader(geometry, (0, 0, 1280, 720))
    assert reader.read(luma) is None  # no stamp: no contrast between the rows
    write_stamp(luma, geometry, 7, 4000)
    assert reader.read(luma) == (7, 4000)
    assert geometry.block == 48


def _x264(width: int, height: int, fps: int, bits_per_pixel: float) -> av.CodecContext:
    """An encoder set up as the wall's outputs are (ultrafast, zerolatency, ~0.1 bit/pixel)."""
    context = av.CodecContext.create("libx264", "w")
    context.width, context.height, context.pix_fmt = width, height, "yuv420p"
    context.time_base = Fraction(1, fps)
    context.bit_rate = int(width * height * fps * bits_per_pixel)
    context.options = {"preset": "ultrafast", "tune": "zerolatency"}
    return context


@pytest.mark.parametrize(
    ("source_size", "tile"),
    [
        ((1280, 720), (640, 360)),
        ((1280, 720), (960, 540)),
        ((640, 360), (960, 540)),
        ((1280, 720), (480, 360)),
    ],
)
def test_stamps_survive_a_camera_encode_the_walls_downscale_and_the_output_encode(
    source_size: tuple[int, int], tile: tuple[int, int]
) -> None:
    width, height = source_size
    fps, frames = 25, 30
    camera = encode_loop(LoopSpec(3, width, height, fps, frames))
    assert all(unit[:5] == AUD[:5] for unit in camera)  # the relay trick needs them
    decoder = av.CodecContext.create("h264", "r")
    pictures = [f for unit in camera for f in decoder.decode(av.Packet(unit))]
    assert len(pictures) == frames
    # the wall: a canvas with the source letterboxed in a tile away from the origin
    canvas_w, canvas_h = tile[0] * 2, tile[1] * 2
    box = (tile[0], tile[1], tile[0], tile[1])
    px, py, pw, ph = picture_rect(box, width, height)
    output = _x264(canvas_w, canvas_h, fps, 0.1)
    wall_out = av.CodecContext.create("h264", "r")
    received = []
    for k, picture in enumerate(pictures):
        scaled = frame_planes(picture.reformat(pw, ph, format="yuv420p", interpolation="BILINEAR"))
        y = np.full((canvas_h, canvas_w), 16, dtype=np.uint8)
        u = np.full((canvas_h // 2, canvas_w // 2), 128, dtype=np.uint8)
        v = u.copy()
        y[py : py + ph, px : px + pw] = scaled[0]
        u[py // 2 : (py + ph) // 2, px // 2 : (px + pw) // 2] = scaled[1]
        v[py // 2 : (py + ph) // 2, px // 2 : (px + pw) // 2] = scaled[2]
        frame = frame_from_planes(y, u, v)
        frame.pts = k
        for packet in output.encode(frame):
            received += wall_out.decode(packet)
    for packet in output.encode(None):
        received += wall_out.decode(packet)
    reader = StampReader(StampGeometry(width, height), (px, py, pw, ph))
    assert [reader.read(frame_planes(f)[0]) for f in received] == [(3, k) for k in range(frames)]
    # the tile next to it (black, no picture) is unreadable, never read as a stamp
    elsewhere = StampReader(StampGeometry(width, height), (0, 0, pw, ph))
    assert all(elsewhere.read(frame_planes(f)[0]) is None for f in received)


def test_test_pictures_differ_per_source_and_move_from_frame_to_frame() -> None:
    a, b = SourcePictures(0, 640, 360, 50), SourcePictures(1, 640, 360, 50)
    assert (a.u, a.v) != (b.u, b.v)
    first, second = a.planes(0)[0], a.planes(1)[0]
    below_stamp = slice(200, 360)
    assert np.abs(first[below_stamp].astype(int) - second[below_stamp]).mean() > 10


def _rtp(seq: int, ts: int, payload: bytes, marker: bool) -> bytes:
    header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | 96, seq, ts & 0xFFFFFFFF, 1)
    return header + payload


def _packetize(unit: bytes, mtu: int = 1200) -> list[tuple[bytes, bool]]:
    """RFC 6184 the simple way: small NAL units as one STAP-A, big ones as FU-A."""
    nals = [n for n in unit.split(b"\x00\x00\x00\x01") if n]
    small = [n for n in nals if len(n) < 200]
    out: list[bytes] = []
    if small:
        out.append(b"\x18" + b"".join(struct.pack("!H", len(n)) + n for n in small))
    for nal in (n for n in nals if len(n) >= 200):
        body, header = nal[1:], nal[0]
        chunks = [body[i : i + mtu] for i in range(0, len(body), mtu)]
        for i, chunk in enumerate(chunks):
            fu = (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0) | (header & 0x1F)
            out.append(bytes([(header & 0xE0) | 28, fu]) + chunk)
    return [(p, i == len(out) - 1) for i, p in enumerate(out)]


def test_rtp_packets_rebuild_each_access_unit_and_a_lost_packet_is_counted() -> None:
    units = encode_loop(LoopSpec(0, 640, 360, 25, 25))[:3]
    units = [
        u.replace(b"\x00\x00\x01", b"\x00\x00\x00\x01").replace(
            b"\x00\x00\x00\x00\x01", b"\x00\x00\x00\x01"
        )
        for u in units
    ]
    depacketizer = Depacketizer()
    seq, rebuilt = 100, []
    for i, unit in enumerate(units):
        for payload, marker in _packetize(unit):
            done = depacketizer.push(_rtp(seq, 0xFFFFF000 + 3600 * i, payload, marker), float(i))
            seq += 1
            if done is not None:
                rebuilt.append(done)
    assert [r[2] for r in rebuilt] == units
    # the 32-bit timestamp wraps after the second unit; the receiver counts on
    assert [r[0] for r in rebuilt] == [0xFFFFF000 + 3600 * i for i in range(3)]
    assert depacketizer.lost == 0 and not any(r[3] for r in rebuilt)
    packets = _packetize(units[0])
    assert len(packets) > 2
    for number, (payload, marker) in enumerate(packets):
        if number != 1:  # the second packet never came
            done = depacketizer.push(_rtp(seq + number, 0, payload, marker), 9.0)
    assert depacketizer.lost == 1 and done is not None and done[3]  # damaged


def _sends(rows: list[tuple[int, int, float]]) -> np.ndarray:
    return np.array(rows, dtype=SEND_RECORD)


def _reads(rows: list[tuple[int, float, int, int, int]]) -> np.ndarray:
    return np.array(rows, dtype=READ_RECORD)


def test_latency_is_first_arrival_of_the_newest_frame_with_that_index() -> None:
    loop = 10  # frames per loop: frame 12 carries k = 2
    sends = _sends([(0, n, 100.0 + n * 0.04) for n in range(20)])
    reads = _reads(
        [
            (0, 100.50, 0, 0, 2),  # frame 12 (sent 100.48): 20 ms, not frame 2 from the last loop
            (3600, 100.54, 0, 0, 2),  # the same picture again: a repeat, age 60 ms
            (7200, 100.58, 0, -1, -1),  # unreadable
            (7200, 100.58, 1, 0, 3),  # tile 1 shows source 1, not 0: wrong source
            (10800, 100.62, 0, 0, 4),  # frame 14 (sent 100.56): 60 ms
        ]
    )
    found = latency(
        reads, sends, loop_frames=loop, tile_sources={0: 0, 1: 1}, start=100.0, end=101.0
    )
    assert found["latency_ms"]["count"] == 2
    assert found["latency_ms"]["p50"] == pytest.approx(40.0, abs=0.1)  # (20 + 60) / 2
    assert found["latency_ms"]["max"] == pytest.approx(60.0, abs=0.1)
    assert found["repeats"] == 1 and found["unreadable"] == 1 and found["wrong_source"] == 1
    assert found["age_ms"]["count"] == 3
    shape = found["cdf_ms"]
    assert shape[0] == (0.0, pytest.approx(20.0, abs=0.1))
    assert shape[-1] == (100.0, pytest.approx(60.0, abs=0.1))


def test_on_time_counts_late_and_missing_output_frames_against_their_ticks() -> None:
    fps, step = 25, 3600
    rows = []
    for tick in range(100):
        if tick == 50:
            continue  # the wall skipped it
        late = 0.1 if tick == 70 else 0.0  # 100 ms late: over one 40 ms period
        rows.append((tick * step, 10.0 + 0.03 + tick / fps + late, 0, 0, tick))
    found = timing(_reads(rows), fps=fps, start=10.0, end=14.1)
    assert found["frames"] == 99 and found["expected_frames"] == 100
    assert found["missing_frames"] == 1 and found["late_frames"] == 1
    assert found["on_time_percent"] == pytest.approx(98.0)
    assert found["fps"] == pytest.approx(99 / 4.1, abs=0.01)


def test_a_picture_first_shown_before_the_window_is_a_repeat_inside_it() -> None:
    sends = _sends([(0, n, 100.0 + n * 0.04) for n in range(10)])
    reads = _reads([(0, 100.45, 0, 0, 9), (3600, 100.49, 0, 0, 9)])  # sent 100.36
    found = latency(reads, sends, loop_frames=100, tile_sources={0: 0}, start=100.47, end=101)
    assert found["latency_ms"]["count"] == 0  # its first showing (90 ms) was before the window
    assert found["repeats"] == 1 and found["age_ms"]["max"] == pytest.approx(130.0, abs=0.1)
