"""One RTP audio session, sans-I/O: what a received datagram means, and what to send.

The socket owner (`rtpsession.RtpLeg`) feeds every datagram to `receive(data, source, now)` and
acts on the returned events; for each audio packet it sends it takes the numbers from
`stamp(tick)` and sends to `remote`; RTCP comes from `report(now)` and `bye(reason, now)`, sent
where `rtcp_destination()` says. Nothing here reads a clock or touches a socket, so tests drive
it with plain floats, as sip/transaction.py is driven.

Latching: media goes to the address in the SDP, and only packets from that address are taken.
A leg marked as behind NAT (`nat=True`) may move once to where its peer's packets really come
from, but only within LATCH_WINDOW seconds of the offer/answer, only for a packet of the
negotiated audio payload type (and the peer's SSRC once known) and, with SRTP, only for one
that authenticates. Everything from other addresses is dropped and counted ("unknown-source"):
a stranger sending to the leg's port is never heard and never takes the leg over.

SRTP (SDES keys in the negotiation): every datagram is authenticated and decrypted before it is
read, and `protect`/`protect_rtcp` encrypt what the owner sends. Anything that is not our
payload type, DTMF, comfort noise or RTCP is dropped and counted (unless the owner takes it:
`OtherPayload`); the room never sees it."""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from mediacore.codecs import registry
from mediacore.codecs.base import CodecInfo
from mediacore.dtmf import DtmfDigit, DtmfReceiver
from mediacore.endpoint import OutputFormat, output_format
from mediacore.offeranswer import AudioNegotiation
from mediacore.playout import AudioPlayout
from mediacore.rtcp import (
    Bye,
    ReceiverReport,
    RtcpError,
    RtcpPacket,
    SenderReport,
    SourceDescription,
    middle_32,
    ntp_from_unix,
    parse_compound,
    round_trip_time,
    serialize_compound,
)
from mediacore.rtp import MAX_DATAGRAM, RtpError, RtpPacket, is_rtcp
from mediacore.rtpstats import ReceptionStatistics
from mediacore.srtp import SrtpError, SrtpTransform

log = logging.getLogger(__name__)

COMFORT_NOISE_PT = 13
MIN_DATAGRAM = 8  # an RTCP receiver report without blocks; RTP's 12-byte header is parsed later
# A leg behind NAT may latch onto its peer's real address this long after offer/answer.
LATCH_WINDOW = 10.0

Addr = tuple[Any, ...]


# -- what a received datagram was ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AudioReceived:
    """A packet of our audio payload type, already in the jitter buffer and the statistics."""

    packet: RtpPacket


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    """An RFC 4733 digit, once per key press."""

    digit: DtmfDigit


@dataclass(frozen=True, slots=True)
class OtherPayload:
    """A packet of a payload type negotiated for neither audio, DTMF nor comfort noise. The
    owner either takes it (a radio keep-alive) and calls `accept_source(source, now)`, or calls
    `drop("payload-type")`."""

    packet: RtpPacket
    source: Addr


@dataclass(frozen=True, slots=True)
class SourceLatched:
    """Media now goes to `source`, where the peer's packets really come from."""

    source: Addr


RtpEvent = AudioReceived | DtmfReceived | OtherPayload | SourceLatched


