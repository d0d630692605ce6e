"""One RTP media session for an audio leg: socket, SSRC, jitter buffer, codec, statistics.

Symmetric RTP: the leg first sends to the address in the SDP and latches onto the address its
peer's valid packets really come from (NAT), ignoring other senders until the latched one has
been silent for a while. Anything that is not our payload type, DTMF, comfort noise or RTCP is
dropped and counted; the room never sees it."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from mediacore.codecs import registry
from mediacore.codecs.base import CodecInfo
from mediacore.dtmf import DtmfDigit, DtmfReceiver
from mediacore.endpoint import Endpoint, output_format
from mediacore.offeranswer import AudioNegotiation
from mediacore.playout import AudioPlayout
from mediacore.rtcp import (
    Bye,
    ReceiverReport,
    RtcpError,
    SenderReport,
    SourceDescription,
    middle_32,
    ntp_from_unix,
    parse_compound,
    round_trip_time,
    serialize_compound,
)
from mediacore.rtp import MAX_DATAGRAM, RtpError, RtpPacket, build_rtp, is_rtcp
from mediacore.rtpstats import ReceptionStatistics

log = logging.getLogger(__name__)

COMFORT_NOISE_PT = 13
MIN_DATAGRAM = 8  # an RTCP receiver report without blocks; RTP's 12-byte header is parsed later
# A latched peer silent this long may be replaced by a new source address (NAT rebinding).
RELATCH_AFTER = 2.0
RTCP_INTERVAL = 5.0
# RFC 3550 section 6.3.1 randomises each interval over [0.5, 1.5] x the mean (we skip timer
# reconsideration, so no e - 3/2 compensation). Legs that joined together must not report
# together: 500 reports in one burst would hold up every room's clock.
RTCP_SPREAD = (0.5, 1.5)

Addr = tuple[Any, ...]


class RtpLeg(Endpoint, asyncio.DatagramProtocol):
    """A plain RTP audio leg negotiated by SDP offer/answer.

    Call `attach()` with the bound transports, then the room drives it: the mixer reads
    `audio_input` and gives `send_payload()` its packets."""

    kind = "rtp"

    def __init__(
        self,
        negotiation: AudioNegotiation,
        *,
        room_rate: int,
        tick_ms: int,
        timeout: float,
        on_dtmf: Callable[[DtmfDigit], None] | None = None,
    ) -> None:
        self.timeout = timeout
        self.on_dtmf = on_dtmf
        self._room_rate = room_rate
        self._tick_ms = tick_ms
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self._sequence = int.from_bytes(os.urandom(2), "big")
        self._timestamp_base = int.from_bytes(os.urandom(4), "big")
        self._first_tick: int | None = None
        self._remote: Addr | None = None
        self._latched = False
        self._codec: CodecInfo | None = None
        self._use(negotiation)
        self.reception = ReceptionStatistics()
        self.dtmf = DtmfReceiver()
        self.dropped: Counter[str] = Counter()
        self.packets_received = 0
        self.packets_sent = 0
        self.bytes_sent = 0
        self.rtcp_received = 0
        self.round_trip: float | None = None
        self.local_port = 0
        self.session_id = 0  # of our SDP (o= line); a new offer/answer bumps session_version
        self.session_version = 1
        self._remote_ssrc: int | None = None
        self._last_received = time.monotonic()  # the timeout counts from the leg's creation
        self._transport: asyncio.DatagramTransport | None = None
        self._rtcp_transport: asyncio.DatagramTransport | None = None
        self._rtcp_task: asyncio.Task[None] | None = None
        self._release: Callable[[], None] | None = None
        self._last_sr: tuple[int, float] | None = None  # (LSR middle 32 bits, arrival time)
        self._rtcp_source: Addr | None = None

    # -- set-up and tear-down -------------------------------------------------------------

    def _use(self, negotiation: AudioNegotiation) -> None:
        """Take what offer/answer agreed: codec, packet time, direction and the peer's address."""
        self.negotiation = negotiation
        self._payload_type = negotiation.payload_type
        codec = negotiation.codec
        if codec != self._codec:
            self._codec = codec
            self._units_per_tick = codec.clock_rate * self._tick_ms // 1000
            self.playout = AudioPlayout(
                codec, registry.new_decoder(codec), self._room_rate, self._tick_ms
            )
            self._first_tick = None  # a new codec starts a new timestamp line
        receives = negotiation.direction in ("sendrecv", "recvonly")
        self.audio_input = self.playout if receives else None
        self.format = output_format(codec, _sending_ptime(negotiation))
        sends = negotiation.direction in ("sendrecv", "sendonly")
        self.audio_output = self if sends else None
        address, port = negotiation.remote_address, negotiation.remote_port
        if port and address not in ("0.0.0.0", "::"):
            if self._remote is None or not self._latched or self._remote[0] != address:
                self._remote = (address, port)
                self._latched = False

    def renegotiate(self, negotiation: AudioNegotiation) -> None:
        """Apply a new offer/answer (re-INVITE, UPDATE, or the answer to our own offer).

        Hold is a direction change; a new codec gets a fresh decoder and timestamp line."""
        self._use(negotiation)
        self._last_received = time.monotonic()  # the timeout restarts with the new session

    def attach(
        self,
        port: int,
        transport: asyncio.DatagramTransport,
        rtcp_transport: asyncio.DatagramTransport | None,
        release: Callable[[], None] | None = None,
    ) -> None:
        """Take the bound sockets; `release` gives the port back when the leg closes."""
        self.local_port = port
        self._release = release
        self._transport = transport
        self._rtcp_transport = rtcp_transport
        self._rtcp_task = asyncio.get_running_loop().create_task(self._send_reports())

    async def close(self, reason: str) -> None:
        if self._rtcp_task is not None:
            self._rtcp_task.cancel()
        self._send_bye(reason)
        for transport in (self._transport, self._rtcp_transport):
            if transport is not None:
                transport.close()
        self._transport = self._rtcp_transport = None
        if self._release is not None:
            self._release()
            self._release = None

    def check(self, now: float) -> str | None:
        # A listen-only peer (we only send) owes us no RTP: only legs we receive from time out.
        if self.audio_input is not None and now - self._last_received > self.timeout:
            return "rtp-timeout"
        return None

    # -- receiving ------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        now = time.monotonic()
        if len(data) > MAX_DATAGRAM or len(data) < MIN_DATAGRAM:
            self.dropped["size"] += 1
            return
        source = addr[:2]
        if is_rtcp(data):
            # Without rtcp-mux RTCP comes from the peer's next port: check the host only.
            if self._latched and self._remote is not None and source[0] != self._remote[0]:
                self.dropped["unknown-source"] += 1
                return
            self._receive_rtcp(data, source, now)
            return
        if self._latched and source != self._remote:
            if now - self._last_received < RELATCH_AFTER:
                self.dropped["unknown-source"] += 1
                return
            self._latched = False  # the peer went quiet: let a new address take over
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            self.dropped["malformed"] += 1
            return
        negotiation = self.negotiation
        if packet.payload_type == negotiation.payload_type:
            self._receive_audio(packet, source, now)
        elif packet.payload_type == negotiation.telephone_event_pt:
            self._accept_source(source, now)
            self._receive_dtmf(packet)
        elif packet.payload_type == COMFORT_NOISE_PT:
            self._accept_source(source, now)
        elif self._receive_other(packet, now):
            self._accept_source(source, now)
        else:
            self.dropped["payload-type"] += 1

    def _receive_other(self, packet: RtpPacket, now: float) -> bool:
        """A packet of a payload type we did not negotiate for audio, DTMF or comfort noise;
        subclasses that expect one (radio keep-alives) take it and return True."""
        return False

    def _accept_source(self, source: Addr, now: float) -> None:
        if not self._latched:
            self._latched = True
            if source != self._remote:
                log.info("rtp leg latched", extra={"port": self.local_port, "source": str(source)})
            self._remote = source
        self._last_received = now
        self.packets_received += 1

    def _receive_audio(self, packet: RtpPacket, source: Addr, now: float) -> None:
        if packet.ssrc != self._remote_ssrc:
            if self._remote_ssrc is not None:
                self.dropped["ssrc-change"] += 1  # counted once per change; the packet is kept
                self.reception.reset()
            self._remote_ssrc = packet.ssrc
        self._accept_source(source, now)
        self.reception.update(
            packet.sequence_number, packet.timestamp, now, self.negotiation.codec.clock_rate
        )
        self.playout.receive(packet.sequence_number, packet.timestamp, packet.payload, now)

    def _receive_dtmf(self, packet: RtpPacket) -> None:
        try:
            digit = self.dtmf.receive(packet.timestamp, packet.payload, packet.marker)
        except ValueError:
            self.dropped["malformed"] += 1
            return
        if digit is not None and self.on_dtmf is not None:
            self.on_dtmf(digit)

    def _receive_rtcp(self, data: bytes, source: Addr, now: float) -> None:
        try:
            packets = parse_compound(data)
        except RtcpError:
            self.dropped["malformed-rtcp"] += 1
            return
        self.rtcp_received += 1
        self._rtcp_source = source  # symmetric RTCP: answer where reports come from
        self._last_received = now  # RTCP shows the peer is alive, e.g. while it is on hold
        arrival = middle_32(ntp_from_unix(time.time()))
        for report in packets:
            if isinstance(report, SenderReport):
                self._last_sr = (middle_32(report.ntp_timestamp), now)
            if isinstance(report, (SenderReport, ReceiverReport)):
                for block in report.reports:
                    if block.ssrc == self.ssrc and block.lsr:
                        self.round_trip = round_trip_time(arrival, block.lsr, block.dlsr)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like
        self.dropped["icmp"] += 1

    # -- sending --------------------------------------------------------------------------

    def send_payload(self, payload: bytes, tick: int) -> None:
        transport, remote = self._transport, self._remote
        if transport is None or remote is None:
            return
        first = self._first_tick
        marker = first is None
        if first is None:
            first = self._first_tick = tick
        # Timestamps follow the tick count, so a skipped tick shows as a gap, not a time warp.
        timestamp = (self._timestamp_base + (tick - first) * self._units_per_tick) & 0xFFFFFFFF
        self._sequence = sequence = (self._sequence + 1) & 0xFFFF
        transport.sendto(self._audio_packet(sequence, timestamp, payload, marker), remote)
        self.packets_sent += 1
        self.bytes_sent += len(payload)

    def _audio_packet(self, sequence: int, timestamp: int, payload: bytes, marker: bool) -> bytes:
        """The datagram for one audio payload; radio legs add their header extension."""
        return build_rtp(self._payload_type, sequence, timestamp, self.ssrc, payload, marker)

    def send_datagram(self, data: bytes) -> bool:
        """Send a packet the subclass built itself (a radio keep-alive) to the peer."""
        transport, remote = self._transport, self._remote
        if transport is None or remote is None:
            return False
        transport.sendto(data, remote)
        return True

    def next_sequence(self) -> int:
        """Take the next RTP sequence number (shared by audio and keep-alives, one SSRC)."""
        self._sequence = (self._sequence + 1) & 0xFFFF
        return self._sequence

    def _rtcp_destination(self) -> tuple[asyncio.DatagramTransport | None, Addr | None]:
        if self.negotiation.rtcp_mux or self._rtcp_transport is None:
            return self._transport, self._remote
        if self._rtcp_source is not None:
            return self._rtcp_transport, self._rtcp_source
        if self._latched and self._remote is not None:
            return self._rtcp_transport, (self._remote[0], self._remote[1] + 1)
        return self._rtcp_transport, self.negotiation.remote_rtcp

    def _report(self) -> list[Any]:
        blocks = []
        if self._remote_ssrc is not None and self.reception.packets_received:
            lsr, dlsr = 0, 0
            if self._last_sr is not None:
                lsr = self._last_sr[0]
                dlsr = int((time.monotonic() - self._last_sr[1]) * 65536)
            blocks.append(self.reception.report_block(self._remote_ssrc, lsr, dlsr))
        cname = SourceDescription([(self.ssrc, [(1, b"mediacore")])])
        if self.packets_sent:
            sender = SenderReport(
                self.ssrc,
                ntp_from_unix(time.time()),
                self._timestamp_base,
                self.packets_sent,
                self.bytes_sent,
                blocks,
            )
            return [sender, cname]
        return [ReceiverReport(self.ssrc, blocks), cname]

    async def _send_reports(self) -> None:
        while True:
            await asyncio.sleep(RTCP_INTERVAL * random.uniform(*RTCP_SPREAD))
            transport, destination = self._rtcp_destination()
            if transport is not None and destination is not None:
                transport.sendto(serialize_compound(self._report()), destination)

    def _send_bye(self, reason: str) -> None:
        transport, destination = self._rtcp_destination()
        if transport is not None and destination is not None:
            packets = [*self._report(), Bye([self.ssrc], reason.encode()[:255])]
            transport.sendto(serialize_compound(packets), destination)

    # -- reporting ------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        negotiation = self.negotiation
        remote = self._remote
        return {
            "codec": negotiation.codec.key,
            "ptime": negotiation.ptime,
            "local_port": self.local_port,
            "remote": f"{remote[0]}:{remote[1]}" if remote else None,
            "direction": negotiation.direction,
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
        }


def _sending_ptime(negotiation: AudioNegotiation) -> int:
    """The packet time we send: the peer's preference when our encoder can produce it."""
    try:
        registry.new_encoder(negotiation.codec, negotiation.ptime)
        return negotiation.ptime
    except ValueError:
        return 20
