"""GB/T 28181 media in: RTP packets carrying a program stream, back to access units.

No I/O here. `PsRtpReceiver.receive(packet)` takes one RTP packet (a UDP datagram, or one
RFC 4571 frame from TCP) and returns the video and audio frames it completed. It drops
packets of another SSRC than the one the SDP's y= line agreed (a stale stream of an earlier
session, or somebody else's), holds a few packets to put them back in sequence order, and
tells the demuxer about a gap once the missing packet is clearly lost.
"""

from __future__ import annotations

from ingest.ps import DemuxedFrame, PsDemuxer
from mediacore.rtp import RtpError, RtpPacket, is_rtcp, seq_distance

REORDER_WINDOW = 16  # packets held while waiting for a missing one (about 20 KB of video)
MAX_BACKWARD = 3000  # a jump back further than this is a restarted sender, not a late packet


class PsRtpReceiver:
    """Reorders by sequence number and demuxes PS-over-RTP (payload type 96 by default).

    `ssrc` None accepts the first SSRC seen and keeps it. The first packet sets where the
    sequence starts: a packet from before it counts as late. Counters: `packets` accepted,
    `wrong_ssrc`, `malformed`, `late` (arrived after it was given up), `duplicates`,
    `reordered` (arrived out of order but in time) and `lost`. A repeat of a packet already
    handed on counts as `late`."""

    def __init__(
        self,
        ssrc: int | None = None,
        payload_types: frozenset[int] = frozenset({96}),
        window: int = REORDER_WINDOW,
    ) -> None:
        self.ssrc = ssrc
        self.payload_types = payload_types
        self.window = max(1, window)
        self.demuxer = PsDemuxer()
        self.packets = 0
        self.wrong_ssrc = 0
        self.malformed = 0
        self.late = 0
        self.duplicates = 0
        self.reordered = 0
        self.lost = 0
        self._next: int | None = None  # the sequence number the demuxer wants next
        self._highest: int | None = None
        self._held: dict[int, RtpPacket] = {}

    def receive(self, data: bytes) -> list[DemuxedFrame]:
        """Take one datagram; returns the frames it (and the packets it released) completed.
        RTCP, malformed packets and other payload types are dropped and counted."""
        if is_rtcp(data):
            return []
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            self.malformed += 1
            return []
        if self.ssrc is None:
            self.ssrc = packet.ssrc
        if packet.ssrc != self.ssrc:
            self.wrong_ssrc += 1
            return []
        if packet.payload_type not in self.payload_types:
            self.malformed += 1
            return []
        self.packets += 1
        return self._sequence(packet)

    def _sequence(self, packet: RtpPacket) -> list[DemuxedFrame]:
        seq = packet.sequence_number
        if self._next is None:
            self._next = seq
        distance = seq_distance(seq, self._next)
        if distance < 0:
            if -distance > MAX_BACKWARD:
                self._restart(seq)  # the sender started over: follow it
            else:
                self.late += 1
                return []
        elif seq in self._held:
            self.duplicates += 1
            return []
        if self._highest is None or seq_distance(seq, self._highest) > 0:
            self._highest = seq
        elif seq != self._highest:
            self.reordered += 1  # older than one already received, yet in time
        self._held[seq] = packet
        out: list[DemuxedFrame] = []
        self._release(out)
        while len(self._held) > self.window:
            self._skip_gap(out)
        return out

    def _release(self, out: list[DemuxedFrame]) -> None:
        assert self._next is not None
        while self._next in self._held:
            packet = self._held.pop(self._next)
            out.extend(self.demuxer.feed(packet.payload, packet.marker, packet.timestamp))
            self._next = (self._next + 1) & 0xFFFF

    def _skip_gap(self, out: list[DemuxedFrame]) -> None:
        """The oldest missing packet will not come: jump to the oldest held one."""
        assert self._next is not None
        oldest = min(self._held, key=lambda s: seq_distance(s, self._next or 0))
        missing = seq_distance(oldest, self._next)
        self.lost += missing
        self.demuxer.lost()
        self._next = oldest
        self._release(out)

    def _restart(self, seq: int) -> None:
        self._held.clear()
        self.demuxer.lost()
        self._next = seq
        self._highest = seq
