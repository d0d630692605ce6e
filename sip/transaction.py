"""SIP transactions (RFC 3261 §17), sans-I/O: every input carries `now`, every output is queued.

The socket owner feeds parsed messages to `TransactionLayer.receive(message, source, now)`,
writes out `datagrams_to_send()` after every call, and calls `handle_timer(now)` once `now`
reaches `timer()`; the user agent reacts to the returned events. Nothing here reads a clock or
touches a socket, so tests drive every timer with plain floats.

Responses to received requests go back to the peer the request came from (symmetric routing,
as RFC 3581 does for UDP and §18.2.2 for connections), not to the Via sent-by.

Every transaction ends by a timer. Beyond RFC 3261's own: a non-INVITE server transaction
left unanswered ends after 64*T1 (its client gave up by Timer F), an unanswered INVITE gets
408 after INVITE_ANSWER_LIMIT; an INVITE client transaction ends 64*T1 after its CANCEL
(§9.1), or at the latest INVITE_PROCEEDING_LIMIT after its last provisional response.

Two guards keep a forged request from costing us, or anyone else, more than one answer:
- no transaction outlives its timers, as above;
- a UDP source that has not proved it receives what we send (`sip.reachable`) gets a final
  response sent once and re-sent only when its request is retransmitted, as long as it saw no
  provisional response (so it still retransmits); after one, at most UNPROVEN_RETRANSMISSIONS
  timer-driven repeats. 100 Trying waits TRYING_DELAY (§17.2.1), so a quick answer goes alone.
Proven peers get the full §17.2.1 and §13.3.1.4 retransmissions."""

from __future__ import annotations

import heapq
import itertools
import secrets
from dataclasses import dataclass

from sip.message import Headers, Request, Response, make_response
from sip.peer import Peer
from sip.reachable import ReachablePeers

T1, T2, T4 = 0.5, 4.0, 5.0
TIMER_D = 32.0  # §17.1.1.2: at least 32 s over unreliable transports, whatever T1 is
MAGIC_COOKIE = "z9hG4bK"  # §8.1.1.7: branches made by RFC 3261 stacks start with it
MAX_SERVER_TRANSACTIONS = 10_000
TRYING_DELAY = 0.2  # §17.2.1: 100 Trying only when the TU does not answer within 200 ms
INVITE_ANSWER_LIMIT = 180.0  # an INVITE unanswered this long gets 408 (Timer C's minimum, §16.6)
# Our INVITE ringing this long since its last provisional is given up: beyond the longest
# dial-out ring_timeout (600 s) and the 64*T1 its CANCEL may take.
INVITE_PROCEEDING_LIMIT = 660.0
UNPROVEN_RETRANSMISSIONS = 3  # timer-driven repeats of a final response to an unproven UDP peer

TransactionKey = tuple[str, ...]


# -- events handed to the user agent -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request for the UA: answer it with `TransactionLayer.respond(transaction, ...)`.

    `transaction` is None for an ACK that matches no transaction (the ACK of a 2xx, which
    belongs to the dialog, §13.3.1.4): never answer it."""

    request: Request
    source: Peer
    transaction: ServerTransaction | None


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response to `transaction.request`: every provisional one, and the final one once.

    For a 2xx to INVITE the UA sends the ACK itself (`send_stateless`); 300-699 are ACKed here."""

    response: Response
    transaction: ClientTransaction


@dataclass(frozen=True, slots=True)
class StrayResponse:
    """A response that matches no live transaction, typically a retransmitted 2xx to INVITE:
    the UA re-sends its ACK when it knows the dialog, and ignores it otherwise."""

    response: Response
    source: Peer


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """Timer B or F fired (client: the UA treats it as a 408, §8.1.3.1), "C" or "cancelled"
    (client: our INVITE got no final response after its provisional, or after its CANCEL),
    Timer H fired (server: the ACK of our 300-699 never came), or "unanswered" (server: the UA
    never answered; an INVITE got 408, a non-INVITE nothing). The transaction is gone."""

    transaction: ClientTransaction | ServerTransaction
    timer: str


