"""A simulated ED-137B radio-over-IP gateway for tests and benchmarks, built from the spec.

It offers the radio SDP attributes, sends audio with the 0x0167 header extension (SQU set while
its "receiver" hears a transmission), sends R2S keep-alives between transmissions, and records
every packet the server sends it with the PTT state read from that packet's extension, so a
test can say of each packet whether the radio would have been keyed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace

from bench.rtppeer import RtpPeer, SentPacket
from mediacore.codecs.base import CodecInfo
from mediacore.rtp import RtpError, RtpPacket
from radio.ed137 import (
    PROFILE,
    Ed137Error,
    FeatureBlock,
    RadioHeader,
    build_keepalive,
    build_radio_header,
    parse_radio_header,
)
from radio.sdp import add_radio_attributes, radio_offer_session


@dataclass(slots=True)
class RadioArrival:
    time: float
    payload_type: int
    header: RadioHeader | None  # None: no (or an unreadable) ED-137 extension
    payload: bytes

    @property
    def ptt(self) -> bool:
        return self.header is not None and self.header.ptt_type != 0


class Ed137Gateway(RtpPeer):
    """One radio channel's gateway: `squelch` says whether its receiver hears someone."""

    def __init__(
        self,
        codec: CodecInfo,
        ptime: int = 20,
        host: str = "127.0.0.1",
        keepalive_period_ms: int = 200,
        keepalive_multiplier: int = 10,
        mode: str = "txrx",
    ) -> None:
        super().__init__(codec, ptime, host)
        self.session = replace(
            radio_offer_session(mode),
            keepalive_period_ms=keepalive_period_ms,
            keepalive_multiplier=keepalive_multiplier,
        )
        self.squelch = False
        # The PTT type sent beside SQU: 0, or PttType.EMERGENCY for the radio's emergency key.
        self.ptt_type = 0
        self.features: tuple[FeatureBlock, ...] = ()  # sent in every header (SQI, vendor blocks)
        self.radio_arrivals: list[RadioArrival] = []
        self.keepalives_sent = 0
        self._last_audio = 0.0  # monotonic time of the last audio packet sent
        self._keepalive_task: asyncio.Task[None] | None = None

    def make_offer(self) -> str:
        super().make_offer()
        assert self.offer is not None
        add_radio_attributes(self.offer, self.session)
        return self.offer.serialize()

    # -- receiving ------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[object, ...]) -> None:
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            return
        header = None
        if packet.extension_profile == PROFILE:
            try:
                header = parse_radio_header(packet.extension_profile, packet.extension_data)
            except Ed137Error:
                header = None
        if self.record:
            self.radio_arrivals.append(
                RadioArrival(time.monotonic(), packet.payload_type, header, packet.payload)
            )
        if packet.payload_type != self.session.keepalive_pt:
            super().datagram_received(data, addr)

    def audio_arrivals(self) -> list[RadioArrival]:
        return [a for a in self.radio_arrivals if a.payload_type != self.session.keepalive_pt]

    def keepalive_arrivals(self) -> list[RadioArrival]:
        return [a for a in self.radio_arrivals if a.payload_type == self.session.keepalive_pt]

    # -- sending --------------------------------------------------------------------------

    def header(self) -> RadioHeader:
        return RadioHeader(
            ptt_type=self.ptt_type, squelch=self.squelch, ptt_id=0, features=self.features
        )

    def send_extension(
        self, body: bytes, payload: bytes = b"", payload_type: int | None = None
    ) -> None:
        """One packet with `body` as its 0x0167 extension, valid or not (for bad-input tests);
        keep-alive payload type unless `payload_type` says otherwise."""
        self.sequence = (self.sequence + 1) & 0xFFFF
        pt = self.session.keepalive_pt if payload_type is None else payload_type
        self._send_packet(pt, payload, PROFILE, body)

    def send_payload(self, payload: bytes, payload_type: int | None = None) -> None:
        """Send audio with the extension. The RTP timestamp moves on by the silence since the
        last audio packet too, as a real gateway's sampling clock runs on between
        transmissions (RFC 3550, 5.1): otherwise the server's jitter buffer would hold the
        next transmission back by every gap so far."""
        assert self._transport is not None and self.negotiation is not None
        pt = self.negotiation.payload_type if payload_type is None else payload_type
        self.sequence = (self.sequence + 1) & 0xFFFF
        now = time.monotonic()
        step = self.codec.timestamp_step(self.ptime)
        if self._last_audio:
            silent = round((now - self._last_audio) * self.codec.clock_rate) - step
            step += max(0, silent)
        self._last_audio = now
        self.timestamp = (self.timestamp + step) & 0xFFFFFFFF
        self._send_packet(pt, payload, *build_radio_header(self.header()))
        if self.record:
            self.sent.append(SentPacket(self.sequence, time.monotonic()))

    def _send_packet(self, payload_type: int, payload: bytes, profile: int, body: bytes) -> None:
        """One RTP packet at the current sequence number and timestamp, with an extension."""
        packet = RtpPacket(
            payload_type=payload_type,
            sequence_number=self.sequence,
            timestamp=self.timestamp,
            ssrc=self.ssrc,
            payload=payload,
            extension_profile=profile,
            extension_data=body,
        )
        self.send_raw(packet.serialize())

    def send_keepalive(self) -> None:
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.send_raw(
            build_keepalive(
                self.sequence,
                self.timestamp,
                self.ssrc,
                self.header(),
                payload_type=self.session.keepalive_pt,
            )
        )
        self.keepalives_sent += 1

    async def transmit(self, payloads: list[bytes]) -> list[float]:
        """A transmission heard by the radio: squelch opens, the audio, squelch closes."""
        self.squelch = True
        try:
            return await self.play(payloads)
        finally:
            self.squelch = False
            self.send_keepalive()  # SQU off at once, as a gateway reports its squelch closing

    def start_keepalives(self) -> None:
        self._keepalive_task = asyncio.get_running_loop().create_task(self._keepalives())

    def stop_keepalives(self) -> None:
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
            self._keepalive_task = None

    async def _keepalives(self) -> None:
        period = self.session.keepalive_period_ms / 1000
        while True:
            await asyncio.sleep(period)
            if not self.squelch:
                self.send_keepalive()

    def close(self) -> None:
        self.stop_keepalives()
        super().close()
