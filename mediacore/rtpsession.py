"""An RTP audio leg on asyncio sockets: the thin adapter around `audiosession.AudioSession`.

The leg owns the bound transports and the RTCP timer; every datagram goes to the session with
the time from the leg's clock, and the leg acts on what the session says (DTMF to `on_dtmf`, a
payload type the session does not know to `_receive_other`). Everything else, from latching to
RTCP reports, is the session's and is tested without sockets (tests/core/test_audiosession.py).
Radio legs build on this class; the room sees it as an `Endpoint`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mediacore.audiosession import (
    Addr,
    AudioReceived,
    AudioSession,
    DtmfReceived,
    OtherPayload,
    SourceLatched,
)
from mediacore.clock import MONOTONIC, Clock
from mediacore.dtmf import DtmfDigit
from mediacore.endpoint import Endpoint
from mediacore.joinedroom import JoinedRoom, Member
from mediacore.offeranswer import AudioNegotiation
from mediacore.payloadadapter import PayloadAdapter
from mediacore.playout import AudioPlayout
from mediacore.rtp import RtpPacket, build_rtp
from mediacore.rtpsockets import RtpSockets
from mediacore.rtpstats import ReceptionStatistics
from mediacore.sdp import MediaDescription, SessionDescription

if TYPE_CHECKING:  # only for types: video (aiortc, PyAV) loads when a leg gets some
    from mediacore.legvideo import VideoSlot

log = logging.getLogger(__name__)

RTCP_INTERVAL = 5.0


class RtpLeg(Endpoint, asyncio.DatagramProtocol):
    """A plain RTP audio leg negotiated by SDP offer/answer.

    Call `attach()` with the bound transports, then the room drives it: the mixer reads
    `audio_input` and gives `send_payload()` its packets. `clock` is the owner's (the leg
    factory's); a test may pass a fake one. `nat` lets the leg latch onto its peer's real
    address early in the call (see audiosession); SRTP comes with the negotiation. `adapter`
    carries the audio in another payload on the wire (G.711 in a GB/T 28181 PS stream)."""

    kind = "rtp"

    def __init__(
        self,
        negotiation: AudioNegotiation,
        *,
        room_rate: int,
        tick_ms: int,
        timeout: float,
        on_dtmf: Callable[[DtmfDigit], None] | None = None,
        clock: Clock = MONOTONIC,
        nat: bool = False,
        adapter: PayloadAdapter | None = None,
    ) -> None:
        self.clock = clock
        self.adapter = adapter
        self.on_dtmf = on_dtmf
        self._tick_ms = tick_ms
        now = clock.now()
        self.session = AudioSession(
            negotiation,
            room_rate=room_rate,
            tick_ms=tick_ms,
            timeout=timeout,
            now=now,
            wall_offset=time.time() - now,
            nat=nat,
        )
        self.sockets = RtpSockets()
        self.session_id = 0  # of our SDP (o= line); a new offer/answer bumps session_version
        self.session_version = 1
        self.video: VideoSlot | None = None  # the leg factory's, when it can carry video
        self._use(negotiation)

    # -- the session's state, as the leg's callers know it --------------------------------

    @property
    def local_port(self) -> int:
        return self.sockets.port

    @property
    def negotiation(self) -> AudioNegotiation:
        return self.session.negotiation

    @property
    def playout(self) -> AudioPlayout:
        return self.session.playout

    @property
    def ssrc(self) -> int:
        return self.session.ssrc

    @property
    def dropped(self) -> Counter[str]:
        return self.session.dropped

    @property
    def reception(self) -> ReceptionStatistics:
        return self.session.reception

    @property
    def packets_received(self) -> int:
        return self.session.packets_received

    @property
    def packets_sent(self) -> int:
        return self.session.packets_sent

    @property
    def rtcp_received(self) -> int:
        return self.session.rtcp_received

    @property
    def round_trip(self) -> float | None:
        return self.session.round_trip

    # -- set-up and tear-down -------------------------------------------------------------

    def _use(self, negotiation: AudioNegotiation) -> None:
        """Take what offer/answer agreed (radio legs narrow the directions further)."""
        session = self.session
        session.use(negotiation)
        self.audio_input = session.playout if session.receives else None
        self.format = session.format
        self.audio_output = self if session.sends else None

    def joined(self, room: JoinedRoom, participant: Member) -> None:
        # Each room counts its own ticks: after a move, timestamps go on from where they were.
        self.session.continue_timestamps()
        if self.video is not None:
            self.video.joined(room, participant)

    def floor_changed(self, holder: str | None, priority: int) -> None:
        if self.video is not None:
            self.video.floor_changed()

    def video_offer(self, direction: str) -> tuple[int, MediaDescription] | None:
        """The video line our next offer must carry (and where), None if the session has none."""
        return self.video.offer(direction) if self.video is not None else None

    async def update_video(self, offer: SessionDescription, answer: SessionDescription) -> None:
        """Answer a new offer's video (re-INVITE) inside `answer`, the audio answer to it:
        video added, changed or removed while the audio goes on. No video slot: none."""
        if self.video is not None:
            await self.video.answer(offer, answer)

    async def offer_video(self, offer: SessionDescription) -> None:
        """Add video to our offer (a dial-out with video); no video slot: none."""
        if self.video is not None:
            await self.video.offer_into(offer)

    async def video_answered(self, answer: SessionDescription) -> None:
        """The answer to an offer `offer_video` added video to."""
        if self.video is not None:
            await self.video.answered(answer)

    def renegotiate(self, negotiation: AudioNegotiation) -> None:
        """Apply a new offer/answer (re-INVITE, UPDATE, or the answer to our own offer).

        Hold is a direction change; a new codec gets a fresh decoder and timestamp line."""
        self.session.renegotiate(negotiation, self.clock.now())
        self._use(negotiation)

    def attach(
        self,
        port: int,
        transport: asyncio.DatagramTransport,
        rtcp_transport: asyncio.DatagramTransport | None,
        release: Callable[[], None] | None = None,
    ) -> None:
        """Take the bound sockets; `release` gives the port back when the leg closes."""
        self.sockets.attach(
            port, transport, rtcp_transport, release, report=self._report, interval=RTCP_INTERVAL
        )

    async def close(self, reason: str) -> None:
        if self.video is not None:
            await self.video.close()
        self._send_rtcp(self.session.bye(reason, self.clock.now()))
        self.sockets.close()

    def check(self, now: float) -> str | None:
        return "rtp-timeout" if self.session.timed_out(now) else None

    # -- receiving ------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        if self.adapter is None:
            self._receive(data, addr)
            return
        for inner in self.adapter.received(data):
            self._receive(inner, addr)

    def _receive(self, data: bytes, addr: Addr) -> None:
        now = self.clock.now()
        for event in self.session.receive(data, addr, now):
            if isinstance(event, AudioReceived):
                self._audio_received(event.packet, now)
            elif isinstance(event, DtmfReceived):
                if self.on_dtmf is not None:
                    self.on_dtmf(event.digit)
            elif isinstance(event, OtherPayload):
                if self._receive_other(event.packet, now):
                    self._latched(self.session.accept_source(event.source, now))
                else:
                    self.session.drop("payload-type")
            elif isinstance(event, SourceLatched):
                self._latched(event)

    def _audio_received(self, packet: RtpPacket, now: float) -> None:
        """An audio packet the session took; radio legs read its header extension."""

    def _receive_other(self, packet: RtpPacket, now: float) -> bool:
        """A packet of a payload type we did not negotiate for audio, DTMF or comfort noise;
        subclasses that expect one (radio keep-alives) take it and return True."""
        return False

    def _latched(self, latched: SourceLatched | None) -> None:
        if latched is not None:
            log.info(
                "rtp leg latched", extra={"port": self.local_port, "source": str(latched.source)}
            )

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like
        self.session.drop("icmp")

    # -- sending --------------------------------------------------------------------------

    def send_payload(self, payload: bytes, tick: int) -> None:
        transport, remote = self.sockets.rtp, self.session.remote
        if transport is None or remote is None:
            return
        sequence, timestamp, marker = self.session.stamp(tick)
        packet = self._audio_packet(sequence, timestamp, payload, marker)
        wire = [packet] if self.adapter is None else self.adapter.sending(packet)
        for datagram in wire:
            transport.sendto(self.session.protect(datagram), remote)
        self.session.sent(len(payload))

    def _audio_packet(self, sequence: int, timestamp: int, payload: bytes, marker: bool) -> bytes:
        """The datagram for one audio payload; radio legs add their header extension."""
        session = self.session
        return build_rtp(session.payload_type, sequence, timestamp, session.ssrc, payload, marker)

    def send_datagram(self, data: bytes) -> bool:
        """Send a packet the subclass built itself (a radio keep-alive) to the peer."""
        transport, remote = self.sockets.rtp, self.session.remote
        if transport is None or remote is None:
            return False
        transport.sendto(self.session.protect(data), remote)
        return True

    def next_sequence(self) -> int:
        """Take the next RTP sequence number (shared by audio and keep-alives, one SSRC)."""
        return self.session.next_sequence()

    def _send_rtcp(self, data: bytes) -> None:
        sockets = self.sockets
        on_rtcp_socket, destination = self.session.rtcp_destination(sockets.rtcp is not None)
        transport = sockets.rtcp if on_rtcp_socket else sockets.rtp
        if transport is not None and destination is not None:
            transport.sendto(self.session.protect_rtcp(data), destination)

    def _report(self) -> None:
        self._send_rtcp(self.session.report(self.clock.now()))

    # -- reporting ------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        video = self.video.describe() if self.video is not None else None
        extra: dict[str, Any] = {"video": video} if video is not None else {}
        if self.adapter is not None:
            extra["carried_in"] = self.adapter.to_json()["kind"]
        return {**self.session.describe(), "local_port": self.local_port, **extra}

    def statistics(self) -> dict[str, float]:
        return self.session.statistics()