@dataclass(frozen=True, slots=True)
class AckTimedOut:
    """No ACK came for our 2xx to INVITE within 64*T1: the UA ends the call with BYE (§13.3.1.4)."""

    call_id: str
    cseq: int


Event = RequestReceived | ResponseReceived | StrayResponse | TransactionTimedOut | AckTimedOut


# -- timers --------------------------------------------------------------------------------


class _Context:
    """What a layer shares with its transactions: timer values, the send queue, the timer heap."""

    def __init__(
        self,
        t1: float,
        t2: float,
        t4: float,
        invite_answer_limit: float = INVITE_ANSWER_LIMIT,
        invite_proceeding_limit: float = INVITE_PROCEEDING_LIMIT,
    ) -> None:
        self.t1, self.t2, self.t4 = t1, t2, t4
        self.invite_answer_limit = invite_answer_limit
        self.invite_proceeding_limit = invite_proceeding_limit
        self.reachable = ReachablePeers()
        self.outgoing: list[tuple[bytes, Peer]] = []
        self.heap: list[tuple[float, int, _TimerOwner, str]] = []
        self._sequence = itertools.count()

    def send(self, data: bytes, peer: Peer) -> None:
        self.outgoing.append((data, peer))

    def arm(self, owner: _TimerOwner, name: str, deadline: float) -> None:
        sequence = next(self._sequence)
        owner._armed[name] = sequence  # an earlier entry for `name` goes stale in the heap
        heapq.heappush(self.heap, (deadline, sequence, owner, name))

    def retransmissions(self, peer: Peer, provisional_sent: bool) -> int | None:
        """How many timer-driven repeats a final response to `peer` may have; None: no bound.

        A peer that saw no provisional response still retransmits its request, and each of
        those gets the response again: no timer is needed to recover from a loss."""
        if peer in self.reachable:
            return None
        return UNPROVEN_RETRANSMISSIONS if provisional_sent else 0


class _TimerOwner:
    """Something with named timers on the layer's heap: a transaction or a 2xx retransmission."""

    def __init__(self, context: _Context) -> None:
        self._context = context
        self._armed: dict[str, int] = {}  # timer name -> sequence number of its live heap entry

    @property
    def finished(self) -> bool:
        raise NotImplementedError

    def _on_timer(self, name: str, now: float) -> list[Event]:
        raise NotImplementedError

    def _arm(self, name: str, delay: float, now: float) -> None:
        self._context.arm(self, name, now + delay)

    def _disarm(self, *names: str) -> None:
        for name in names:
            self._armed.pop(name, None)


class _Transaction(_TimerOwner):
    """State shared by client and server transactions."""

    state: str

    @property
    def finished(self) -> bool:
        return self.state == "terminated"

    def _terminate(self) -> None:
        self.state = "terminated"
        self._armed.clear()

    def _linger(self, state: str, timer: str, delay: float, now: float) -> None:
        """Enter `state` and wait `delay` for retransmissions, or end at once when it is 0."""
        self.state = state
        if delay > 0:
            self._arm(timer, delay, now)
        else:
            self._terminate()


# -- client transactions (§17.1) -----------------------------------------------------------


