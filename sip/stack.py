"""The SIP stack at run time: sockets, the transaction layer's timers, and a user agent above.

Incoming bytes are parsed, stamped with received/rport (RFC 3581), fed to the sans-I/O
`TransactionLayer`, and its events go to the `UserAgent`; whatever the layer queues is written
out at once. Client requests are awaited: `await stack.request(...)` gives the final response,
a timeout becoming a local 408."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from mediacore.clock import MONOTONIC, Clock
from sip.address import SipSyntaxError, SipUri, format_host
from sip.dialog import new_branch
from sip.flowlimits import TcpLimits
from sip.message import (
    MAX_MESSAGE,
    Headers,
    Request,
    Response,
    SipParseError,
    make_response,
    parse_message,
)
from sip.transaction import (
    AckTimedOut,
    ClientTransaction,
    Event,
    Peer,
    RequestReceived,
    ResponseReceived,
    ServerTransaction,
    StrayResponse,
    TransactionLayer,
    TransactionTimedOut,
)
from sip.transport import SipTls, SipTransports

log = logging.getLogger(__name__)

ProvisionalHandler = Callable[[Response], None]
# A request awaiting its final response: the future, its 1xx handler, where it went, itself.
_Pending = tuple[asyncio.Future[Response], ProvisionalHandler | None, Peer, Request]


class UserAgent(Protocol):
    """What the stack calls for requests that are not answers to our own."""

    def admits(self, source: Peer) -> bool:
        """Whether to hear `source` at all: a blocked address is dropped before parsing, so it
        costs no transaction and learns nothing."""
        ...

    def request_received(
        self, request: Request, source: Peer, transaction: ServerTransaction | None
    ) -> None: ...

    def ack_timed_out(self, call_id: str, cseq: int) -> None: ...

    def server_transaction_timed_out(self, transaction: ServerTransaction) -> None: ...

    def stray_response(self, response: Response, source: Peer) -> None: ...


class SipStack:
    def __init__(
        self,
        user_agent: UserAgent | None = None,
        *,
        clock: Clock = MONOTONIC,
        tcp_limits: TcpLimits | None = None,
        tls: SipTls | None = None,
    ) -> None:
        self.clock = clock  # the SIP layer's time: transaction timers, and the user agent's
        self.user_agent = user_agent
        self.layer = TransactionLayer()
        self.transports = SipTransports(
            self._message_received, limits=tcp_limits, clock=clock, tls=tls
        )
        self.counters: Counter[str] = Counter()
        self.advertised_host = ""  # written into Via and Contact when not 0.0.0.0
        self._pending: dict[int, _Pending] = {}
        self.transports.unreachable = self._unreachable
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    async def start(self, host: str, port: int, tls_port: int | None = None) -> None:
        """Listen on UDP and TCP `port`, and for TLS on `tls_port` when the stack has TLS."""
        await self.transports.start(host, port, tls_port)
        unspecified = host in ("0.0.0.0", "::", "")
        self.advertised_host = "" if unspecified else host

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for future, *_ in self._pending.values():
            if not future.done():
                future.cancel()
        await self.transports.stop()

    @property
    def port(self) -> int:
        return self.transports.port

    def port_for(self, transport: str) -> int:
        """The port we listen on for `transport`: the TLS port for "tls", else the SIP port."""
        return self.transports.tls_port if transport == "tls" else self.transports.port

    # -- addresses ------------------------------------------------------------------------

    def local_host(self, toward: str) -> str:
        """Our address as `toward` sees it: the bound one, or the one routing would pick."""
        if self.advertised_host:
            return self.advertised_host
        family = socket.AF_INET6 if ":" in toward else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((toward, 9))  # UDP connect sends nothing; it only picks a route
                return str(probe.getsockname()[0])
            except OSError:
                return "::1" if family == socket.AF_INET6 else "127.0.0.1"

    def via(self, peer: Peer) -> str:
        host = format_host(self.local_host(peer.host))
        port = self.port_for(peer.transport)
        return f"SIP/2.0/{peer.transport.upper()} {host}:{port};branch={new_branch()};rport"

    def contact_uri(self, user: str, peer: Peer, *, secure: bool = False) -> str:
        """Our Contact toward `peer`, on its transport; `secure` (a sips: dialog, RFC 5630)
        gives a sips: URI, which means TLS by itself."""
        host = format_host(self.local_host(peer.host))
        port = self.port_for(peer.transport)
        if secure and peer.transport == "tls":
            return f"sips:{user}@{host}:{port}"
        transport = f";transport={peer.transport}" if peer.transport in ("tcp", "tls") else ""
        return f"sip:{user}@{host}:{port}{transport}"

    # -- sending --------------------------------------------------------------------------

    async def request(
        self,
        request: Request,
        destination: Peer,
        on_provisional: ProvisionalHandler | None = None,
    ) -> Response:
        """Send `request` in a client transaction; returns its final response (408 on timeout)."""
        transaction = self.layer.send_request(request, destination, self.clock.now())
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[id(transaction)] = (future, on_provisional, destination, request)
        self._flush()
        try:
            return await future
        finally:
            self._pending.pop(id(transaction), None)

    def respond(self, transaction: ServerTransaction, response: Response) -> None:
        self.layer.respond(transaction, response, self.clock.now())
        self._flush()

    def send_stateless(self, message: Request | Response, destination: Peer) -> None:
        self.layer.send_stateless(message, destination)
        self._flush()

    def retransmit_2xx(self, response: Response, destination: Peer) -> None:
        self.layer.retransmit_2xx(response, destination, self.clock.now())
        self._flush()

    def ack_received(self, call_id: str, cseq: int) -> None:
        self.layer.ack_received(call_id, cseq)

    def peer_proved(self, peer: Peer) -> None:
        """`peer` answered something only a receiver of ours could (a digest challenge)."""
        self.layer.peer_proved(peer)

    def peer_proven(self, peer: Peer) -> bool:
        """Whether `peer` proved it receives what we send (TCP peers always have)."""
        return self.layer.peer_proven(peer)

    # -- receiving ------------------------------------------------------------------------

    def _message_received(self, data: bytes, peer: Peer) -> None:
        self.counters["received"] += 1
        if self.user_agent is not None and not self.user_agent.admits(peer):
            self.counters["dropped"] += 1
            return
        try:
            message = parse_message(data)
        except SipParseError as error:
            self.counters["malformed"] += 1
            self._reject_malformed(data, error, peer)
            return
        if isinstance(message, Request):
            try:
                _stamp_received(message, peer)
            except SipSyntaxError:
                self.counters["malformed"] += 1
                return
        try:
            events = self.layer.receive(message, peer, self.clock.now())
        except SipParseError:
            self.counters["malformed"] += 1
            return
        self._dispatch(events)
        self._flush()

    def _reject_malformed(self, data: bytes, error: SipParseError, peer: Peer) -> None:
        """Answer a request we cannot parse when its Via lets us (§21.4.1), else drop it."""
        response = best_effort_response(data, error.status, f"{error.reason} ({error})")
        if response is not None:
            self.transports.send(response.serialize(), peer)

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            try:
                self._handle(event)
            except Exception:  # one bad call must not stop the stack
                log.exception("sip event handling failed", extra={"event": type(event).__name__})

    def _handle(self, event: Event) -> None:
        agent = self.user_agent
        if isinstance(event, RequestReceived):
            if agent is not None:
                agent.request_received(event.request, event.source, event.transaction)
        elif isinstance(event, ResponseReceived):
            self._response(event.transaction, event.response)
        elif isinstance(event, TransactionTimedOut):
            if isinstance(event.transaction, ClientTransaction):
                timeout = make_response(event.transaction.request, 408, "Request Timeout")
                self._response(event.transaction, timeout)
            elif agent is not None:
                agent.server_transaction_timed_out(event.transaction)
        elif isinstance(event, AckTimedOut):
            if agent is not None:
                agent.ack_timed_out(event.call_id, event.cseq)
        elif isinstance(event, StrayResponse):
            if agent is not None:
                agent.stray_response(event.response, event.source)

    def _response(self, transaction: ClientTransaction, response: Response) -> None:
        pending = self._pending.get(id(transaction))
        if pending is None:
            return
        future, on_provisional, *_ = pending
        if response.status < 200:
            if on_provisional is not None:
                on_provisional(response)
        elif not future.done():
            future.set_result(response)

    def _unreachable(self, peer: Peer) -> None:
        """No connection to `peer` could be made (refused, unreachable, or a certificate we do
        not trust): requests waiting on it fail now with a local 503 (RFC 3261 §8.1.3.1)
        rather than at their transaction's timeout."""
        for future, _, destination, request in list(self._pending.values()):
            if destination == peer and not future.done():
                future.set_result(make_response(request, 503, "Service Unavailable"))

    # -- output and timers ----------------------------------------------------------------

    def _flush(self) -> None:
        for data, peer in self.layer.datagrams_to_send():
            self.counters["sent"] += 1
            self.transports.send(data, peer)
        self._arm_timer()

    def _arm_timer(self) -> None:
        deadline = self.layer.timer()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            delay = max(0.0, deadline - self.clock.now())
            self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self._dispatch(self.layer.handle_timer(self.clock.now()))
        self._flush()


