"""The server's SIP user agent: registrar, dial-in to rooms, in-dialog routing, OPTIONS.

Out-of-dialog requests are answered here (REGISTER, INVITE to `sip:<room>@server`, OPTIONS,
CANCEL), MESSAGE by the pager the assembly gives (`sip.pager`); requests inside a dialog go to
their `SipCall`. Dial-out lives in `sip.dialout`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

from mediacore.dtmf import DtmfDigit
from mediacore.events import EventBus
from mediacore.legpolicy import LegPolicy
from mediacore.legs import publish_dtmf
from mediacore.offeranswer import OfferAnswerError
from mediacore.participant import Duplex, Participant
from mediacore.ports import PortsExhausted
from mediacore.room import RoomError
from mediacore.rtpsession import RtpLeg
from mediacore.sdp import SdpError, SessionDescription
from sip.address import SipSyntaxError
from sip.call import SipCall
from sip.dialog import Dialog, new_tag
from sip.digest import Credentials, DigestError, DigestServer, Verdict
from sip.message import Request, Response, make_response
from sip.natdetect import behind_nat
from sip.pinentry import PinEntry, PinPrompt
from sip.pinguard import PinGuard
from sip.proxied import client_address
from sip.refer import ReferError, Replaces
from sip.registrar import Registrar, RegistrationError
from sip.roomport import CallLegs, CallRoom, MediaLeg
from sip.sessionkind import IncomingSessionKind
from sip.sessiontimer import SessionTimer, parse_session_expires
from sip.settings import SipSettings, SipUser
from sip.sharedbindings import SharedBindings, path_of
from sip.stack import SipStack
from sip.throttle import AuthThrottle
from sip.transaction import Peer, ServerTransaction
from sip.trunktrust import TrunkTrust

log = logging.getLogger(__name__)

ALLOWED_METHODS = (
    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, PRACK, MESSAGE, REFER, NOTIFY"
)
KNOWN_METHODS = frozenset(
    {"SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH"}
)  # understood but not served here: 405 rather than 501
SUPPORTED_EXTENSIONS = frozenset({"timer", "replaces"})
JOIN_ROLES = frozenset({"admin", "commander", "operator", "expert"})
PIN_HASH_GRACE = 2.0  # seconds after a PIN is accepted in which a "#" still belongs to it

RoomLookup = Callable[[str], CallRoom | None]
# Answers an out-of-dialog MESSAGE (sip.pager.Pager.request_received), and one inside a call
# (sip.pager.Pager.call_message).
MessageHandler = Callable[[Request, Peer, ServerTransaction], None]
CallMessageHandler = Callable[[SipCall, Request, ServerTransaction], None]
CallKey = tuple[str, str]  # (Call-ID, our tag)
# (room, participant id, held): a call went on hold or came off it (the assembly plays music)
HoldChanged = Callable[[str, str, bool], None]


class TransferHandler(Protocol):
    """What serves REFER and NOTIFY in our dialogs, and INVITEs with Replaces (sip.transfer)."""

    def refer_received(
        self, call: SipCall, request: Request, transaction: ServerTransaction
    ) -> None: ...

    def notify_received(
        self, call: SipCall, request: Request, transaction: ServerTransaction
    ) -> None: ...

    def replaced(self, old: SipCall, new: SipCall, participant: str) -> None:
        """`new` (an INVITE with Replaces) took `old`'s place in its room as `participant`."""
        ...