class ClientTransaction(_Transaction):
    """A request we sent, retransmitted until answered (§17.1). Made by `send_request`.

    The UA waits for ResponseReceived or TransactionTimedOut. The UA that gives up on a ringing
    INVITE sends a CANCEL (§9.1); the INVITE then ends 64*T1 later if no final response comes,
    and in any case INVITE_PROCEEDING_LIMIT after its last provisional (Timer "C")."""

    def __init__(self, context: _Context, request: Request, destination: Peer, now: float) -> None:
        super().__init__(context)
        self.request = request
        self.destination = destination
        self.is_invite = request.method == "INVITE"
        self.key: TransactionKey = (request.top_via.branch or "", request.method)
        self.state = "calling" if self.is_invite else "trying"
        self.last_response: Response | None = None
        self._data = request.serialize()
        self._ack: bytes | None = None
        self._interval = context.t1
        context.send(self._data, destination)
        if not destination.reliable:
            self._arm("A" if self.is_invite else "E", context.t1, now)
        self._arm("B" if self.is_invite else "F", 64 * context.t1, now)

    def _on_response(self, response: Response, source: Peer, now: float) -> list[Event]:
        if self.is_invite:
            return self._invite_response(response, source, now)
        if self.state == "completed":
            return []  # §17.1.2.2: retransmissions of the final response are absorbed
        self.last_response = response
        if response.status < 200:
            self.state = "proceeding"
        else:
            self._disarm("E", "F")
            self._linger("completed", "K", 0.0 if self._reliable else self._context.t4, now)
        return [ResponseReceived(response, self)]

    def _invite_response(self, response: Response, source: Peer, now: float) -> list[Event]:
        status = response.status
        if self.state == "completed":
            if status >= 300:  # our ACK was lost: the server is retransmitting (§17.1.1.2)
                assert self._ack is not None
                self._context.send(self._ack, self.destination)
                return []
            # A 2xx from another fork after a 300-699: the UA ACKs and BYEs it.
            return [StrayResponse(response, source)] if status >= 200 else []
        self._disarm("A", "B")  # any response stops retransmission, and Timer B is for Calling
        self.last_response = response
        if status < 200:
            self.state = "proceeding"
            self._arm("C", self._context.invite_proceeding_limit, now)
        elif status < 300:
            self._terminate()  # the UA core ACKs 2xx; their retransmissions come as StrayResponse
        else:
            self._ack = _ack_for_failure(self.request, response).serialize()
            self._context.send(self._ack, self.destination)
            self._linger("completed", "D", 0.0 if self._reliable else TIMER_D, now)
        return [ResponseReceived(response, self)]

    def _on_timer(self, name: str, now: float) -> list[Event]:
        if name in ("A", "E"):
            self._context.send(self._data, self.destination)
            if name == "A":
                self._interval *= 2  # §17.1.1.2: INVITE retransmissions double without a cap
            elif self.state == "proceeding":
                self._interval = self._context.t2  # §17.1.2.2: a provisional slows E to T2
            else:
                self._interval = min(2 * self._interval, self._context.t2)
            self._arm(name, self._interval, now)
            return []
        self._terminate()
        if name in ("B", "F", "C", "cancelled"):
            return [TransactionTimedOut(self, name)]
        return []  # D or K: the wait for retransmitted responses is over

    def cancelled(self, now: float) -> None:
        """We sent a CANCEL for this INVITE: a final response has 64*T1 to come (§9.1)."""
        if self.is_invite and self.state in ("calling", "proceeding"):
            self._arm("cancelled", 64 * self._context.t1, now)

    @property
    def _reliable(self) -> bool:
        return self.destination.reliable


def _ack_for_failure(request: Request, response: Response) -> Request:
    """The ACK of a 300-699 to `request`, built by the INVITE client transaction (§17.1.1.3)."""
    headers = Headers()
    headers.add("Via", request.headers.get_all("Via")[0])  # the top Via alone, same branch
    headers.add("Max-Forwards", "70")
    for name, value in request.headers:
        if name == "Route":
            headers.add(name, value)
    headers.add("From", request.headers.get("From") or "")
    headers.add("To", response.headers.get("To") or "")  # carries the tag the server chose
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", f"{request.cseq[0]} ACK")
    return Request(headers, b"", "ACK", request.uri)  # serialize() adds Content-Length: 0


# -- server transactions (§17.2) -----------------------------------------------------------


