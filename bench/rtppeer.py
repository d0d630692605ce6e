"""An RTP audio peer for tests and benchmarks: offers SDP, sends paced tone packets, records
what comes back with arrival times.

It speaks only SDP and RTP (or SRTP with SDES keys, `srtp="mandatory"` or "optional"), so it
can drive any plain-RTP conference server (mediacore, or Janus AudioBridge's plain RTP
participants) once something has exchanged the offer and answer."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import numpy as np

from mediacore.codecs import registry
from mediacore.codecs.base import CodecInfo, Pcm
from mediacore.dtmf import dtmf_packets
from mediacore.offeranswer import (
    AudioNegotiation,
    answer_audio,
    make_audio_offer,
    read_answer,
)
from mediacore.rtp import RtpError, RtpPacket, build_rtp, is_rtcp
from mediacore.sdes import SrtpMode
from mediacore.sdp import SessionDescription
from mediacore.srtp import SrtpError, SrtpTransform


@dataclass(slots=True)
class Arrival:
    time: float
    sequence_number: int
    timestamp: int
    payload: bytes


@dataclass
class SentPacket:
    sequence_number: int
    time: float


class RtpPeer(asyncio.DatagramProtocol):
    """One audio leg as a phone would be: bind, offer, accept the answer, send and receive."""

    def __init__(
        self, codec: CodecInfo, ptime: int = 20, host: str = "127.0.0.1", srtp: SrtpMode = "off"
    ) -> None:
        self.codec = codec
        self.srtp = srtp
        self.srtp_failures = 0  # packets that did not authenticate
        self._transform: SrtpTransform | None = None
        self.ptime = ptime
        self.host = host
        self.port = 0
        self.ssrc = secrets.randbits(32)
        self.sequence = secrets.randbits(16)
        self.timestamp = secrets.randbits(32)
        self.arrivals: list[Arrival] = []
        self.sent: list[SentPacket] = []
        self.negotiation: AudioNegotiation | None = None
        self.offer: SessionDescription | None = None
        self.record = True
        self.received_count = 0
        self.rtcp_received = 0  # RTCP on the RTP port (RFC 5761): never audio
        self._transport: asyncio.DatagramTransport | None = None
        self._encoder = registry.new_encoder(codec, ptime)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.host, 0), family=family
        )
        self.port = self._transport.get_extra_info("sockname")[1]

    def make_offer(self) -> str:
        self.offer = make_audio_offer(
            [self.codec],
            self.host,
            self.port,
            session_id=secrets.randbits(40),
            ptime=self.ptime,
            srtp=self.srtp,
        )
        return self.offer.serialize()

    def accept(self, answer: str) -> AudioNegotiation:
        assert self.offer is not None
        self.negotiation = read_answer(self.offer, SessionDescription.parse(answer), [self.codec])
        keys = self.negotiation.srtp
        self._transform = SrtpTransform(keys) if keys is not None else None
        return self.negotiation

    def answer(self, offer: str, version: int = 2) -> str:
        """Answer a new offer from the other side (a re-INVITE moving the call elsewhere): from
        now on the audio goes where it says; our SDP's session version is `version`. Plain RTP
        only: an offer asking for SRTP keys is answered without them."""
        answer, self.negotiation = answer_audio(
            SessionDescription.parse(offer),
            [self.codec],
            self.host,
            self.port,
            session_id=self.offer.origin.session_id if self.offer else secrets.randbits(40),
            ptime=self.ptime,
            session_version=version,
        )
        self._transform = None
        return answer.serialize()

    def datagram_received(self, data: bytes, addr: tuple[object, ...]) -> None:
        if self._transform is not None:
            try:
                data = self._transform.unprotect(data)
            except SrtpError:
                self.srtp_failures += 1  # RTCP too: only the audio is read here
                return
        if is_rtcp(data):  # a sender report on the RTP port, not a packet of audio
            self.rtcp_received += 1
            return
        self.received_count += 1
        if not self.record:
            return
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            return
        self.arrivals.append(
            Arrival(time.monotonic(), packet.sequence_number, packet.timestamp, packet.payload)
        )

    # -- sending --------------------------------------------------------------------------

    def packetize(self, pcm: Pcm) -> list[bytes]:
        """Encode a signal at the codec's rate into one payload per packet."""
        step = self.codec.samples_per_packet(self.ptime)
        padded = np.concatenate([pcm, np.zeros((-len(pcm)) % step, dtype=np.float32)])
        return [self._encoder.encode(padded[i : i + step]) for i in range(0, len(padded), step)]

    def send_payload(self, payload: bytes, payload_type: int | None = None) -> None:
        assert self._transport is not None and self.negotiation is not None
        pt = self.negotiation.payload_type if payload_type is None else payload_type
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + self.codec.timestamp_step(self.ptime)) & 0xFFFFFFFF
        self._send(build_rtp(pt, self.sequence, self.timestamp, self.ssrc, payload))
        if self.record:
            self.sent.append(SentPacket(self.sequence, time.monotonic()))

    def send_raw(self, data: bytes) -> None:
        """Send `data` as it is (no SRTP), to the answer's address."""
        assert self._transport is not None and self.negotiation is not None
        self._transport.sendto(
            data, (self.negotiation.remote_address, self.negotiation.remote_port)
        )

    def _send(self, packet: bytes) -> None:
        """Send an RTP packet, SRTP-protected when the answer agreed SRTP."""
        if self._transform is not None:
            packet = self._transform.protect(packet)
        self.send_raw(packet)

    async def play(
        self,
        payloads: list[bytes],
        *,
        drop: AbstractSet[int] = frozenset(),
        swap: AbstractSet[int] = frozenset(),
    ) -> list[float]:
        """Send payloads every ptime on absolute deadlines; returns each packet's send time.

        `drop` leaves packet indices out (loss); `swap` sends packet i after packet i+1."""
        period = self.ptime / 1000
        start = time.monotonic()
        times: list[float] = []
        held: tuple[tuple[int, int], bytes] | None = None
        for index, payload in enumerate(payloads):
            delay = start + index * period - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            times.append(time.monotonic())
            if index in drop:
                self._skip()
                continue
            if index in swap:
                held = (self._skip(), payload)
                continue
            self.send_payload(payload)
            if held is not None:
                self._send_numbered(*held)
                held = None
        return times

    async def send_digits(self, digits: str, duration_ms: int = 120) -> None:
        """Key `digits` as RFC 4733 events (the answer's telephone-event payload type), one
        after the other, a second of RTP time apart, in real time."""
        assert self.negotiation is not None and self.negotiation.telephone_event_pt is not None
        rate = self.codec.clock_rate
        for digit in digits:
            self.timestamp = (self.timestamp + rate) & 0xFFFFFFFF
            for payload, marker, _ in dtmf_packets(digit, duration_ms, rate, self.ptime):
                self.sequence = (self.sequence + 1) & 0xFFFF
                self.send_raw(
                    build_rtp(
                        self.negotiation.telephone_event_pt,
                        self.sequence,
                        self.timestamp,
                        self.ssrc,
                        payload,
                        marker,
                    )
                )
                await asyncio.sleep(self.ptime / 1000)

    def _skip(self) -> tuple[int, int]:
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + self.codec.timestamp_step(self.ptime)) & 0xFFFFFFFF
        return self.sequence, self.timestamp

    def _send_numbered(self, numbers: tuple[int, int], payload: bytes) -> None:
        assert self._transport is not None and self.negotiation is not None
        self._send(
            build_rtp(self.negotiation.payload_type, numbers[0], numbers[1], self.ssrc, payload)
        )

    # -- what came back -------------------------------------------------------------------

    def decoded(self, since: float = 0.0) -> Pcm:
        """Received audio since `since` (monotonic), in arrival order, decoded.

        The whole stream goes through one decoder, as a phone would hear it: stateful codecs
        (Opus, G.722) need the packets before `since` to decode the first ones after it."""
        decoder = registry.new_decoder(self.codec)
        parts = [(a.time, decoder.decode(a.payload)) for a in self.arrivals]
        kept = [pcm for arrival, pcm in parts if arrival >= since]
        return np.concatenate(kept) if kept else np.zeros(0, dtype=np.float32)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


@dataclass
class Onset:
    sent: float
    heard: float | None = None
    extra: dict[str, float] = field(default_factory=dict)
