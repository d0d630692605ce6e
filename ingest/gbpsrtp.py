"""Media out to an upper platform: PS over RTP with the SSRC its INVITE asked for. No I/O.

Two ways in: a device channel's packets, relayed as they come with only their SSRC rewritten
to the upper platform's y= (the device's program stream, sequence numbers and timestamps are
left as they are), and our own encoded H.264 (a wall's picture), muxed into a program stream
(ingest.ps.PsMuxer) and cut into RTP packets of payload type 96.
"""

from __future__ import annotations

import secrets

from ingest.ps import PsMuxer, split_payloads
from mediacore.rtp import build_rtp

PS_PAYLOAD_TYPE = 96
RTP_PAYLOAD = 1400


def with_ssrc(packet: bytes, ssrc: int) -> bytes | None:
    """`packet` (RTP version 2) carrying `ssrc` instead of its own; None when it is no RTP."""
    if len(packet) < 12 or packet[0] >> 6 != 2:
        return None
    return packet[:8] + ssrc.to_bytes(4, "big") + packet[12:]


class PsRtpPacketizer:
    """Annex B access units in, RTP packets of one program stream out (video only)."""

    def __init__(self, ssrc: int, codec: str = "h264", payload_size: int = RTP_PAYLOAD) -> None:
        self.ssrc = ssrc
        self.payload_size = payload_size
        self.muxer = PsMuxer(codec, None)
        self.sequence = secrets.randbelow(0x10000)
        self.packets_sent = 0

    def packets(self, annexb: bytes, pts: int) -> list[bytes]:
        """One access unit at `pts` (90 kHz) as RTP packets; the last one carries the marker."""
        payloads = split_payloads(self.muxer.video(annexb, pts), self.payload_size)
        out = []
        timestamp = pts & 0xFFFFFFFF
        for index, payload in enumerate(payloads):
            marker = index == len(payloads) - 1
            out.append(
                build_rtp(PS_PAYLOAD_TYPE, self.sequence, timestamp, self.ssrc, payload, marker)
            )
            self.sequence = (self.sequence + 1) & 0xFFFF
        self.packets_sent += len(out)
        return out