class SipUserAgent:
    def __init__(
        self,
        settings: SipSettings,
        stack: SipStack,
        rooms: RoomLookup,
        legs: CallLegs,
        bus: EventBus,
        session_kinds: Sequence[IncomingSessionKind] = (),
    ) -> None:
        self.settings = settings
        self.stack = stack
        self.clock = stack.clock
        self.rooms = rooms
        self.legs = legs
        self.bus = bus
        self.session_kinds = tuple(session_kinds)  # e.g. ED-137 radio, from the assembly
        self.users = {user.user: user for user in settings.users}
        self.trunks = TrunkTrust(settings.trunks)
        self.digest = DigestServer(
            settings.realm,
            nonce_lifetime=settings.nonce_lifetime,
            algorithms=settings.algorithms,
        )
        self.registrar = Registrar()
        # In a cluster: registrations told to, and looked up in, the other servers' store.
        self.shared_bindings: SharedBindings | None = None
        # A registered phone's TCP flow stays open on its CRLF keep-alives (RFC 5626).
        stack.transports.in_use = lambda peer: self.registrar.registered_from(
            peer, self.clock.now()
        )
        self.throttle = AuthThrottle(settings.auth_failure_limit)
        self.pin_guard = PinGuard(settings.pin_limits)
        self.calls: dict[CallKey, SipCall] = {}
        self._ringing: dict[int, tuple[Request, asyncio.Task[None]]] = {}  # by id(transaction)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sent_acks: dict[str, tuple[bytes, Peer]] = {}  # dial-out: re-ACK 2xx repeats
        stack.user_agent = self
        # Makes a call's PIN entry: here, or in the media worker that runs its leg.
        self.pin_entries: Callable[..., PinPrompt] = PinEntry
        self.transfers: TransferHandler | None = None  # REFER, NOTIFY, Replaces: sip.transfer
        self.on_hold_changed: HoldChanged | None = None
        self.messages: MessageHandler | None = None  # MESSAGE is refused (405) without one
        self.call_messages: CallMessageHandler | None = None
        self._housekeeping: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._housekeeping = asyncio.get_running_loop().create_task(self._every_second())
        self.spawn(self.trunks.resolve())

    async def stop(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        for task in list(self._tasks):
            task.cancel()

    # -- what the stack calls -------------------------------------------------------------

    def admits(self, source: Peer) -> bool:
        """A blocked address learns nothing, not even that we are here; the stack drops what
        it sends before any transaction exists."""
        return not self.throttle.blocked(source.host, self.clock.now())

    def request_received(
        self, request: Request, source: Peer, transaction: ServerTransaction | None
    ) -> None:
        if request.method == "ACK" or transaction is None:
            call = self._call_for(request)
            if call is not None:
                call.request_received(request, None)
            return
        if request.method == "CANCEL":
            self._cancel(request, transaction)
            return
        refusal = self._refusal(request)
        if refusal is not None:
            self.stack.respond(transaction, refusal)
            return
        if request.to.tag:
            call = self._call_for(request)
            if call is None:
                self.stack.respond(transaction, make_response(request, 481))
            else:
                call.request_received(request, transaction)
            return
        method = request.method
        if method == "INVITE":
            self.spawn(self._dial_in(request, source, transaction))
        elif method == "REGISTER":
            self._register(request, source, transaction)
        elif method == "OPTIONS":
            self.stack.respond(transaction, self.options_response(request))
        elif method == "MESSAGE" and self.messages is not None:
            self.messages(request, source, transaction)
        elif method in ("BYE", "INFO", "UPDATE", "PRACK", "NOTIFY"):
            self.stack.respond(transaction, make_response(request, 481))
        elif method == "REFER":  # RFC 3515 allows it; we transfer only calls we are in
            self.stack.respond(transaction, make_response(request, 403, "REFER Outside A Call"))
        else:
            self.reject_method(request, transaction)

    def ack_timed_out(self, call_id: str, cseq: int) -> None:
        for call in list(self.calls.values()):
            if call.dialog is not None and call.dialog.call_id == call_id:
                # §13.3.1.4 asks for a BYE, but to a peer that never proved it is there (a
                # forged INVITE) a BYE and its retransmissions would only be more reflection.
                say_bye = self.stack.peer_proven(call.dialog.peer)
                self.spawn(call.hang_up("no-ack", say_bye=say_bye))

    def server_transaction_timed_out(self, transaction: ServerTransaction) -> None:
        """Timer H (a final error response nobody ACKed: nothing was set up), or an INVITE we
        were too slow to answer: it got 408, so stop ringing it."""
        ringing = self._ringing.get(id(transaction))
        if ringing is not None:
            ringing[1].cancel()

    def stray_response(self, response: Response, source: Peer) -> None:
        if 200 <= response.status < 300 and response.cseq[1] == "INVITE":
            ack = self._sent_acks.get(response.call_id)
            if ack is not None:
                self.stack.transports.send(*ack)  # our ACK got lost: the UAS repeats its 2xx

    def ack_sent(self, call_id: str, ack: bytes, destination: Peer) -> None:
        """Dial-out ACKed a 2xx (sent stateless): send `ack` again if the callee repeats it."""
        self._sent_acks[call_id] = (ack, destination)

    # -- shared answers -------------------------------------------------------------------

    def _refusal(self, request: Request) -> Response | None:
        """The error a request gets before any routing: loops, extensions we lack."""
        forwards = request.headers.get("Max-Forwards")
        if forwards is not None and int(forwards) == 0:
            return make_response(request, 483)
        required = {
            option.strip().lower() for option in request.headers.get_all("Require") if option
        }
        unsupported = required - SUPPORTED_EXTENSIONS
        if unsupported:
            response = make_response(request, 420)
            response.headers.add("Unsupported", ", ".join(sorted(unsupported)))
            return response
        return None

    def call_message(self, call: SipCall, request: Request, transaction: ServerTransaction) -> None:
        """A MESSAGE inside `call`: to the pager's handler, else 405."""
        if self.call_messages is None:
            self.reject_method(request, transaction)
        else:
            self.call_messages(call, request, transaction)

    def reject_method(self, request: Request, transaction: ServerTransaction) -> None:
        status = 405 if request.method in KNOWN_METHODS else 501
        response = make_response(request, status)
        response.headers.add("Allow", ALLOWED_METHODS)
        self.stack.respond(transaction, response)

    def options_response(self, request: Request) -> Response:
        response = make_response(request, 200)
        self.add_capabilities(response)
        response.headers.add("Accept", "application/sdp")
        return response

    def add_capabilities(self, message: Request | Response) -> None:
        message.headers.add("Allow", ALLOWED_METHODS)
        message.headers.add("Supported", "timer, replaces, norefersub")
        message.headers.add("User-Agent", "mediacore")

    # -- authentication -------------------------------------------------------------------

    def authenticate(
        self, request: Request, source: Peer, transaction: ServerTransaction
    ) -> SipUser | None:
        """The caller's account, or None after answering with a challenge or a refusal."""
        client = client_address(request, source, self.settings.proxy_addresses)
        if client != source.host and self.throttle.blocked(client, self.clock.now()):
            # Blocked behind a proxy: the proxy must hear an answer, the guesser learns little.
            self.stack.respond(transaction, make_response(request, 403, "Forbidden"))
            return None
        header = request.headers.get("Authorization") or request.headers.get("Proxy-Authorization")
        if header is None:
            self._challenge(request, transaction, stale=False)
            return None
        try:
            credentials = Credentials.parse(header)
        except DigestError as error:
            self.stack.respond(
                transaction, make_response(request, 400, f"Bad Credentials ({error})")
            )
            return None
        user = self.users.get(credentials.username) or self.trunks.account(credentials.username)
        verdict = self.digest.verify(
            credentials,
            method=request.method,
            request_uri=request.uri,
            password=user.password if user else None,
            now=time.time(),
            algorithms=self._algorithms_for(credentials.username),
        )
        if verdict is Verdict.OK and user is not None:
            self.throttle.succeeded(client)
            self.stack.peer_proved(source)  # it answered a nonce we sent it: it is there
            return user
        if verdict is Verdict.STALE:
            self._challenge(request, transaction, stale=True)
            return None
        self._auth_failed(request, client, credentials.username)
        self.stack.respond(transaction, make_response(request, 403, "Forbidden (bad credentials)"))
        return None

    def _challenge(self, request: Request, transaction: ServerTransaction, stale: bool) -> None:
        response = make_response(request, 401, to_tag=new_tag())
        algorithms = self._algorithms_for(_claimed_user(request))
        for challenge in self.digest.challenges(time.time(), stale=stale, algorithms=algorithms):
            response.headers.add("WWW-Authenticate", challenge.header_value())
        self.stack.respond(transaction, response)

    def _algorithms_for(self, username: str) -> tuple[str, ...]:
        """The digest algorithms of an account: its own list, else the realm's ([sip])."""
        user = self.users.get(username)
        return (user.algorithms if user else ()) or self.settings.algorithms

    def _auth_failed(self, request: Request, client: str, username: str) -> None:
        log.info(
            "sip authentication failed",
            extra={"source": client, "user": username, "method": request.method},
        )
        if self.throttle.failed(client, self.clock.now()):
            self.bus.publish(
                "sip.auth_blocked",
                None,
                source=client,
                user=username,
                failures=self.throttle.limit,
                blocked_seconds=self.throttle.block,
            )

    # -- REGISTER -------------------------------------------------------------------------

    def _register(self, request: Request, source: Peer, transaction: ServerTransaction) -> None:
        user = self.authenticate(request, source, transaction)
        if user is None:
            return
        if request.to.uri.user != user.user:
            self.stack.respond(transaction, make_response(request, 403, "Forbidden (not your AOR)"))
            return
        star = any(value.strip() == "*" for value in request.headers.get_all("Contact"))
        path = path_of(request)
        try:
            bindings = self.registrar.update(
                user.user,
                None if star else request.contacts,
                expires_header=request.headers.get("Expires"),
                source=source,
                call_id=request.call_id,
                cseq=request.cseq[0],
                user_agent=(request.headers.get("User-Agent") or "")[:100],
                now=self.clock.now(),
                wall_now=time.time(),
                path=path,
            )
        except RegistrationError as error:
            response = make_response(request, error.status)
            if error.min_expires is not None:
                response.headers.add("Min-Expires", str(error.min_expires))
            self.stack.respond(transaction, response)
            return
        response = make_response(request, 200, to_tag=new_tag())
        now = self.clock.now()
        for binding in bindings:
            response.headers.add("Contact", f"<{binding.contact}>;expires={binding.remaining(now)}")
        if path and "path" in _supported(request):
            response.headers.add("Path", ", ".join(path))  # RFC 3327 §5.3: the path we keep
        response.headers.add("Date", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()))
        self.stack.respond(transaction, response)
        if self.shared_bindings is not None:
            self.shared_bindings.registered(user.user, bindings, now)
        self.bus.publish(
            "sip.registered" if bindings else "sip.unregistered",
            None,
            user=user.user,
            contacts=[binding.contact for binding in bindings],
        )

    # -- dial-in --------------------------------------------------------------------------

    async def _dial_in(
        self, request: Request, source: Peer, transaction: ServerTransaction
    ) -> None:
        target = request.request_uri.user or ""
        usable, replaced = self._replaced_call(request, transaction)
        if not usable:
            return  # answered: malformed, or no such dialog
        if replaced is not None and replaced.room_name is not None:
            target = replaced.room_name  # it takes the replaced call's place, in its room
        room = self.rooms(target)
        if room is None:
            self.stack.respond(transaction, make_response(request, 404, "No Such Room"))
            return
        # Phones send credentials only when challenged: a caller whose From names one of our
        # accounts is challenged even in a PIN room, so that accounts join without the PIN.
        has_credentials = (
            replaced is not None  # taking over a call needs an account, never just a PIN
            or "Authorization" in request.headers
            or "Proxy-Authorization" in request.headers
            or (request.from_.uri.user or "") in self.users
            or self.trunks.may_be_trunk(source)
        )
        user: SipUser | None = None
        if room.settings.pin and not has_credentials and not self._trusted(source):
            pass  # no account: the caller proves itself with the room PIN after answering
        elif not self._trusted(source):
            user = self.authenticate(request, source, transaction)
            if user is None:
                return
            if user.role not in JOIN_ROLES:
                self.stack.respond(transaction, make_response(request, 403, "Role May Not Join"))
                return
        # A trunk's one address carries many callers: only the room's PIN limits apply to it.
        # Behind a proxy ([sip] proxies) the caller is where the proxy received it from.
        pin_source = None
        if not self._trusted(source):
            pin_source = client_address(request, source, self.settings.proxy_addresses)
        if room.settings.pin and user is None:
            refusal = self.pin_guard.refusal(pin_source, room.name, self.clock.now())
            if refusal is not None:
                self.stack.respond(transaction, make_response(request, *refusal))
                return
        await self.admit(
            request,
            source,
            transaction,
            room,
            target=target,
            user=user,
            replaced=replaced,
            pin_source=pin_source,
            needs_pin=bool(room.settings.pin) and user is None,
        )

    async def admit(
        self,
        request: Request,
        source: Peer,
        transaction: ServerTransaction,
        room: CallRoom,
        *,
        target: str,
        user: SipUser | None = None,
        replaced: SipCall | None = None,
        pin_source: str | None = None,
        needs_pin: bool = False,
        kind: IncomingSessionKind | None = None,
        name: str = "",
    ) -> SipCall | None:
        """Answer an INVITE whose caller may join `room` (it authenticated as `user`, or whoever
        calls this vouches for it): make its media leg (`kind`'s, else the session kind the
        INVITE names, else a plain RTP leg), answer 200 with our SDP from `target`'s Contact,
        and join it as `name` (default: its account's or From's name), or ask for the room's
        PIN first when `needs_pin`. Returns the call, or None when the INVITE was refused
        (answered here with the right error)."""
        timing = self.session_expires(request)
        if isinstance(timing, Response):
            self.stack.respond(transaction, timing)
            return None
        try:
            room.check_capacity()
        except RoomError as error:
            busy = make_response(request, 486)
            busy.headers.add("Warning", f'399 mediacore "{error}"')
            self.stack.respond(transaction, busy)
            return None
        try:
            offer = SessionDescription.parse(request.body.decode("utf-8", "replace"))
            if request.body and request.content_type != "application/sdp":
                raise SdpError(f"body is {request.content_type}, not application/sdp")
            if not request.body:
                raise OfferAnswerError("no-audio", "INVITE without an SDP offer")
        except (SdpError, OfferAnswerError) as error:
            self._refuse_offer(request, transaction, error)
            return None
        local_tag = new_tag()
        local_address = self.stack.local_host(source.host)
        if kind is None:
            kind = next((k for k in self.session_kinds if k.matches(request)), None)
        policy = self._media_policy(request, source, user, offer)
        leg: MediaLeg
        try:
            if kind is not None:
                leg, answer = await kind.answer(self.legs, offer, room, local_address, policy)
            else:
                leg, answer = await self.legs.answer(offer, room, local_address, RtpLeg, policy)
        except ValueError as error:  # OfferAnswerError, SdpError, or the session kind's own
            self._refuse_offer(request, transaction, error)
            return None
        except PortsExhausted:
            self.stack.respond(transaction, make_response(request, 503, "No Media Ports"))
            return None
        if transaction.timed_out:  # answered 408 while the leg was being made
            await leg.close("timeout")
            return None
        secure = request.uri.lower().startswith("sips:")  # a sips: call is answered with sips:
        contact = f"<{self.stack.contact_uri(target, source, secure=secure)}>"
        call = SipCall(leg, clock=self.clock, policy=policy)
        call.dialog = Dialog.as_uas(request, local_tag, contact, source)
        call.agent = self
        call.user = user.user if user else None
        call.remote_uri = str(request.from_.uri)
        call.local_address = local_address
        if timing is not None:
            call.session_timer = SessionTimer(timing[0], timing[1], "uas", self.clock.now())
        self.calls[(request.call_id, local_tag)] = call
        answered = await self._ring(request, transaction, call, local_tag)
        if not answered:
            return None
        ok = make_response(request, 200, to_tag=local_tag)
        ok.headers.add("Contact", contact)
        self.add_capabilities(ok)
        if call.session_timer is not None:
            ok.headers.add("Session-Expires", call.session_timer.header_value())
            if "timer" in _supported(request):
                ok.headers.add("Require", "timer")
        if kind is not None:
            kind.mark(ok)
        ok.headers.add("Content-Type", "application/sdp")
        ok.body = answer.serialize().encode()
        self.stack.respond(transaction, ok)
        if not name:
            name = (user.name or user.user) if user else (request.from_.display_name or "")
            name = name or request.from_.uri.user or "sip caller"
        if replaced is not None:
            self._replace(room, replaced, call, name)
        elif needs_pin:
            # Nothing is sent to a caller without an account before its ACK proves that it
            # receives what we send (a forged INVITE never ACKs): then the PIN prompt starts.
            self.pin_guard.entering(call, pin_source)
            call.on_ended = lambda reason: self._pin_call_over(call, reason)
            call.on_acked = lambda: self._collect_pin(room, call, name, pin_source)
        else:
            self._join(room, call, name)
        return call

    async def _ring(
        self, request: Request, transaction: ServerTransaction, call: SipCall, local_tag: str
    ) -> bool:
        """Ring for `answer_delay` seconds (180 Ringing), unless the caller cancels."""
        delay = self.settings.answer_delay
        if delay <= 0:
            return True
        self.stack.respond(transaction, make_response(request, 180, to_tag=local_tag))
        waiting = asyncio.get_running_loop().create_task(asyncio.sleep(delay))
        self._ringing[id(transaction)] = (request, waiting)
        try:
            await waiting
            return True
        except asyncio.CancelledError:
            if waiting.cancelled() and (request.call_id, local_tag) in self.calls:
                self.calls.pop((request.call_id, local_tag), None)
                call.ended = True
                await call.close("cancelled")
                return False
            raise
        finally:
            self._ringing.pop(id(transaction), None)

    def _cancel(self, cancel: Request, transaction: ServerTransaction) -> None:
        target = self.stack.layer.cancel_target(cancel)
        if target is None:
            self.stack.respond(transaction, make_response(cancel, 481))
            return
        self.stack.respond(transaction, make_response(cancel, 200))
        ringing = self._ringing.get(id(target))
        if ringing is not None and target.last_response is not None:
            invite, waiting = ringing
            tag = target.last_response.to.tag
            self.stack.respond(target, make_response(invite, 487, to_tag=tag))
            waiting.cancel()

    def _refuse_offer(
        self, request: Request, transaction: ServerTransaction, error: Exception
    ) -> None:
        response = make_response(request, 488)
        response.headers.add("Warning", f'399 mediacore "{str(error)[:120]}"')
        self.stack.respond(transaction, response)

    def _media_policy(
        self, request: Request, source: Peer, user: SipUser | None, offer: SessionDescription
    ) -> LegPolicy:
        """SRTP and NAT for a call in: its trunk's or account's settings, else the server's;
        a caller whose INVITE shows a private address it does not send from is behind NAT."""
        trunk = self.trunks.trusted(source)
        said = trunk if trunk is not None else user
        srtp, nat = (said.srtp, said.nat) if said is not None else ("", False)
        return self.settings.policy(srtp, nat or behind_nat(request, source.host, offer))

    def _trusted(self, source: Peer) -> bool:
        """Calls from an "address" trunk's proxy are let in without digest (the PBX
        authenticated them): its transport, address and port must all match."""
        return self.trunks.trusted(source) is not None

    def session_expires(self, request: Request) -> tuple[int, str] | Response | None:
        """RFC 4028 §9 for an INVITE or UPDATE: (interval, refresher), None, or a 422."""
        settings = self.settings
        if settings.session_expires == 0:
            return None
        value = request.headers.get("Session-Expires")
        supports_timer = "timer" in _supported(request)
        if value is None:
            return (settings.session_expires, "uac") if supports_timer else None
        parsed = parse_session_expires(value)
        if parsed is None:
            return make_response(request, 400, "Bad Session-Expires")
        interval, refresher = parsed
        if interval < settings.min_se:
            response = make_response(request, 422)
            response.headers.add("Min-SE", str(settings.min_se))
            return response
        interval = min(interval, settings.session_expires)
        return interval, refresher or ("uac" if supports_timer else "uas")

    # -- joining the room -----------------------------------------------------------------

    def _join(self, room: CallRoom, call: SipCall, name: str) -> Participant | None:
        # Floor listeners (radio gateways) are half duplex: mixed only while holding the floor.
        duplex: Duplex = "half" if call.floor_listener else "full"
        participant = Participant(name=name, endpoint=call, duplex=duplex)
        call.room_name = room.name
        call.participant_id = participant.id
        self.seat(call, participant)
        try:
            room.add(participant)
        except RoomError as error:
            log.info("sip caller rejected by room", extra={"room": room.name, "error": str(error)})
            self.spawn(call.close("room-full"))
            return None
        return participant

    def _replaced_call(
        self, request: Request, transaction: ServerTransaction
    ) -> tuple[bool, SipCall | None]:
        """(True, the call an INVITE's Replaces names (RFC 3891 §6.1) or None without one), or
        (False, None) after answering: 400 malformed, 481 no such dialog, 486 early-only."""
        values = request.headers.get_all("Replaces")
        if not values:
            return True, None
        try:
            if len(values) > 1:
                raise ReferError("more than one Replaces header")
            replaces = Replaces.parse(values[0])
        except ReferError as error:
            self.stack.respond(transaction, make_response(request, 400, f"Bad Replaces ({error})"))
            return False, None
        call = self.calls.get((replaces.call_id, replaces.to_tag))
        if (
            call is None
            or call.ended
            or call.dialog is None
            or call.dialog.remote_tag != replaces.from_tag
            or call.participant_id is None
        ):
            self.stack.respond(transaction, make_response(request, 481))
            return False, None
        if replaces.early_only:  # the dialog it names is confirmed, not early
            self.stack.respond(transaction, make_response(request, 486))
            return False, None
        return True, call

    def _replace(self, room: CallRoom, old: SipCall, new: SipCall, name: str) -> None:
        """`new` joins `room` in `old`'s place (priority and duplex kept); `old` is hung up."""
        former = room.participants.get(old.participant_id or "")
        participant = self._join(room, new, name)
        if participant is None:
            return
        if former is not None and former.priority != participant.priority:
            room.update(participant.id, priority=former.priority)
        self.spawn(old.hang_up("replaced"))
        if self.transfers is not None:
            self.transfers.replaced(old, new, participant.id)

    def hold_changed(self, call: SipCall) -> None:
        if self.on_hold_changed is not None and call.room_name and call.participant_id:
            self.on_hold_changed(call.room_name, call.participant_id, call.held)

    def refer_received(
        self, call: SipCall, request: Request, transaction: ServerTransaction
    ) -> None:
        if self.transfers is None:
            self.reject_method(request, transaction)
        else:
            self.transfers.refer_received(call, request, transaction)

    def notify_received(
        self, call: SipCall, request: Request, transaction: ServerTransaction
    ) -> None:
        if self.transfers is None:
            self.stack.respond(transaction, make_response(request, 481))
        else:
            self.transfers.notify_received(call, request, transaction)

    def _collect_pin(self, room: CallRoom, call: SipCall, name: str, source: str | None) -> None:
        def granted() -> None:
            self.pin_guard.left(call)
            if self._join(room, call, name) is None:
                return
            # A PIN may be checked after a pause, so the "#" the caller may still be typing
            # after it arrives once the caller is in the room: it is not for the room.
            publish, granted_at = call.on_dtmf, self.clock.now()

            def after_pin(digit: DtmfDigit) -> None:
                call.on_dtmf = publish
                if publish is not None and not (
                    digit.digit == "#" and self.clock.now() - granted_at < PIN_HASH_GRACE
                ):
                    publish(digit)

            call.on_dtmf = after_pin

        def refused() -> None:
            self.spawn(call.hang_up("wrong-pin"))

        def wrong() -> None:
            now = self.clock.now()
            for lockout in self.pin_guard.wrong(source, room.name, now):
                log.warning("sip pin entry locked", extra={lockout.kind: lockout.key})
                self.bus.publish(
                    "sip.pin_locked",
                    room.name,
                    locked=lockout.kind,
                    source=source,
                    failures=lockout.failures,
                    locked_seconds=lockout.seconds,
                )
            if self.pin_guard.locked(source, room.name, now):
                self.spawn(call.hang_up("pin-locked"))

        def ended(reason: str) -> None:
            entry.stop()
            self._pin_call_over(call, reason)

        entry = self.pin_entries(
            room.settings.pin, call.leg, granted, refused, wrong=wrong, clock=self.clock
        )
        call.on_dtmf = entry.digit
        call.on_ended = ended
        entry.start()

    def _pin_call_over(self, call: SipCall, reason: str) -> None:
        """A call that never got past the PIN ended: nobody else closes its media leg."""
        self.pin_guard.left(call)
        self.spawn(call.leg.close(reason))

    def seat(self, call: SipCall, participant: Participant) -> None:
        """Send the call's hang-up and digits to the room it is in when they come
        (`call.room_name`, which moving the participant changes)."""
        rate = call.leg.negotiation.codec.clock_rate

        def ended(reason: str) -> None:
            room = self.rooms(call.room_name or "")
            if room is not None:
                self.leave_room(room, participant, reason)

        def dtmf(digit: DtmfDigit) -> None:
            room = self.rooms(call.room_name or "")
            if room is not None:
                publish_dtmf(self.bus, room, participant, digit, rate)

        call.on_ended, call.on_dtmf = ended, dtmf

    def leave_room(self, room: CallRoom, participant: Participant, reason: str) -> None:
        """Take `participant` out of `room` (in a task), if it is still there."""
        if participant.id in room.participants:
            self.spawn(room.remove(participant.id, reason))

    def carry(self, call: SipCall) -> None:
        """Take on `call`, whose dialog another server began (it died, and this one carries
        its calls on): the peer's requests in the dialog reach it here from now on."""
        if call.dialog is None:
            raise ValueError("a call carried on needs its dialog")
        call.agent = self
        self.calls[(call.dialog.call_id, call.dialog.local_tag)] = call

    def call_finished(self, call: SipCall) -> None:
        """The dialog is over: forget it (its BYE was answered or gave up)."""
        for key, known in list(self.calls.items()):
            if known is call:
                del self.calls[key]

    def call_in(self, room: str, participant: str) -> SipCall | None:
        """The SIP call of `participant` in `room`, if it is one of ours and still on."""
        return next(
            (
                call
                for call in self.calls.values()
                if call.room_name == room and call.participant_id == participant and not call.ended
            ),
            None,
        )

    def _call_for(self, request: Request) -> SipCall | None:
        tag = request.to.tag or ""
        call = self.calls.get((request.call_id, tag))
        if (
            call is None
            or call.dialog is None
            or call.dialog.remote_tag != (request.from_.tag or "")
        ):
            return None
        return call

    def publish_call_event(self, kind: str, call: SipCall, **data: Any) -> None:
        room = call.room_name
        self.bus.publish(kind, room, call_id=call.dialog.call_id if call.dialog else None, **data)

    # -- housekeeping ---------------------------------------------------------------------

    async def _every_second(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = self.clock.now()
            self.registrar.expire(now)
            for call in list(self.calls.values()):
                timer = call.session_timer
                if call.ended:
                    continue
                if timer is not None and timer.refresh_due(now):
                    timer.last_refresh = now  # one refresh in flight at a time
                    self.spawn(call.refresh_session())
                elif timer is not None and timer.expired(now) and call.on_ended is not None:
                    self.spawn(call.hang_up("session-expired"))
                elif call.keepalive_due(now, self.settings.keepalive_interval):
                    self.spawn(call.send_keepalive(now))

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `coroutine` as a task of the agent: cancelled when the agent stops, its failure
        logged."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished_task)
        return task

    def _finished_task(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sip task failed", exc_info=task.exception())

    def calls_json(self) -> list[dict[str, Any]]:
        return [call.describe() | {"room": call.room_name} for call in self.calls.values()]


def _claimed_user(request: Request) -> str:
    """The account a request says it is from, before it proves it: the username of its
    credentials, the address of record of a REGISTER, or the caller's user."""
    header = request.headers.get("Authorization") or request.headers.get("Proxy-Authorization")
    if header is not None:
        try:
            return Credentials.parse(header).username
        except DigestError:
            pass
    uri = request.to.uri if request.method == "REGISTER" else request.from_.uri
    return uri.user or ""


def _supported(request: Request) -> set[str]:
    return {value.strip().lower() for value in request.headers.get_all("Supported")}


__all__ = ["SipUserAgent", "SipSyntaxError"]