def _stamp_received(request: Request, peer: Peer) -> None:
    """RFC 3581 / §18.2.1: note where the request really came from in its top Via."""
    values = request.headers.get_all("Via")
    top = request.top_via
    params: dict[str, str | None] = {}
    if top.host != peer.host:
        params["received"] = peer.host
    if "rport" in top.params:
        params["received"] = peer.host
        params["rport"] = str(peer.port)
    if not params:
        return
    others = [(name, value) for name, value in request.headers if name != "Via"]
    stamped = Headers([("Via", str(top.with_params(**params))), *[("Via", v) for v in values[1:]]])
    for name, value in others:
        stamped.add(name, value)
    request.headers = stamped


def best_effort_response(data: bytes, status: int, reason: str) -> Response | None:
    """A response to unparsable bytes built from whatever headers can be read; None if no Via."""
    data = data.lstrip(b"\r\n")
    if data.startswith(b"SIP/") or len(data) > MAX_MESSAGE:
        return None  # never answer a response
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    copied = Headers()
    for line in head.replace("\r\n", "\n").split("\n")[1:]:
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() in (
            "via",
            "v",
            "from",
            "f",
            "to",
            "t",
            "call-id",
            "i",
            "cseq",
        ):
            copied.add(name.strip(), value.strip()[:1024])
    if copied.get("Via") is None:
        return None
    return Response(copied, b"", status, reason[:200].replace("\r", " ").replace("\n", " "))


async def resolve(uri: SipUri) -> Peer:
    """Where to send requests for `uri`: its host's address (A/AAAA; no NAPTR/SRV) and port
    (5061 for TLS when the URI names none). A TLS peer keeps the URI's host name, which its
    certificate must carry.

    Raises OSError when the name does not resolve."""
    port = uri.port or uri.default_port
    try:
        ipaddress.ip_address(uri.host)
        return Peer(uri.transport, uri.host, port)
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(uri.host, port, type=socket.SOCK_DGRAM)
    return Peer(uri.transport, str(infos[0][4][0]), port, server_name=uri.host)
