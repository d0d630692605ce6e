"""SIP over UDP and TCP on one port, and over TLS on another (RFC 3261 §18, §26.2): the thin
asyncio side of the SIP stack.

Each complete message's bytes go to `on_message(data, peer)`; `send(data, peer)` writes to the
peer, over the TCP or TLS connection it came from when there is one (§18.2.2), opening one
otherwise. TCP and TLS connections are capped in total and per source address, and closed by
the deadlines of `sip.flowlimits` (only complete messages keep one open), checked every second.
A TLS connection (mediacore.tlssession over the TCP socket) counts from its TCP accept, so a
handshake never finished is capped and closed like a message never finished."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from mediacore.clock import MONOTONIC, Clock
from mediacore.tlssession import TlsSession
from sip.flowlimits import FlowDeadlines, TcpLimits
from sip.message import MAX_MESSAGE, SipParseError, StreamFramer
from sip.transaction import Peer

log = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0

OnMessage = Callable[[bytes, Peer], None]


@dataclass(frozen=True, slots=True)
class SipTls:
    """TLS for SIP: the context we accept connections with (our certificate) and the one we
    open connections with (whom we trust)."""

    server: ssl.SSLContext
    client: ssl.SSLContext


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_message: OnMessage) -> None:
        self.on_message = on_message

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) > MAX_MESSAGE or not data.strip(b"\r\n"):
            return  # oversized, or a CRLF keep-alive (RFC 5626 §3.5.1)
        self.on_message(data, Peer("udp", addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable from a gone phone
        log.debug("sip udp error", extra={"error": str(exc)})


class _Stream(asyncio.Protocol):
    """One TCP or TLS connection: framed by Content-Length, closed on a framing error, a TLS
    error or a deadline.

    `accepted` is True for connections peers open to us (capped per address), False for ours.
    `tls` is the connection's TLS session (mediacore.tlssession) over the TCP socket: a connection
    is counted from its TCP accept, and its handshake is held to the message deadline."""

    def __init__(
        self, transports: SipTransports, *, accepted: bool, tls: TlsSession | None = None
    ) -> None:
        self.transports = transports
        self.accepted = accepted
        self.tls = tls
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: Peer | None = None
        self.deadlines = FlowDeadlines(transports.limits, transports.clock.now(), accepted=accepted)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's class does not inherit it
        host, port = transport.get_extra_info("peername")[:2]
        self.transport = transport
        self.peer = Peer("tcp" if self.tls is None else "tls", host, port)
        if not self.transports._adopt(self):
            self.peer = None  # never counted, so never forgotten
            transport.abort()
            return
        self._flush_tls()  # our ClientHello, on a connection we open

    def data_received(self, data: bytes) -> None:
        if self.peer is None or self.transport is None:
            return
        if self.tls is not None:
            try:
                data = self.tls.receive(data)
            except ssl.SSLError as error:
                self._tls_failed(error)
                return
            self._flush_tls()
            if self.tls.closed:  # the peer's close_notify
                self.transport.close()
            if not data:
                return
        try:
            messages = self.framer.feed(data)
        except SipParseError as error:
            log.info("sip tcp framing error", extra={"peer": str(self.peer), "error": str(error)})
            self.transport.close()
            return
        now = self.transports.clock.now()
        self.deadlines.received(now, complete=len(messages), partial=self.framer.pending)
        for message in messages:
            self.transports.on_message(message, self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transports._forget(self)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.deadlines.sent(self.transports.clock.now())
            if self.tls is None:
                self.transport.write(data)
                return
            self.tls.send(data)  # held until the handshake ends
            self._flush_tls()

    def _flush_tls(self) -> None:
        if self.tls is not None and self.transport is not None:
            records = self.tls.data_to_send()
            if records:
                self.transport.write(records)

    def _tls_failed(self, error: ssl.SSLError) -> None:
        assert self.transport is not None and self.peer is not None
        log.info("sip tls handshake or record failed", extra={"peer": str(self.peer),
                 "error": error.reason or str(error)})  # fmt: skip
        self._flush_tls()  # the alert, if any
        self.transport.close()
        if not self.accepted:  # a peer we called, whose certificate we refuse
            self.transports.unreachable(self.peer)


class SipTransports:
    """The listening UDP socket, TCP server and TLS server, and the open connections by peer.

    `in_use(peer)` (default: never) names connections that are not closed for idleness, e.g.
    the flow a registered phone keeps open with CRLF keep-alives; the other deadlines hold."""

    def __init__(
        self,
        on_message: OnMessage,
        *,
        limits: TcpLimits | None = None,
        clock: Clock = MONOTONIC,
        tls: SipTls | None = None,
    ) -> None:
        self.on_message = on_message
        self.limits = limits or TcpLimits()
        self.clock = clock
        self.tls = tls
        self.port = 0
        self.tls_port = 0  # 0 until a TLS listener runs
        self.refused = 0  # TCP connections turned away by the caps
        self.in_use: Callable[[Peer], bool] = lambda peer: False
        # Told when a connection to a peer could not be made (its waiting bytes are dropped).
        self.unreachable: Callable[[Peer], None] = lambda peer: None
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._tls_server: asyncio.Server | None = None
        self._streams: dict[Peer, _Stream] = {}
        self._per_address: Counter[str] = Counter()  # accepted connections by source address
        self._pending: dict[Peer, list[bytes]] = {}  # bytes waiting for an outgoing connect
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int, tls_port: int | None = None) -> None:
        """Listen on UDP and TCP `port` (0: any free port, the same for both), and for TLS on
        `tls_port` (0: any free port; None or no `tls` contexts: no TLS listener)."""
        loop = asyncio.get_running_loop()
        udp, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self.on_message), local_addr=(host, port)
        )
        self._udp = udp
        self.port = udp.get_extra_info("sockname")[1]
        self._server = await loop.create_server(
            lambda: _Stream(self, accepted=True), host, self.port
        )
        tls = self.tls
        if tls is not None and tls_port is not None:
            self._tls_server = await loop.create_server(
                lambda: _Stream(self, accepted=True, tls=TlsSession(tls.server, server_side=True)),
                host,
                tls_port,
            )
            self.tls_port = self._tls_server.sockets[0].getsockname()[1]
        self._sweeper = loop.create_task(self._close_expired())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for stream in list(self._streams.values()):
            if stream.transport is not None:
                stream.transport.close()
        for server in (self._server, self._tls_server):
            if server is not None:
                server.close()
        if self._udp is not None:
            self._udp.close()

    def send(self, data: bytes, peer: Peer) -> None:
        if peer.transport == "udp":
            if self._udp is not None:
                self._udp.sendto(data, (peer.host, peer.port))
            return
        stream = self._streams.get(peer)
        if stream is not None:
            stream.write(data)
            return
        waiting = self._pending.get(peer)
        if waiting is not None:
            waiting.append(data)
            return
        self._pending[peer] = [data]
        asyncio.get_running_loop().create_task(self._connect(peer))

    async def _connect(self, peer: Peer) -> None:
        loop = asyncio.get_running_loop()
        session: TlsSession | None = None
        if peer.transport == "tls":
            if self.tls is None:
                log.info("sip tls is off: cannot reach", extra={"peer": str(peer)})
                self._pending.pop(peer, None)
                self.unreachable(peer)
                return
            name = peer.server_name or peer.host  # what the certificate must name
            session = TlsSession(self.tls.client, server_side=False, server_hostname=name)
        try:
            _, stream = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Stream(self, accepted=False, tls=session), peer.host, peer.port
                ),
                5.0,
            )
        except (TimeoutError, OSError) as error:
            log.info("sip tcp connect failed", extra={"peer": str(peer), "error": str(error)})
            self._pending.pop(peer, None)
            self.unreachable(peer)
            return
        # Responses and in-dialog requests come back on this connection, keyed by the peer
        # we dialled (its listening port), not by the ephemeral port of our side.
        if stream.peer is not None and stream.peer != peer:
            self._streams.pop(stream.peer, None)
            stream.peer = peer
            self._streams[peer] = stream
        for data in self._pending.pop(peer, []):
            stream.write(data)

    def _adopt(self, stream: _Stream) -> bool:
        assert stream.peer is not None
        host = stream.peer.host
        limits = self.limits
        if len(self._streams) >= limits.max_connections or (
            stream.accepted and self._per_address[host] >= limits.max_per_address
        ):
            self.refused += 1
            log.debug("sip tcp connection refused by the caps", extra={"peer": str(stream.peer)})
            return False
        self._streams[stream.peer] = stream
        if stream.accepted:
            self._per_address[host] += 1
        return True

    def _forget(self, stream: _Stream) -> None:
        if stream.peer is None or self._streams.get(stream.peer) is not stream:
            return
        del self._streams[stream.peer]
        if stream.accepted:
            host = stream.peer.host
            self._per_address[host] -= 1
            if self._per_address[host] <= 0:
                del self._per_address[host]

    async def _close_expired(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            self.close_expired(self.clock.now())

    def close_expired(self, now: float) -> int:
        """Close every connection past a deadline of `sip.flowlimits`; how many were."""
        closed = 0
        for stream in list(self._streams.values()):
            reason = stream.deadlines.expired(now)
            if reason is None or stream.transport is None or stream.peer is None:
                continue
            if reason == "idle" and self.in_use(stream.peer):
                continue
            log.debug("sip tcp connection closed", extra={"peer": str(stream.peer),
                      "reason": reason})  # fmt: skip
            stream.transport.close()
            closed += 1
        return closed

    @property
    def tcp_connections(self) -> int:
        return len(self._streams)