class ServerTransaction(_Transaction):
    """A request we received, answered through `TransactionLayer.respond` (§17.2).

    After a 2xx to INVITE it stays "accepted" for 64*T1 (RFC 6026 §7.1) so that a retransmitted
    INVITE is absorbed instead of reaching the UA as a new call (it gets the 2xx again). One the
    UA leaves unanswered ends by the "unanswered" timer (see the module docstring)."""

    def __init__(
        self,
        context: _Context,
        request: Request,
        source: Peer,
        key: TransactionKey,
        now: float,
        *,
        auto_trying: bool,
    ) -> None:
        super().__init__(context)
        self.request = request
        self.source = source
        self.key = key
        self.is_invite = request.method == "INVITE"
        self.state = "proceeding" if self.is_invite else "trying"
        self.last_response: Response | None = None
        self.provisional_sent = False
        self.timed_out = False  # the UA never answered: `respond` drops what comes late
        self._data: bytes | None = None  # the last response as sent, for retransmissions
        self._interval = context.t1
        self._repeats_left: int | None = None  # Timer G's budget: None is unbounded
        if self.is_invite and auto_trying:
            self._arm("trying", TRYING_DELAY, now)
        limit = context.invite_answer_limit if self.is_invite else 64 * context.t1
        self._arm("unanswered", limit, now)

    def _on_request(self, request: Request, source: Peer, now: float) -> list[Event]:
        """A retransmission of our request, or the ACK of our INVITE (§17.2.1, §17.2.2)."""
        if request.method != "ACK":
            if self.state in ("proceeding", "completed", "accepted") and self._data is not None:
                self._context.send(self._data, self.source)  # one answer per retransmission
            return []
        if self.state == "completed":
            if self._answers(request):
                self._context.reachable.proved(source)
            self._disarm("G", "H")
            self._linger("confirmed", "I", 0.0 if self._reliable else self._context.t4, now)
        elif self.state == "accepted":
            return [RequestReceived(request, source, None)]  # RFC 6026 §8.7: the ACK goes up
        return []

    def _answers(self, ack: Request) -> bool:
        """Whether `ack` carries the To tag of our final response: only its receiver knows it."""
        sent = self.last_response.to.tag if self.last_response is not None else None
        return sent is not None and ack.to.tag == sent

    def _respond(self, response: Response, now: float) -> None:
        status = response.status
        if not 100 <= status <= 699:
            raise ValueError(f"bad response status {status}")
        if self.state == "accepted" and 200 <= status < 300:
            self._context.send(response.serialize(), self.source)  # RFC 6026: 2xx pass through
            return
        if self.state not in ("trying", "proceeding"):
            raise ValueError(f"cannot send {status} on a {self.state} transaction")
        self._disarm("trying")
        self.last_response = response
        self._data = response.serialize()
        self._context.send(self._data, self.source)
        if status < 200:
            self.state = "proceeding"
            self.provisional_sent = True
            return
        self._disarm("unanswered")
        if not self.is_invite:
            self._linger("completed", "J", 0.0 if self._reliable else 64 * self._context.t1, now)
        elif status < 300:
            self._linger("accepted", "L", 64 * self._context.t1, now)
        else:
            self.state = "completed"
            self._repeats_left = self._context.retransmissions(self.source, self.provisional_sent)
            if not self._reliable and self._repeats_left != 0:
                self._arm("G", self._context.t1, now)
            self._arm("H", 64 * self._context.t1, now)

    def _on_timer(self, name: str, now: float) -> list[Event]:
        if name == "G":
            assert self._data is not None
            self._context.send(self._data, self.source)
            if self._repeats_left is not None:
                self._repeats_left -= 1
            if self._repeats_left != 0:
                self._interval = min(2 * self._interval, self._context.t2)
                self._arm("G", self._interval, now)
            return []
        if name == "trying":
            self._respond(make_response(self.request, 100), now)
            return []
        if name == "unanswered":
            return self._unanswered(now)
        self._terminate()
        if name == "H":
            return [TransactionTimedOut(self, name)]
        return []  # I, J or L: the wait for retransmitted requests is over

    def _unanswered(self, now: float) -> list[Event]:
        """The UA never answered: an INVITE gets 408 (its caller waits for a final response
        forever otherwise); a non-INVITE nothing (RFC 4320 §4.1: its client gave up already)."""
        self.timed_out = True
        if self.is_invite:
            sent = self.last_response.to.tag if self.last_response is not None else None
            self._respond(make_response(self.request, 408, to_tag=sent or _new_tag()), now)
        else:
            self._terminate()
        return [TransactionTimedOut(self, "unanswered")]

    @property
    def _reliable(self) -> bool:
        return self.source.reliable


