"""SIP over UDP and TCP on one port, and over TLS on another (RFC 3261 §18, §26.2): the thin
asyncio side of the SIP stack.

Each complete message's bytes go to `on_message(data, peer)`; `send(data, peer)` writes to the
peer, over the TCP or TLS connection it came from when there is one (§18.2.2), opening one
otherwise. TCP and TLS connections are capped in total and per source address, and closed by
the deadlines of `sip.flowlimits` (only complete messages keep one open), checked every second.
A TLS connection counts from its TCP accept, so a handshake never finished is capped and closed
like a message never finished."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from mediacore.clock import MONOTONIC, Clock
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
    """One TCP or TLS connection: framed by Content-Length, closed on a framing error or a
    deadline.

    `accepted` is True for connections peers open to us (capped per address), False for ours.
    `handshake` is the server context of an accepted TLS connection: it is counted at once and
    upgraded to TLS before any byte is read."""

    def __init__(
        self,
        transports: SipTransports,
        *,
        accepted: bool,
        kind: str = "tcp",
        handshake: ssl.SSLContext | None = None,
    ) -> None:
        self.transports = transports
        self.accepted = accepted
        self.kind = kind
        self.handshake = handshake
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: Peer | None = None
        self.unsent: list[bytes] | None = [] if handshake is not None else None
        self.upgrading: asyncio.Task[None] | None = None
        self.deadlines = FlowDeadlines(transports.limits, transports.clock.now(), accepted=accepted)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's class does not inherit it
        host, port = transport.get_extra_info("peername")[:2]
        self.transport = transport
        self.peer = Peer(self.kind, host, port)
        if not self.transports._adopt(self):
            self.peer = None  # never counted, so never forgotten
            transport.abort()
            return
        if self.handshake is not None:
            transport.pause_reading()  # no byte reaches the framer before the handshake
            self.upgrading = asyncio.get_running_loop().create_task(
                self._upgrade(transport, self.handshake)
            )

    async def _upgrade(self, raw: asyncio.Transport, context: ssl.SSLContext) -> None:
        loop = asyncio.get_running_loop()
        try:
            secured = await loop.start_tls(
                raw,
                self,
                context,
                server_side=True,
                ssl_handshake_timeout=self.transports.limits.message_timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as error:
            log.info("sip tls handshake failed", extra={"peer": str(self.peer),
                     "error": str(error) or type(error).__name__})  # fmt: skip
            self.transports._forget(self)
            raw.abort()
            return
        if secured is None:  # the connection closed during the handshake
            self.transports._forget(self)
            return
        # Messages that came with the handshake's last record were read already; their
        # answers wait in `unsent` for this transport.
        self.transport = cast(asyncio.Transport, secured)
        waiting, self.unsent = self.unsent or [], None
        for data in waiting:
            self.write(data)

    def data_received(self, data: bytes) -> None:
        if self.peer is None or self.transport is None:
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
        if self.unsent is not None:  # still shaking hands: nothing may go out in the clear
            self.unsent.append(data)
            return
        if self.transport is not None and not self.transport.is_closing():
            self.deadlines.sent(self.transports.clock.now())
            self.transport.write(data)


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
                lambda: _Stream(self, accepted=True, kind="tls", handshake=tls.server),
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
        context: ssl.SSLContext | None = None
        if peer.transport == "tls":
            if self.tls is None:
                log.info("sip tls is off: cannot reach", extra={"peer": str(peer)})
                self._pending.pop(peer, None)
                self.unreachable(peer)
                return
            context = self.tls.client
        try:
            _, stream = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Stream(self, accepted=False, kind=peer.transport),
                    peer.host,
                    peer.port,
                    ssl=context,
                    server_hostname=(peer.server_name or peer.host) if context else None,
                    ssl_handshake_timeout=self.limits.message_timeout if context else None,
                ),
                5.0,
            )
        except (TimeoutError, OSError) as error:  # ssl.SSLError (a refused certificate) too
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