class AudioSession:
    """The state of one audio leg's RTP: codec and jitter buffer, latching, sequence numbers and
    timestamps, statistics, DTMF and RTCP.

    `now` is any monotonic scale (seconds); `wall_offset` turns it into Unix time for RTCP's NTP
    timestamps (`time.time() - now` when the session starts; 0 in tests)."""

    def __init__(
        self,
        negotiation: AudioNegotiation,
        *,
        room_rate: int,
        tick_ms: int,
        timeout: float,
        now: float,
        wall_offset: float = 0.0,
        nat: bool = False,
    ) -> None:
        self.timeout = timeout
        self.nat = nat
        self.room_rate = room_rate
        self.tick_ms = tick_ms
        self.wall_offset = wall_offset
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.sequence = int.from_bytes(os.urandom(2), "big")
        self.timestamp_base = int.from_bytes(os.urandom(4), "big")
        self._first_tick: int | None = None
        self._last_tick = 0
        self._remote: Addr | None = None
        self._sdp_remote: Addr | None = None
        self._latched = False
        self._latch_until = now + LATCH_WINDOW
        self._srtp: SrtpTransform | None = None
        self._codec: CodecInfo | None = None
        self.reception = ReceptionStatistics()
        self.dtmf = DtmfReceiver()
        self.dropped: Counter[str] = Counter()
        self.packets_received = 0
        self.packets_sent = 0
        self.bytes_sent = 0
        self.rtcp_received = 0
        self.round_trip: float | None = None
        self._remote_ssrc: int | None = None
        self._last_received = now  # the timeout counts from the session's start
        self._last_sr: tuple[int, float] | None = None  # (LSR middle 32 bits, arrival time)
        self._rtcp_source: Addr | None = None
        self.use(negotiation)

    # -- offer/answer ---------------------------------------------------------------------

    def use(self, negotiation: AudioNegotiation) -> None:
        """Take what offer/answer agreed: codec, packet time, direction and the peer's address.

        A new codec gets a fresh decoder and starts a new timestamp line."""
        self.negotiation = negotiation
        codec = negotiation.codec
        if codec != self._codec:
            self._codec = codec
            self._units_per_tick = codec.clock_rate * self.tick_ms // 1000
            self.playout = AudioPlayout(
                codec, registry.new_decoder(codec), self.room_rate, self.tick_ms
            )
            self._first_tick = None
        self.receives = negotiation.direction in ("sendrecv", "recvonly")
        self.sends = negotiation.direction in ("sendrecv", "sendonly")
        self.format: OutputFormat = output_format(codec, _sending_ptime(negotiation))
        address, port = negotiation.remote_address, negotiation.remote_port
        if port and address not in ("0.0.0.0", "::") and (address, port) != self._sdp_remote:
            self._sdp_remote = self._remote = (address, port)  # a new peer address: latch anew
            self._latched = False
        keys = negotiation.srtp
        if keys is None:
            self._srtp = None
        elif self._srtp is None or self._srtp.keys != keys:
            self._srtp = SrtpTransform(keys)  # the same keys keep their rollover counters

    def renegotiate(self, negotiation: AudioNegotiation, now: float) -> None:
        """A new offer/answer (re-INVITE, UPDATE, an answer to our offer): `use` it; the
        timeout restarts with the new session, and so does a NAT leg's latching window."""
        self.use(negotiation)
        self._last_received = now
        if not self._latched:
            self._latch_until = now + LATCH_WINDOW

    # -- receiving ------------------------------------------------------------------------

    def receive(self, data: bytes, source: Addr, now: float) -> list[RtpEvent]:
        """One datagram from `source` (RTP or RTCP); returns what it meant to the owner.

        Bad datagrams are counted in `dropped` by reason, never raised."""
        if len(data) > MAX_DATAGRAM or len(data) < MIN_DATAGRAM:
            self.dropped["size"] += 1
            return []
        source = source[:2]
        if is_rtcp(data):
            # Without rtcp-mux RTCP comes from the peer's next port: check the host only.
            remote = self._remote
            if remote is None or source[0] != remote[0]:
                self.dropped["unknown-source"] += 1
                return []
            data = self._unprotect(data, rtcp=True)
            if data:
                self._receive_rtcp(data, source, now)
            return []
        from_peer = source == self._remote
        if not from_peer and not self._may_latch(now):
            self.dropped["unknown-source"] += 1
            return []
        data = self._unprotect(data, rtcp=False)
        if not data:
            return []
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            self.dropped["malformed"] += 1
            return []
        negotiation = self.negotiation
        events: list[RtpEvent] = []
        if not from_peer:
            if not self._latches(packet):
                self.dropped["unknown-source"] += 1
                return []
            self._latched = False  # a NAT leg's peer, seen at its real address
        if packet.payload_type == negotiation.payload_type:
            self._latch(events, source, now)
            self._receive_audio(packet, now)
            events.append(AudioReceived(packet))
        elif packet.payload_type == negotiation.telephone_event_pt:
            self._latch(events, source, now)
            digit = self._receive_dtmf(packet)
            if digit is not None:
                events.append(DtmfReceived(digit))
        elif packet.payload_type == COMFORT_NOISE_PT:
            self._latch(events, source, now)
        else:
            events.append(OtherPayload(packet, source))
        return events

    def _may_latch(self, now: float) -> bool:
        """Whether a packet from an address other than the peer's may move the leg: a NAT leg
        within its window only."""
        return self.nat and self._sdp_remote is not None and now < self._latch_until

    def _latches(self, packet: RtpPacket) -> bool:
        """Whether a (NAT leg's, authenticated) packet from a new address is its peer's: the
        negotiated audio payload type, and the peer's SSRC once we know it."""
        if packet.payload_type != self.negotiation.payload_type:
            return False
        return self._remote_ssrc is None or packet.ssrc == self._remote_ssrc

    def _unprotect(self, data: bytes, *, rtcp: bool) -> bytes:
        """The plain packet; b"" (counted "srtp-auth") when SRTP is on and it fails."""
        transform = self._srtp
        if transform is None:
            return data
        try:
            return transform.unprotect_rtcp(data) if rtcp else transform.unprotect(data)
        except SrtpError:
            self.dropped["srtp-auth"] += 1
            return b""

    def accept_source(self, source: Addr, now: float) -> SourceLatched | None:
        """A valid packet came from `source`: latch onto it if not latched yet, and count it.
        Returns the latch when this packet made one to a new address."""
        latched = None
        if not self._latched:
            self._latched = True
            if source != self._remote:
                latched = SourceLatched(source)
            self._remote = source
        self._last_received = now
        self.packets_received += 1
        return latched

    def drop(self, reason: str) -> None:
        """Count a packet the owner refused (e.g. "payload-type")."""
        self.dropped[reason] += 1

    def timed_out(self, now: float) -> bool:
        """Whether a peer we receive from has sent nothing (RTP or RTCP) for `timeout`.

        A listen-only peer (we only send) owes us no RTP, so such a session never times out."""
        return self.receives and now - self._last_received > self.timeout

    def _latch(self, events: list[RtpEvent], source: Addr, now: float) -> None:
        latched = self.accept_source(source, now)
        if latched is not None:
            events.append(latched)

    def _receive_audio(self, packet: RtpPacket, now: float) -> None:
        if packet.ssrc != self._remote_ssrc:
            if self._remote_ssrc is not None:
                self.dropped["ssrc-change"] += 1  # counted once per change; the packet is kept
                self.reception.reset()
            self._remote_ssrc = packet.ssrc
        self.reception.update(
            packet.sequence_number, packet.timestamp, now, self.negotiation.codec.clock_rate
        )
        self.playout.receive(packet.sequence_number, packet.timestamp, packet.payload, now)

    def _receive_dtmf(self, packet: RtpPacket) -> DtmfDigit | None:
        try:
            return self.dtmf.receive(packet.timestamp, packet.payload, packet.marker)
        except ValueError:
            self.dropped["malformed"] += 1
            return None

    def _receive_rtcp(self, data: bytes, source: Addr, now: float) -> None:
        try:
            packets = parse_compound(data)
        except RtcpError:
            self.dropped["malformed-rtcp"] += 1
            return
        self.rtcp_received += 1
        self._rtcp_source = source  # symmetric RTCP: answer where reports come from
        self._last_received = now  # RTCP shows the peer is alive, e.g. while it is on hold
        arrival = middle_32(ntp_from_unix(now + self.wall_offset))
        for report in packets:
            if isinstance(report, SenderReport):
                self._last_sr = (middle_32(report.ntp_timestamp), now)
            if isinstance(report, (SenderReport, ReceiverReport)):
                for block in report.reports:
                    if block.ssrc == self.ssrc and block.lsr:
                        self.round_trip = round_trip_time(arrival, block.lsr, block.dlsr)

    # -- sending --------------------------------------------------------------------------

    @property
    def remote(self) -> Addr | None:
        """Where media goes: the SDP's address until latched, then the peer's real one."""
        return self._remote

    @property
    def payload_type(self) -> int:
        return self.negotiation.payload_type

    def stamp(self, tick: int) -> tuple[int, int, bool]:
        """(sequence number, timestamp, marker) for the audio packet of mixer tick `tick`.

        Timestamps follow the tick count, so a skipped tick shows as a gap, not a time warp;
        the first packet of a timestamp line has the marker bit."""
        first = self._first_tick
        marker = first is None
        if first is None:
            first = self._first_tick = tick
        self._last_tick = tick
        timestamp = (self.timestamp_base + (tick - first) * self._units_per_tick) & 0xFFFFFFFF
        return self.next_sequence(), timestamp, marker

    def continue_timestamps(self) -> None:
        """The ticks to come are another room's (the leg moved): the next packet starts a new
        timestamp line one tick after the last packet sent, so timestamps never go back."""
        if self._first_tick is not None:
            sent = self._last_tick - self._first_tick + 1
            self.timestamp_base = (self.timestamp_base + sent * self._units_per_tick) & 0xFFFFFFFF
            self._first_tick = None

    @property
    def srtp(self) -> bool:
        """Whether media is SRTP."""
        return self._srtp is not None

    def protect(self, packet: bytes) -> bytes:
        """An RTP packet as it goes on the wire: SRTP-protected when SRTP is on."""
        return packet if self._srtp is None else self._srtp.protect(packet)

    def protect_rtcp(self, packet: bytes) -> bytes:
        """An RTCP packet as it goes on the wire: SRTCP-protected when SRTP is on."""
        return packet if self._srtp is None else self._srtp.protect_rtcp(packet)

    def sent(self, payload_bytes: int) -> None:
        """Count an audio packet sent (for sender reports)."""
        self.packets_sent += 1
        self.bytes_sent += payload_bytes

    def next_sequence(self) -> int:
        """Take the next RTP sequence number (shared by audio and keep-alives, one SSRC)."""
        self.sequence = (self.sequence + 1) & 0xFFFF
        return self.sequence

    # -- RTCP -----------------------------------------------------------------------------

    def rtcp_destination(self, separate_socket: bool) -> tuple[bool, Addr | None]:
        """(whether RTCP goes out of the separate RTCP socket, to which address); the address
        is None while unknown. Without rtcp-mux, reports go where the peer's come from, else
        to the latched address's next port, else to the SDP's."""
        if self.negotiation.rtcp_mux or not separate_socket:
            return False, self._remote
        if self._rtcp_source is not None:
            return True, self._rtcp_source
        if self._latched and self._remote is not None:
            return True, (self._remote[0], self._remote[1] + 1)
        return True, self.negotiation.remote_rtcp

    def report(self, now: float) -> bytes:
        """A compound RTCP report: SR once we have sent, else RR; with our CNAME."""
        return serialize_compound(self._report(now))

    def bye(self, reason: str, now: float) -> bytes:
        """A last report with a BYE giving `reason`."""
        return serialize_compound([*self._report(now), Bye([self.ssrc], reason.encode()[:255])])

    def _report(self, now: float) -> list[RtcpPacket]:
        blocks = []
        if self._remote_ssrc is not None and self.reception.packets_received:
            lsr, dlsr = 0, 0
            if self._last_sr is not None:
                lsr = self._last_sr[0]
                dlsr = int((now - self._last_sr[1]) * 65536)
            blocks.append(self.reception.report_block(self._remote_ssrc, lsr, dlsr))
        cname = SourceDescription([(self.ssrc, [(1, b"mediacore")])])
        if self.packets_sent:
            sender = SenderReport(
                self.ssrc,
                ntp_from_unix(now + self.wall_offset),
                self.timestamp_base,
                self.packets_sent,
                self.bytes_sent,
                blocks,
            )
            return [sender, cname]
        return [ReceiverReport(self.ssrc, blocks), cname]

    # -- reporting ------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        negotiation = self.negotiation
        remote = self._remote
        return {
            "codec": negotiation.codec.key,
            "ptime": negotiation.ptime,
            "remote": f"{remote[0]}:{remote[1]}" if remote else None,
            "direction": negotiation.direction,
            "srtp": self.srtp,
            "nat": self.nat,
            "latched": self._latched,
            "foreign_packets": self.dropped["unknown-source"],
        }

    def statistics(self) -> dict[str, float]:
        jitter = self.playout.jitter
        return {
            "packets_received": self.packets_received,
            "packets_sent": self.packets_sent,
            "packets_lost": max(0, self.reception.cumulative_lost),
            "jitter_seconds": self.reception.jitter_seconds,
            "buffer_delay_seconds": jitter.delay_seconds,
            "late_packets": jitter.stats.late,
            "concealed_packets": jitter.stats.lost + jitter.stats.underruns,
            "dropped_packets": sum(self.dropped.values()),
            "foreign_packets": self.dropped["unknown-source"],
            "srtp_auth_failures": self.dropped["srtp-auth"],
        }


def _sending_ptime(negotiation: AudioNegotiation) -> int:
    """The packet time we send: the peer's preference when our encoder can produce it."""
    try:
        registry.new_encoder(negotiation.codec, negotiation.ptime)
        return negotiation.ptime
    except ValueError:
        return 20
