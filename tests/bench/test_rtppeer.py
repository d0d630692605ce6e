"""The benchmarks' RTP peer keeps RTCP on the RTP port (RFC 5761) out of the audio it reads."""

from __future__ import annotations

from bench.rtppeer import RtpPeer
from mediacore.codecs import PCMU
from mediacore.rtp import build_rtp


def test_a_sender_report_on_the_rtp_port_is_counted_not_read_as_audio() -> None:
    peer = RtpPeer(PCMU)
    sender_report = bytes([0x80, 200, 0x00, 0x06]) + bytes(24)  # SR, length 6, no blocks
    peer.datagram_received(sender_report, ("127.0.0.1", 5004))
    peer.datagram_received(build_rtp(0, 7, 160, 1234, bytes(160)), ("127.0.0.1", 5004))
    assert peer.rtcp_received == 1 and peer.received_count == 1
    assert [a.sequence_number for a in peer.arrivals] == [7]
