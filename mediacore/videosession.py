"""The RTP state of one SIP or plain RTP leg's video stream, with no I/O.

Receiving: RTP from the peer is depayloaded and reassembled into whole frames by aiortc's own
pieces, the ones its WebRTC receiver uses (`aiortc.codecs.depayload`: RFC 6184 single NAL unit,
STAP-A and FU-A into Annex B; RFC 7741 VP8; `aiortc.jitterbuffer.JitterBuffer`, which hands a
frame out once the next one starts and every packet of it is there). Losses are NACKed once when
the peer offered `nack`; a broken frame run makes a keyframe request (PLI, else FIR).

Sending: `packetize(data, pts)` cuts one encoded frame into RTP with aiortc's packetizers
(`H264Encoder.pack`, `Vp8Encoder.pack`), at our SSRC, the negotiated payload type and a
timestamp line that stays continuous when the picture switches source; the last 512 packets are
kept to answer the peer's NACKs.

RTCP: `receive` reads PLI/FIR (-> `KeyframeWanted`), NACK (answered in `to_send`), TMMBR and
REMB (-> `BitrateLimited`, TMMBR acknowledged by TMMBN); `keyframe_request()`, `report(now)` and
`bye()` build ours. Datagrams to send wait in `to_send()`.
"""

from __future__ import annotations

import collections
import secrets
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
from aiortc.codecs import depayload
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket as AiortcRtpPacket

from mediacore.rtcp import (
    Bye,
    ReceiverReport,
    RtcpError,
    RtcpPacket,
    SenderReport,
    SourceDescription,
    ntp_from_unix,
    parse_compound,
    serialize_compound,
)
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
from mediacore.rtp import RtpError, RtpPacket, build_rtp, is_rtcp
from mediacore.videohub import CLOCK_RATE, codec_parameters
from mediacore.videosdp import VideoNegotiation

Addr = tuple[str, int]
MAX_DATAGRAM = 1500 * 8
HISTORY = 512
JITTER_CAPACITY = 512  # packets: a 1080p keyframe is a few hundred
MAX_NACK_GAP = 64  # a bigger gap is a new stream or a long outage: ask for a keyframe instead
_FRAME_TICKS = CLOCK_RATE // 30
_SECONDS = Fraction(1, CLOCK_RATE)


@dataclass(frozen=True, slots=True)
class FrameReceived:
    """A whole encoded frame from the peer: Annex B H.264 or a VP8 frame, 90 kHz timestamp
    counted from the stream's first packet."""

    codec: RTCRtpCodecParameters
    data: bytes
    timestamp: int


@dataclass(frozen=True, slots=True)
class KeyframeWanted:
    """The peer asked for a keyframe of what we send (PLI or FIR)."""

    kind: str


@dataclass(frozen=True, slots=True)
class BitrateLimited:
    """The peer asked us to send at most `bitrate` bit/s (TMMBR or REMB)."""

    bitrate: int
    kind: str


VideoEvent = FrameReceived | KeyframeWanted | BitrateLimited