def _new_tag() -> str:
    return secrets.token_hex(6)


def _server_key(request: Request, method: str | None = None) -> TransactionKey:
    """What identifies the server transaction of `request` (§17.2.3); raises ValueError.

    An ACK matches its INVITE; `method` overrides that to look up the INVITE of a CANCEL."""
    via = request.top_via
    number, _ = request.cseq  # parsed here even when unused, so that later reads cannot fail
    method = method or ("INVITE" if request.method == "ACK" else request.method)
    branch = via.branch or ""
    sent_by = (via.host.lower(), str(via.port or ""))
    if branch.startswith(MAGIC_COOKIE):
        return (branch, *sent_by, method)
    # RFC 2543 peers: branches need not be unique, so add the dialog and CSeq (§17.2.3).
    tag = request.from_.tag or ""
    return ("rfc2543", request.call_id, str(number), tag, branch, *sent_by, method)


# -- 2xx retransmission by the UAS core (§13.3.1.4) ----------------------------------------


class InviteOkRetransmitter(_TimerOwner):
    """One 2xx to INVITE re-sent at T1, 2*T1, ... capped at T2 until its ACK (§13.3.1.4).

    Made by the layer (`respond` with a 2xx to INVITE, or `retransmit_2xx`); an ACK passed to
    `receive` stops it, and AckTimedOut tells the UA to hang up after 64*T1."""

    def __init__(
        self,
        context: _Context,
        response: Response,
        destination: Peer,
        now: float,
        provisional_sent: bool = True,
    ) -> None:
        super().__init__(context)
        self.call_id = response.call_id
        self.cseq = response.cseq[0]
        self.to_tag = response.to.tag
        self.destination = destination
        self._data = response.serialize()
        self._interval = context.t1
        self._stopped = False
        self._repeats_left = context.retransmissions(destination, provisional_sent)
        if not destination.reliable and self._repeats_left != 0:
            self._arm("retransmit", context.t1, now)
        self._arm("give_up", 64 * context.t1, now)  # even over TCP: the ACK may never come

    @property
    def finished(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        self._stopped = True
        self._armed.clear()

    def _on_timer(self, name: str, now: float) -> list[Event]:
        if name == "retransmit":
            self._context.send(self._data, self.destination)
            if self._repeats_left is not None:
                self._repeats_left -= 1
            if self._repeats_left != 0:
                self._interval = min(2 * self._interval, self._context.t2)
                self._arm("retransmit", self._interval, now)
            return []
        self.stop()
        return [AckTimedOut(self.call_id, self.cseq)]


# -- the layer -----------------------------------------------------------------------------


class TransactionLayer:
    """All transactions of one SIP endpoint, driven by the caller's clock and sockets.

    After every call, send `datagrams_to_send()` and re-arm the wake-up at `timer()`."""

    def __init__(
        self,
        *,
        t1: float = T1,
        t2: float = T2,
        t4: float = T4,
        auto_trying: bool = True,
        max_server_transactions: int = MAX_SERVER_TRANSACTIONS,
        invite_answer_limit: float = INVITE_ANSWER_LIMIT,
        invite_proceeding_limit: float = INVITE_PROCEEDING_LIMIT,
    ) -> None:
        if not 0 < t1 <= t2 or t4 <= 0:
            raise ValueError("timers must satisfy 0 < T1 <= T2 and T4 > 0")
        self.auto_trying = auto_trying  # §17.2.1: 100 Trying when the UA takes over 200 ms
        self.max_server_transactions = max_server_transactions
        self._context = _Context(t1, t2, t4, invite_answer_limit, invite_proceeding_limit)
        self._clients: dict[TransactionKey, ClientTransaction] = {}
        self._servers: dict[TransactionKey, ServerTransaction] = {}
        self._ok_retransmitters: dict[tuple[str, int], InviteOkRetransmitter] = {}

    # -- sending ---------------------------------------------------------------------------

    def send_request(self, request: Request, destination: Peer, now: float) -> ClientTransaction:
        """Send `request` in a new client transaction; wait for its events.

        The request must carry its top Via with a fresh "z9hG4bK" branch (a CANCEL reuses its
        INVITE's). ACK is no transaction: use `send_stateless`. Raises ValueError otherwise."""
        if request.method == "ACK":
            raise ValueError("ACK is not a transaction: use send_stateless")
        branch = request.top_via.branch or ""
        if not branch.startswith(MAGIC_COOKIE):
            raise ValueError(f"top Via branch {branch[:40]!r} lacks the {MAGIC_COOKIE} cookie")
        if request.cseq[1] != request.method:
            raise ValueError("CSeq method does not match the request")
        if (branch, request.method) in self._clients:
            raise ValueError(f"a {request.method} with branch {branch!r} is already running")
        transaction = ClientTransaction(self._context, request, destination, now)
        self._clients[transaction.key] = transaction
        if request.method == "CANCEL":
            invite = self._clients.get((branch, "INVITE"))
            if invite is not None:
                invite.cancelled(now)
        return transaction

    def send_stateless(self, message: Request | Response, destination: Peer) -> None:
        """Queue `message` once, outside any transaction: the ACK of a 2xx, stateless answers."""
        self._context.send(message.serialize(), destination)

    def respond(self, transaction: ServerTransaction, response: Response, now: float) -> None:
        """Send `response` through `transaction` (§17.2.1, §17.2.2); ValueError if it already
        sent a final one. A 2xx to INVITE is then retransmitted until its ACK (§13.3.1.4): do
        not also call `retransmit_2xx`, and expect AckTimedOut if the ACK never comes.

        A transaction that timed out unanswered takes nothing more: the response is dropped."""
        if transaction.timed_out:
            return
        starts_2xx = transaction.is_invite and transaction.state == "proceeding"
        transaction._respond(response, now)
        if starts_2xx and 200 <= response.status < 300:
            self._start_ok_retransmitter(
                response, transaction.source, now, transaction.provisional_sent
            )
        self._forget(transaction)

    def retransmit_2xx(self, response: Response, destination: Peer, now: float) -> None:
        """Send a 2xx to INVITE made outside a transaction now, and re-send it until
        `ack_received` (or an ACK passed to `receive`), else emit AckTimedOut after 64*T1."""
        self._context.send(response.serialize(), destination)
        self._start_ok_retransmitter(response, destination, now)

    def ack_received(self, call_id: str, cseq_number: int) -> None:
        """Stop re-sending the 2xx of INVITE `cseq_number` in `call_id` (harmless if none)."""
        retransmitter = self._ok_retransmitters.pop((call_id, cseq_number), None)
        if retransmitter is not None:
            retransmitter.stop()

    def peer_proved(self, peer: Peer) -> None:
        """`peer` showed it receives what we send (e.g. it answered our digest challenge):
        from now on it gets the full RFC 3261 retransmissions."""
        self._context.reachable.proved(peer)

    def peer_proven(self, peer: Peer) -> bool:
        """Whether `peer` is reliable (TCP) or proved it receives what we send."""
        return peer in self._context.reachable

    def _start_ok_retransmitter(
        self, response: Response, destination: Peer, now: float, provisional_sent: bool = True
    ) -> None:
        self.ack_received(response.call_id, response.cseq[0])  # a new 2xx replaces an earlier one
        retransmitter = InviteOkRetransmitter(
            self._context, response, destination, now, provisional_sent
        )
        self._ok_retransmitters[(retransmitter.call_id, retransmitter.cseq)] = retransmitter

    # -- receiving -------------------------------------------------------------------------

    def receive(self, message: Request | Response, source: Peer, now: float) -> list[Event]:
        """Match a parsed message to its transaction (§17.1.3, §17.2.3); act on the events.

        Messages without a usable Via or CSeq are dropped: there is nowhere to answer them."""
        if isinstance(message, Request):
            return self._receive_request(message, source, now)
        return self._receive_response(message, source, now)

    def cancel_target(self, cancel: Request) -> ServerTransaction | None:
        """The INVITE server transaction a received CANCEL is for (§9.2), or None: answer 481."""
        try:
            key = _server_key(cancel, method="INVITE")
        except ValueError:
            return None
        return self._servers.get(key)

    def _receive_request(self, request: Request, source: Peer, now: float) -> list[Event]:
        try:
            key = _server_key(request)
        except ValueError:
            return []
        if request.method == "ACK":
            retransmitter = self._ok_retransmitters.get((request.call_id, request.cseq[0]))
            if retransmitter is not None and retransmitter.to_tag == request.to.tag:
                self._context.reachable.proved(source)  # it got our 2xx: it knows our tag
            self.ack_received(request.call_id, request.cseq[0])
        transaction = self._servers.get(key)
        if transaction is not None:
            events = transaction._on_request(request, source, now)
            self._forget(transaction)
            return events
        if request.method == "ACK":
            return [RequestReceived(request, source, None)]  # an ACK of a 2xx: the dialog's
        if len(self._servers) >= self.max_server_transactions:
            busy = make_response(request, 503, to_tag=_new_tag())
            self.send_stateless(busy, source)  # bounded memory: refuse rather than remember
            return []
        transaction = ServerTransaction(
            self._context,
            request,
            source,
            key,
            now,
            auto_trying=self.auto_trying,
        )
        self._servers[key] = transaction
        return [RequestReceived(request, source, transaction)]

    def _receive_response(self, response: Response, source: Peer, now: float) -> list[Event]:
        try:
            key = (response.top_via.branch or "", response.cseq[1])
        except ValueError:
            return []
        if not 100 <= response.status <= 699:
            return []
        transaction = self._clients.get(key)
        if transaction is None:
            return [StrayResponse(response, source)]
        events = transaction._on_response(response, source, now)
        self._forget(transaction)
        return events

    # -- output and timers -----------------------------------------------------------------

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        """Take the queued messages, serialized, in order: write each to its peer's socket."""
        outgoing, self._context.outgoing = self._context.outgoing, []
        return outgoing

    def timer(self) -> float | None:
        """The earliest armed deadline: call `handle_timer` then; None when nothing is armed."""
        heap = self._context.heap
        while heap and not _is_live(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def handle_timer(self, now: float) -> list[Event]:
        """Fire every timer due at `now`; terminated transactions are removed."""
        heap = self._context.heap
        events: list[Event] = []
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if not _is_live(entry):
                continue
            _, _, owner, name = entry
            del owner._armed[name]
            events.extend(owner._on_timer(name, now))
            self._forget(owner)
        return events

    def transactions(self) -> int:
        """How many client and server transactions are alive."""
        return len(self._clients) + len(self._servers)

    def _forget(self, owner: _TimerOwner) -> None:
        if not owner.finished:
            return
        if isinstance(owner, ClientTransaction) and self._clients.get(owner.key) is owner:
            del self._clients[owner.key]
        elif isinstance(owner, ServerTransaction) and self._servers.get(owner.key) is owner:
            del self._servers[owner.key]
        elif isinstance(owner, InviteOkRetransmitter):
            key = (owner.call_id, owner.cseq)
            if self._ok_retransmitters.get(key) is owner:
                del self._ok_retransmitters[key]


def _is_live(entry: tuple[float, int, _TimerOwner, str]) -> bool:
    """Whether a heap entry is still the armed one for its timer (re-arming leaves stale ones)."""
    _, sequence, owner, name = entry
    return owner._armed.get(name) == sequence
