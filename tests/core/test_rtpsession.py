"""An RTP leg on real loopback sockets: latching, RTCP from the peer's next port, strangers."""

from __future__ import annotations

import asyncio
import socket

from mediacore.codecs import PCMU
from mediacore.offeranswer import AudioNegotiation
from mediacore.rtcp import ReceiverReport, serialize_compound
from mediacore.rtp import build_rtp
from mediacore.rtpsession import RtpLeg


def even_port_pair() -> tuple[socket.socket, socket.socket]:
    for _ in range(50):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        if port % 2:
            continue
        try:
            rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            rtp.bind(("127.0.0.1", port))
            rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            rtcp.bind(("127.0.0.1", port + 1))
            return rtp, rtcp
        except OSError:
            continue
    raise RuntimeError("no free port pair")


async def test_rtcp_from_the_peers_next_port_is_read_not_dropped_as_a_stranger() -> None:
    peer_rtp, peer_rtcp = even_port_pair()
    port = peer_rtp.getsockname()[1]
    negotiation = AudioNegotiation(
        codec=PCMU,
        payload_type=0,
        ptime=20,
        telephone_event_pt=None,
        remote_address="127.0.0.1",
        remote_port=port,
        remote_rtcp=("127.0.0.1", port + 1),
        rtcp_mux=False,
        direction="sendrecv",
        fmtp=None,
        extmaps=(),
    )
    leg = RtpLeg(negotiation, room_rate=48000, tick_ms=20, timeout=30)
    loop = asyncio.get_running_loop()
    rtp, _ = await loop.create_datagram_endpoint(lambda: leg, local_addr=("127.0.0.1", 0))
    rtcp, _ = await loop.create_datagram_endpoint(lambda: leg, local_addr=("127.0.0.1", 0))
    leg.attach(rtp.get_extra_info("sockname")[1], rtp, rtcp)
    leg_rtp = ("127.0.0.1", leg.local_port)
    leg_rtcp = rtcp.get_extra_info("sockname")
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.1", 0))
    try:
        peer_rtp.sendto(build_rtp(0, 1, 160, 1234, b"\xff" * 160), leg_rtp)  # latches
        await asyncio.sleep(0.05)
        peer_rtcp.sendto(serialize_compound([ReceiverReport(1234, [])]), leg_rtcp)
        stranger.sendto(build_rtp(0, 9, 160, 999, b"\xff" * 160), leg_rtp)
        await asyncio.sleep(0.05)
        assert leg.packets_received == 1
        assert leg.rtcp_received == 1
        assert dict(leg.dropped) == {"unknown-source": 1}
    finally:
        await leg.close("test")
        for sock in (peer_rtp, peer_rtcp, stranger):
            sock.close()