class VideoSession:
    """One video stream's RTP and RTCP, both directions. `now` is the owner's clock (seconds);
    `wall_offset` turns it into Unix time for sender reports."""

    def __init__(
        self,
        negotiation: VideoNegotiation,
        *,
        now: float,
        wall_offset: float = 0.0,
        ssrc: int | None = None,
        nat: bool = False,
        latch_window: float = 10.0,
    ) -> None:
        self.ssrc = ssrc if ssrc is not None else secrets.randbits(32)
        self.negotiation = negotiation
        self.remote: Addr = (negotiation.remote_address, negotiation.remote_port)
        self.remote_rtcp: Addr = negotiation.remote_rtcp or self.remote
        self.nat = nat
        self.dropped: Counter[str] = Counter()
        self.packets_received = 0
        self.packets_sent = 0
        self.octets_sent = 0
        self.frames_received = 0
        self.frames_sent = 0
        self.nacks_received = 0
        self.retransmitted = 0
        self.nacks_sent = 0
        self.keyframe_requests_received = 0
        self.keyframe_requests_sent = 0
        self.bitrate_limit: BitrateLimit | None = None
        self.remote_ssrc: int | None = None
        self._wall_offset = wall_offset
        self._latch_until = now + latch_window
        self._latched = False
        self._codec = codec_parameters(negotiation.codec)
        self._jitter = JitterBuffer(JITTER_CAPACITY, is_video=True)
        self._first_timestamp: int | None = None
        self._expected_seq: int | None = None
        self._highest_seq = 0
        self._packer: H264Encoder | Vp8Encoder = (
            H264Encoder() if negotiation.codec == "H264" else Vp8Encoder()
        )
        self._sequence = secrets.randbits(16)
        self._timestamp_base = secrets.randbits(32)
        self._last_pts: int | None = None
        self._pts_offset = 0
        self._last_timestamp = 0
        self._fir_sequence = 0
        self._history: collections.OrderedDict[int, bytes] = collections.OrderedDict()
        self._outbox: list[tuple[bytes, Addr]] = []

    def use(self, negotiation: VideoNegotiation) -> None:
        """New terms for the same codec and payload type (a re-INVITE): peer address and
        direction; the SSRC, sequence numbers and timestamps go on."""
        if (negotiation.remote_address, negotiation.remote_port) != (
            self.negotiation.remote_address,
            self.negotiation.remote_port,
        ):
            self.remote = (negotiation.remote_address, negotiation.remote_port)
            self._latched = False
        self.remote_rtcp = negotiation.remote_rtcp or self.remote
        self.negotiation = negotiation

    # -- receiving --------------------------------------------------------------------------

    def receive(self, data: bytes, source: Addr, now: float) -> list[VideoEvent]:
        """One datagram from `source` (RTP, or RTCP when muxed or on the RTCP port); returns
        what it meant. Bad datagrams are counted in `dropped`, never raised."""
        if not 12 <= len(data) <= MAX_DATAGRAM:
            self.dropped["size"] += 1
            return []
        source = (source[0], source[1])
        if is_rtcp(data):
            if source[0] != self.remote[0] and not self._may_latch(now):
                self.dropped["unknown-source"] += 1
                return []
            return self._receive_rtcp(data, now)
        if source != self.remote:
            if not self._may_latch(now):
                self.dropped["unknown-source"] += 1
                return []
            self.remote = source  # a NAT peer, seen at its real address
            if self.negotiation.rtcp_mux or self.negotiation.remote_rtcp is None:
                self.remote_rtcp = source
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            self.dropped["malformed"] += 1
            return []
        if packet.payload_type != self.negotiation.payload_type:
            self.dropped["payload-type"] += 1
            return []
        if not self.negotiation.receives:
            self.dropped["not-receiving"] += 1
            return []
        try:
            payload = depayload(self._codec, packet.payload)
        except (ValueError, IndexError):
            self.dropped["malformed"] += 1
            return []
        self._latched = True
        self.packets_received += 1
        if packet.ssrc != self.remote_ssrc:
            self._new_stream(packet.ssrc)
        self._track_losses(packet.sequence_number)
        queued = AiortcRtpPacket(
            payload_type=packet.payload_type,
            marker=int(packet.marker),
            sequence_number=packet.sequence_number,
            timestamp=packet.timestamp,
            ssrc=packet.ssrc,
            payload=packet.payload,
        )
        queued._data = payload  # type: ignore[attr-defined]  # what aiortc's buffer joins
        broken, frame = self._jitter.add(queued)
        if broken:
            self.request_keyframe()
        if frame is None:
            return []
        if self._first_timestamp is None:
            self._first_timestamp = frame.timestamp
        self.frames_received += 1
        timestamp = (frame.timestamp - self._first_timestamp) & 0xFFFFFFFF
        return [FrameReceived(self._codec, frame.data, timestamp)]

    def _may_latch(self, now: float) -> bool:
        return self.nat and not self._latched and now < self._latch_until

    def _new_stream(self, ssrc: int) -> None:
        self.remote_ssrc = ssrc
        self._jitter = JitterBuffer(JITTER_CAPACITY, is_video=True)
        self._expected_seq = None

    def _track_losses(self, seq: int) -> None:
        expected = self._expected_seq
        if expected is None:
            self._expected_seq = (seq + 1) & 0xFFFF
            return
        gap = (seq - expected) & 0xFFFF
        if gap >= 0x8000:
            return  # late or repeated: the jitter buffer places it
        self._expected_seq = (seq + 1) & 0xFFFF
        if gap == 0:
            return
        if gap > MAX_NACK_GAP or "nack" not in self.negotiation.feedback:
            return  # the jitter buffer will ask for a keyframe when the frame cannot complete
        lost = [(expected + i) & 0xFFFF for i in range(gap)]
        self.nacks_sent += 1
        self._send_rtcp([nack_packet(self.ssrc, self.remote_ssrc or 0, lost)])

    def _receive_rtcp(self, data: bytes, now: float) -> list[VideoEvent]:
        try:
            packets = parse_compound(data)
        except RtcpError:
            self.dropped["malformed-rtcp"] += 1
            return []
        events: list[VideoEvent] = []
        for feedback in read_feedback(packets):
            if isinstance(feedback, KeyframeRequest):
                self.keyframe_requests_received += 1
                events.append(KeyframeWanted(feedback.kind))
            elif isinstance(feedback, Nack):
                self._retransmit(feedback.lost)
            elif isinstance(feedback, BitrateLimit):
                self.bitrate_limit = feedback
                if feedback.kind == "tmmbr":
                    self._send_rtcp([tmmbn_packet(self.ssrc, feedback)])
                events.append(BitrateLimited(feedback.bitrate, feedback.kind))
        return events

    def _retransmit(self, lost: tuple[int, ...]) -> None:
        self.nacks_received += 1
        for seq in lost:
            datagram = self._history.get(seq)
            if datagram is not None:
                self.retransmitted += 1
                self._outbox.append((datagram, self.remote))

    # -- sending ----------------------------------------------------------------------------

    def packetize(self, data: bytes, pts: int | None) -> None:
        """Queue one encoded frame (`pts` in 90 kHz, None: one frame after the last) as RTP."""
        if not self.negotiation.sends:
            return
        timestamp = self._timestamp(pts)
        packet: av.Packet[Any] = av.Packet(data)
        packet.pts = 0
        packet.time_base = _SECONDS
        payloads, _ = self._packer.pack(packet)
        for index, payload in enumerate(payloads):
            datagram = build_rtp(
                self.negotiation.payload_type,
                self._sequence,
                timestamp,
                self.ssrc,
                payload,
                marker=index == len(payloads) - 1,
            )
            self._history[self._sequence] = datagram
            if len(self._history) > HISTORY:
                self._history.popitem(last=False)
            self._sequence = (self._sequence + 1) & 0xFFFF
            self.packets_sent += 1
            self.octets_sent += len(payload)
            self._outbox.append((datagram, self.remote))
        self.frames_sent += 1

    def _timestamp(self, pts: int | None) -> int:
        """Our RTP timestamp for a frame: the source's pts, shifted so that a jump (a new
        source, a restart) continues one frame after the last one sent."""
        if pts is None:
            pts = (self._last_pts or 0) + _FRAME_TICKS
        shifted = pts + self._pts_offset
        if self._last_pts is not None and not 0 <= shifted - self._last_pts <= 10 * CLOCK_RATE:
            self._pts_offset = self._last_pts + _FRAME_TICKS - pts
            shifted = self._last_pts + _FRAME_TICKS
        self._last_pts = shifted
        self._last_timestamp = (self._timestamp_base + shifted) & 0xFFFFFFFF
        return self._last_timestamp

    # -- RTCP -------------------------------------------------------------------------------

    def request_keyframe(self) -> None:
        """Ask the peer for a keyframe: PLI, or FIR when it offered only `ccm fir`."""
        feedback = self.negotiation.feedback
        media = self.remote_ssrc or 0
        self.keyframe_requests_sent += 1
        if "ccm fir" in feedback and "nack pli" not in feedback:
            self._fir_sequence += 1
            self._send_rtcp([fir_packet(self.ssrc, media, self._fir_sequence)])
        else:
            self._send_rtcp([pli_packet(self.ssrc, media)])

    def report(self, now: float) -> None:
        """Queue a sender report (receiver report while we send nothing) with our CNAME."""
        self._send_rtcp([], now)

    def bye(self) -> bytes:
        """An RTCP BYE for our SSRC (the caller sends it as the stream ends)."""
        return serialize_compound([ReceiverReport(self.ssrc), Bye([self.ssrc])])

    def _send_rtcp(self, feedback: list[RtcpPacket], now: float | None = None) -> None:
        first: RtcpPacket
        if now is not None and self.packets_sent:
            ntp = ntp_from_unix(now + self._wall_offset)
            first = SenderReport(
                self.ssrc, ntp, self._last_timestamp, self.packets_sent & 0xFFFFFFFF,
                self.octets_sent & 0xFFFFFFFF,
            )  # fmt: skip
        else:
            first = ReceiverReport(self.ssrc)
        cname = SourceDescription([(self.ssrc, [(1, b"mediacore")])])
        datagram = serialize_compound([first, cname, *feedback])
        self._outbox.append((datagram, self.remote_rtcp))

    def to_send(self) -> list[tuple[bytes, Addr]]:
        """The datagrams queued since the last call, with where each goes."""
        out, self._outbox = self._outbox, []
        return out
