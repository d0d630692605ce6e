"""A wall's rtp output sent by our own socket: RTP to the port, RTCP to the next, timestamps on
the machine's clock, and a reopened (or restarted) output going on as the same stream."""

from __future__ import annotations

import socket
from fractions import Fraction

import av
import numpy as np

from mixer.rtpout import CLOCK_RATE, RtpSocketWriter, is_rtcp, restamp
from mixer.walltransport import ContainerTransport, RtpStart

RTP = bytes([0x80, 0xE0, 0x12, 0x34]) + (1000).to_bytes(4, "big") + bytes(4) + b"payload"
# an RTCP sender report: header, SSRC, NTP time (8 bytes), RTP time, counts
SR = bytes([0x80, 200, 0, 6]) + bytes(4) + bytes(8) + (1000).to_bytes(4, "big") + bytes(8)


def test_restamp_moves_the_rtp_time_of_rtp_and_sender_reports_alike() -> None:
    packet = bytearray(RTP)
    assert restamp(packet, 500) == 0x1234
    assert int.from_bytes(packet[4:8], "big") == 1500 and packet[8:] == RTP[8:]
    report = bytearray(SR)
    assert restamp(report, 2**32 - 1000) is None  # wraps around 2^32
    assert int.from_bytes(report[16:20], "big") == 0 and report[:16] == SR[:16]
    assert is_rtcp(SR) and not is_rtcp(RTP) and not is_rtcp(b"\x80")
    short = bytearray(RTP[:8])
    assert restamp(short, 5) is None and short == RTP[:8]


def _receivers() -> tuple[socket.socket, socket.socket, int]:
    for _ in range(50):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind(("127.0.0.1", 0))
        port = rtp.getsockname()[1]
        if port % 2:
            rtp.close()
            continue
        rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            rtcp.bind(("127.0.0.1", port + 1))
        except OSError:
            rtp.close()
            continue
        rtp.settimeout(2)
        rtcp.settimeout(2)
        return rtp, rtcp, port
    raise AssertionError("no free port pair")


def test_the_writer_sends_rtp_and_rtcp_to_their_ports_on_the_clock() -> None:
    rtp, rtcp, port = _receivers()
    writer = RtpSocketWriter("127.0.0.1", port, clock=lambda: 100.0)
    try:
        writer.write(SR)  # FFmpeg's muxer begins with a sender report
        writer.write(RTP)
        report, packet = rtcp.recv(2048), rtp.recv(2048)
    finally:
        writer.close()
        rtp.close()
        rtcp.close()
    on_clock = 100 * CLOCK_RATE
    assert int.from_bytes(report[16:20], "big") == on_clock
    assert int.from_bytes(packet[4:8], "big") == on_clock  # same muxer time, same clock time
    assert writer.last_seq == 0x1234 and writer.packets == 1


def _pictures(count: int) -> list[av.VideoFrame]:
    frames = []
    for index in range(count):
        picture = np.full((72, 128, 3), (200, 30, 30), np.uint8)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = index * 3600, Fraction(1, CLOCK_RATE)
        frames.append(frame)
    return frames


def _send(transport: ContainerTransport, count: int) -> None:
    transport.open()
    for frame in _pictures(count):
        transport.send(frame)


def test_a_reopened_rtp_output_goes_on_with_its_ssrc_and_the_next_sequence_number() -> None:
    rtp, rtcp, port = _receivers()
    start = RtpStart(ssrc=0xCAFEF00D, seq=65530)  # wraps during the test
    transport = ContainerTransport("rtp", f"rtp://127.0.0.1:{port}", 128, 72, 25, rtp_start=start)
    packets: list[bytes] = []
    try:
        _send(transport, 5)
        transport.close()  # the link failed: the output reconnects
        _send(transport, 5)
        transport.close()
        rtp.settimeout(0.5)
        while True:
            try:
                packets.append(rtp.recv(2048))
            except TimeoutError:
                break
    finally:
        rtp.close()
        rtcp.close()
    assert packets
    assert {int.from_bytes(p[8:12], "big") for p in packets} == {0xCAFEF00D}
    numbers = [int.from_bytes(p[2:4], "big") for p in packets]
    assert numbers[0] == 65530
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(numbers, numbers[1:], strict=False))
    assert transport.rtp_start == RtpStart(0xCAFEF00D, (numbers[-1] + 1) & 0xFFFF)
