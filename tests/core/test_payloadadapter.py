"""An RTP leg with a payload adapter (mediacore.payloadadapter): what arrives goes through the
adapter before the audio session, what the leg sends goes through it onto the wire."""

from __future__ import annotations

import asyncio
from typing import Any

from mediacore.codecs import PCMA
from mediacore.rtp import RtpPacket, build_rtp
from mediacore.rtpsession import RtpLeg
from tests.core.test_audiosession import PEER, negotiation


class Wrapping:
    """Wire datagrams are the leg's packets behind a b"W" (b"W?" ones carry nothing yet)."""

    def received(self, data: bytes) -> list[bytes]:
        return [] if data.startswith(b"W?") else [data[1:]]

    def sending(self, packet: bytes) -> list[bytes]:
        return [b"W" + packet]

    def to_json(self) -> dict[str, Any]:
        return {"kind": "wrapping"}


class Transport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Any]] = []

    def sendto(self, data: bytes, addr: Any) -> None:
        self.sent.append((data, addr))

    def close(self) -> None:
        pass


async def test_the_adapter_sits_between_the_socket_and_the_session() -> None:
    leg = RtpLeg(
        negotiation(codec=PCMA, payload_type=8),
        room_rate=48000,
        tick_ms=20,
        timeout=30,
        adapter=Wrapping(),
    )
    transport = Transport()
    leg.attach(40002, transport, None)  # type: ignore[arg-type]
    try:
        leg.datagram_received(b"W?partial", PEER)
        assert leg.packets_received == 0
        leg.datagram_received(b"W" + build_rtp(8, 1, 160, 1234, b"\xd5" * 160), PEER)
        assert leg.packets_received == 1 and not leg.dropped
        leg.send_payload(b"\xd5" * 160, 1)
        [(wire, to)] = transport.sent
        assert to == PEER and wire.startswith(b"W")
        packet = RtpPacket.parse(wire[1:])
        assert (packet.payload_type, packet.payload) == (8, b"\xd5" * 160)
        assert leg.describe()["carried_in"] == "wrapping"
    finally:
        await leg.close("test")
        await asyncio.sleep(0)
