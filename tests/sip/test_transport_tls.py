"""SIP over TLS (RFC 3261 §26.2, RFC 5630) on real loopback sockets: messages arrive from "tls"
peers and answers go back on the same encrypted connection; the TCP caps and deadlines hold a
connection from its TCP accept, before any handshake; nothing in the clear reaches the stack;
connections we open check the peer's certificate."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from mediacore.server.certificates import server_certificate
from mediacore.server.transportsecurity import client_context
from sip.message import Request, parse_message
from sip.stack import SipStack
from sip.transaction import Peer
from sip.transport import SipTls, SipTransports
from tests.sip.test_flowlimits import LIMITS, OPTIONS, FakeClock, _closed

OK = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 127.0.0.1:1;branch=z9hG4bK-1\r\nContent-Length: 0\r\n\r\n"


def _tls(folder: Path, *, trust: Path | None = None) -> tuple[SipTls, Path]:
    """Contexts holding a certificate made in `folder`, trusting `trust` for our connections."""
    certificate = server_certificate("", "", folder, ["127.0.0.1"])
    client = client_context(True, str(trust) if trust else "")
    return SipTls(certificate.server_context(), client), certificate.cert_path


async def _start(tls: SipTls, received: list[tuple[bytes, Peer]], clock: FakeClock | None = None):
    transports = SipTransports(
        lambda data, peer: received.append((data, peer)),
        limits=LIMITS,
        clock=clock or FakeClock(),
        tls=tls,
    )
    await transports.start("127.0.0.1", 0, tls_port=0)
    return transports


async def _wait(condition, seconds: float = 2.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)


async def test_a_message_over_tls_comes_from_a_tls_peer_and_the_answer_returns_encrypted(
    tmp_path: Path,
) -> None:
    tls, cert = _tls(tmp_path)
    received: list[tuple[bytes, Peer]] = []
    transports = await _start(tls, received)
    try:
        assert transports.tls_port not in (0, transports.port)
        trusting = ssl.create_default_context(cafile=str(cert))
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", transports.tls_port, ssl=trusting, server_hostname="127.0.0.1"
        )
        writer.write(OPTIONS)
        await _wait(lambda: received)
        ((data, peer),) = received
        assert data == OPTIONS and peer.transport == "tls" and peer.host == "127.0.0.1"
        transports.send(OK, peer)
        assert await asyncio.wait_for(reader.readexactly(len(OK)), 2) == OK
        assert transports.tcp_connections == 1
        writer.close()
    finally:
        await transports.stop()


async def test_plain_sip_sent_to_the_tls_port_never_reaches_the_stack(tmp_path: Path) -> None:
    tls, _ = _tls(tmp_path)
    received: list[tuple[bytes, Peer]] = []
    transports = await _start(tls, received)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", transports.tls_port)
        writer.write(OPTIONS)
        assert await _closed(reader)  # not a TLS handshake: the connection is dropped
        assert received == []
        await _wait(lambda: transports.tcp_connections == 0)
        assert transports.tcp_connections == 0
        writer.close()
    finally:
        await transports.stop()


async def test_handshakes_never_begun_count_against_the_caps_and_are_closed_at_the_deadline(
    tmp_path: Path,
) -> None:
    tls, _ = _tls(tmp_path)
    clock = FakeClock()
    transports = await _start(tls, [], clock)
    try:
        silent = [await asyncio.open_connection("127.0.0.1", transports.tls_port) for _ in range(3)]
        await asyncio.sleep(0.1)
        # Counted from the TCP accept: the third from one address is refused at once.
        assert transports.tcp_connections == LIMITS.max_per_address and transports.refused == 1
        assert await _closed(silent[2][0])
        clock.time = LIMITS.message_timeout + 0.5
        assert transports.close_expired(clock.time) == 2
        for reader, writer in silent[:2]:
            assert await _closed(reader)
            writer.close()
        await _wait(lambda: transports.tcp_connections == 0)
        assert transports.tcp_connections == 0
    finally:
        await transports.stop()


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "unknown-certificate"])
async def test_a_connection_we_open_reaches_only_a_peer_whose_certificate_we_trust(
    tmp_path: Path, trusted: bool
) -> None:
    far_tls, far_cert = _tls(tmp_path / "far")
    far_received: list[tuple[bytes, Peer]] = []
    far = await _start(far_tls, far_received)
    near_tls, _ = _tls(tmp_path / "near", trust=far_cert if trusted else None)
    near = await _start(near_tls, [])
    try:
        near.send(OPTIONS, Peer("tls", "127.0.0.1", far.tls_port))
        await _wait(lambda: far_received, 1.5)
        if trusted:
            ((data, peer),) = far_received
            assert data == OPTIONS and peer.transport == "tls"
            assert near.tcp_connections == 1
        else:
            assert far_received == [] and near.tcp_connections == 0
    finally:
        await near.stop()
        await far.stop()


async def test_a_request_to_a_peer_whose_certificate_we_refuse_fails_at_once_with_503(
    tmp_path: Path,
) -> None:
    far_tls, _ = _tls(tmp_path / "far")
    far = await _start(far_tls, [])
    near_tls, _ = _tls(tmp_path / "near")  # trusts the system's CAs only
    stack = SipStack(tls=near_tls)
    await stack.start("127.0.0.1", 0, tls_port=0)
    try:
        destination = Peer("tls", "127.0.0.1", far.tls_port)
        request = parse_message(
            (
                f"OPTIONS sip:x@127.0.0.1:{far.tls_port};transport=tls SIP/2.0\r\n"
                f"Via: {stack.via(destination)}\r\nMax-Forwards: 70\r\n"
                "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n"
                "Call-ID: tls-refused\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            ).encode()
        )
        assert isinstance(request, Request)
        assert ";transport=tls" in stack.contact_uri("a", destination)
        assert f"SIP/2.0/TLS 127.0.0.1:{stack.transports.tls_port};" in stack.via(destination)
        response = await asyncio.wait_for(stack.request(request, destination), 5)
        assert response.status == 503  # not Timer F's 408 after 32 s
    finally:
        await stack.stop()
        await far.stop()
