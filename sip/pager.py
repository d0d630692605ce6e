"""SIP MESSAGE (RFC 3428, "pager mode") in and out of the server.

In: a phone's MESSAGE is digest-authenticated like its INVITE (trunks trusted by address pass
as for calls; one inside a call goes into the call's room, the dialog standing for the
caller), its text checked (sip.textmessage), and by its Request-URI's user it goes
- to the dispatch consoles (`[sip] message_console`, "dispatch" by default): answered 200;
- to another account: answered 202 Accepted at once, then relayed to that user's newest
  registration, the relay's outcome reported as a delivery status;
- into a room: answered 200, an event of that room (its recordings' timeline has it).
What a text becomes (ids, events, history) is the sink's business (`TextSink`).

Out: `send` delivers a text to each recipient in a task of its own: routed as dial-out routes
(sip.dialout.Dialer.route: trunk, registration, or the URI's host) or to a phone's call in a
room, challenged by a trunk answered with its credentials, and reported to the sink: "sent",
then "delivered" (2xx) or "failed" (3xx-6xx, or no answer within `[sip] message_timeout`)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from sip.address import Address, SipSyntaxError, SipUri
from sip.authclient import with_credentials
from sip.call import SipCall
from sip.dialog import new_call_id, new_tag
from sip.dialout import Dialer, DialError, Route
from sip.message import Request, Response, make_response
from sip.textmessage import Delivery, TextRefused, message_request, read_text
from sip.transaction import Peer, ServerTransaction
from sip.useragent import JOIN_ROLES

log = logging.getLogger(__name__)

MAX_AUTH_ROUNDS = 2
NUMBER_CHARACTERS = frozenset("+0123456789*#-")


@dataclass(frozen=True, slots=True)
class Text:
    """A text a phone sent: `kind` "room", "user" (relayed to another account) or "console";
    `to` is the room, the user's address or the console's address."""

    kind: str
    sender: str  # the sender's address, "sip:alice@host"
    sender_name: str
    user: str | None  # the sender's account; None for a trunk trusted by address
    to: str
    room: str | None
    text: str


class TextSink(Protocol):
    """Where texts and their delivery states go (the server's message service)."""

    def received(self, text: Text) -> str:
        """Keep and announce `text`; returns its message id."""
        ...

    def status(self, message_id: str, to: str, status: str, code: int | None, reason: str) -> None:
        """A recipient's delivery state: "sent", "delivered" or "failed"."""
        ...


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where one MESSAGE goes: `address` names it in statuses and history; `route` is set
    for a phone reached through its call, else `uri` is routed like a dial-out."""

    address: str
    uri: SipUri | None = None
    route: Route | None = None


@dataclass(frozen=True, slots=True)
class Sender:
    """Who a MESSAGE we send is from: our From's user and display name."""

    user: str
    name: str = ""


class PartyError(Exception):
    """A party to text that cannot be: `status` and `code` are for the HTTP answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Pager:
    def __init__(
        self,
        dialer: Dialer,
        sink: TextSink,
        *,
        console: str = "dispatch",
        max_chars: int = 1000,
        timeout: float = 32.0,
    ) -> None:
        self.dialer = dialer
        self.agent = dialer.agent
        self.sink = sink
        self.console = console
        self.max_chars = max_chars
        self.timeout = timeout  # a MESSAGE not answered by then has failed (408)

    # -- in -------------------------------------------------------------------------------

    def request_received(
        self, request: Request, source: Peer, transaction: ServerTransaction
    ) -> None:
        """Answer a MESSAGE from outside a dialog (the user agent hands them here)."""
        agent = self.agent
        user = None
        if not agent.trunks.trusted(source):
            user = agent.authenticate(request, source, transaction)
            if user is None:
                return  # challenged, or refused
        try:
            text = read_text(request, self.max_chars)
        except TextRefused as refused:
            self._refuse(request, transaction, refused)
            return
        target = request.request_uri.user or ""
        here = request.request_uri  # how the phone reached us: where others reach us too

        def at_here(user_part: str) -> str:
            return str(SipUri("sip", here.host, user_part, here.port))

        sender_user = user.user if user is not None else None
        sender = at_here(user.user) if user is not None else str(request.from_.uri)
        name = (user.name if user is not None else "") or request.from_.display_name or ""
        name = name or sender_user or request.from_.uri.user or ""

        def texted(kind: str, to: str, room: str | None = None) -> Text:
            return Text(kind, sender, name, sender_user, to, room, text)

        if target == self.console:
            self._take(request, transaction, texted("console", at_here(target)))
        elif target in agent.users:
            # From the sender's account, or (a trunk's caller) the user its From names
            relayed_from = Sender(sender_user or request.from_.uri.user or "anonymous", name)
            relay = self._relay(request, transaction, texted("user", at_here(target)), relayed_from)
            agent.spawn(relay)
        elif agent.rooms(target) is not None:
            if user is not None and user.role not in JOIN_ROLES:
                response = make_response(request, 403, "Role May Not Text Rooms")
                agent.stack.respond(transaction, response)
                return
            self._take(request, transaction, texted("room", target, target))
        else:
            agent.stack.respond(transaction, make_response(request, 404, "No Such User Or Room"))

    def call_message(self, call: SipCall, request: Request, transaction: ServerTransaction) -> None:
        """Answer a MESSAGE inside a call (RFC 3428 §2 allows it): the call's dialog stands
        for the caller, who proved itself when it joined; the text goes into its room."""
        room = call.room_name
        if room is None or call.ended:
            response = make_response(request, 480, "Temporarily Unavailable (not in a room)")
            self.agent.stack.respond(transaction, response)
            return
        try:
            text = read_text(request, self.max_chars)
        except TextRefused as refused:
            self._refuse(request, transaction, refused)
            return
        user = self.agent.users.get(call.user or "")
        name = (user.name if user else "") or request.from_.display_name or call.user or ""
        sender = str(request.from_.uri)
        self._take(request, transaction, Text("room", sender, name, call.user, room, room, text))

    def _refuse(
        self, request: Request, transaction: ServerTransaction, refused: TextRefused
    ) -> None:
        response = make_response(request, refused.status, refused.reason)
        if refused.status == 415:
            response.headers.add("Accept", "text/plain")
        self.agent.stack.respond(transaction, response)

    def _take(self, request: Request, transaction: ServerTransaction, text: Text) -> None:
        self.sink.received(text)
        self.agent.stack.respond(transaction, make_response(request, 200))

    async def _relay(
        self, request: Request, transaction: ServerTransaction, text: Text, sender: Sender
    ) -> None:
        """Take a text for a user and send it on: to its binding here, or (in a cluster) the
        one another server holds; 480 when the user is registered nowhere."""
        uri = SipUri.parse(text.to)
        try:
            route = await self.dialer.route(uri, None, sender.user)
        except DialError:
            response = make_response(request, 480, "Temporarily Unavailable (not registered)")
            self.agent.stack.respond(transaction, response)
            return
        message_id = self.sink.received(text)
        self.agent.stack.respond(transaction, make_response(request, 202))
        self.send(message_id, [Recipient(text.to, route=route)], text.text, sender)

    # -- out ------------------------------------------------------------------------------

    def recipients(self, party: str) -> tuple[str | None, list[Recipient]]:
        """Whom texting `party` reaches: (the room, when `party` is a room, and its SIP
        phones), or (None, [one recipient]) for a `sip:`/`sips:`/`tel:` URI, an account's
        name or a number (through the first trunk). Raises PartyError: 400 for a URI that
        does not parse, 404 for a party that is none of these, 409 for a room without phones.
        """
        party = party.strip()
        host = self.agent.settings.realm
        if party.lower().startswith(("sip:", "sips:", "tel:")):
            try:
                uri = SipUri.parse(party)
            except SipSyntaxError as error:
                raise PartyError(400, "bad-uri", str(error)) from None
            if uri.scheme == "tel":
                return None, [self._number(uri.user or "", party)]
            return None, [Recipient(party, uri=uri)]
        if party in self.agent.users:
            return None, [Recipient(party, uri=SipUri("sip", host, user=party))]
        if self.agent.rooms(party) is not None:
            phones = self.room_phones(party)
            if not phones:
                raise PartyError(409, "no-phones", f"room {party!r} has no SIP phone in it")
            return party, phones
        if party and set(party) <= NUMBER_CHARACTERS:
            return None, [self._number(party, party)]
        raise PartyError(404, "unknown-party", f"{party!r} is no user, room, number or SIP URI")

    def _number(self, number: str, address: str) -> Recipient:
        trunks = self.agent.settings.trunks
        if not trunks:
            raise PartyError(404, "no-trunk", "numbers are texted through a trunk; none is set up")
        return Recipient(address, uri=SipUri("sip", trunks[0].host_domain, user=number))

    def room_phones(self, room: str) -> list[Recipient]:
        """The SIP phones in `room` (radio gateways are not texted), reached through their
        calls' dialogs: each at its call's remote target, as its address of record."""
        found = []
        for call in list(self.agent.calls.values()):
            dialog = call.dialog
            if call.room_name != room or call.ended or call.floor_listener or dialog is None:
                continue
            # Along the dialog's route set: through the proxy that record-routed the call.
            route = Route(
                str(dialog.remote_target), dialog.peer, dialog.remote, "", "", None,
                tuple(dialog.route_set),
            )  # fmt: skip
            found.append(Recipient(str(dialog.remote.uri), route=route))
        return found

    def send(self, message_id: str, recipients: list[Recipient], text: str, sender: Sender) -> None:
        """Deliver `text` to each recipient, each in a task; the sink hears every state."""
        for recipient in recipients:
            self.agent.spawn(self.deliver(message_id, recipient, text, sender))

    async def deliver(
        self, message_id: str, recipient: Recipient, text: str, sender: Sender
    ) -> Delivery:
        """Send one MESSAGE and report it ("sent", then "delivered" or "failed")."""
        try:
            delivery = await self._deliver(message_id, recipient, text, sender)
        except asyncio.CancelledError:
            self.sink.status(message_id, recipient.address, "failed", None, "server-stopping")
            raise
        self.sink.status(
            message_id, recipient.address, delivery.status, delivery.code, delivery.reason
        )
        return delivery

    async def _deliver(
        self, message_id: str, recipient: Recipient, text: str, sender: Sender
    ) -> Delivery:
        route = recipient.route
        if route is None:
            assert recipient.uri is not None
            try:
                route = await self.dialer.route(recipient.uri, None, sender.user)
            except DialError as error:
                return Delivery.failed(error.status, str(error))
        stack = self.agent.stack
        destination = route.destination
        from_user = route.from_user or sender.user
        # Phones answer a text to its From: ours, with our port, unless a trunk names its own.
        ours = SipUri("sip", stack.local_host(destination.host), from_user,
                      stack.port_for(destination.transport))  # fmt: skip
        from_uri = SipUri("sip", route.from_host, from_user) if route.from_host else ours
        request = message_request(
            request_uri=route.request_uri,
            from_=Address(from_uri, sender.name or None, {"tag": new_tag()}),
            to=route.to,
            call_id=new_call_id(),
            cseq=1,
            via=stack.via(destination),
            text=text,
            extra=(*(("Route", hop) for hop in route.route_set), ("User-Agent", "mediacore")),
        )  # fmt: skip
        self.sink.status(message_id, recipient.address, "sent", None, "")
        response = await self._answered(request, destination)
        for _ in range(MAX_AUTH_ROUNDS):
            if response.status not in (401, 407) or route.trunk is None:
                break
            trunk = route.trunk
            retry = with_credentials(
                request, response, username=trunk.username, password=trunk.password,
                via=stack.via(destination),
            )  # fmt: skip
            if retry is None:
                break
            request = retry
            response = await self._answered(request, destination)
        return Delivery.of(response)

    async def _answered(self, request: Request, destination: Peer) -> Response:
        try:
            return await asyncio.wait_for(
                self.agent.stack.request(request, destination), self.timeout
            )
        except TimeoutError:
            return Response(status=408, reason="Request Timeout")
