"""Dial-out: the server calls a registered user, a trunk number or a SIP URI into a room.

The new participant joins the room at once in state "calling" (so the roster shows it and a
kick cancels it) but sends and hears nothing until answered. Ringing, answer, busy, no answer
and failure are events; a failed call leaves the room with that reason."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from mediacore.codecs import registry
from mediacore.legpolicy import LegPolicy
from mediacore.offeranswer import OfferAnswerError, read_answer
from mediacore.participant import Participant
from mediacore.rtpsession import RtpLeg
from mediacore.sdp import SessionDescription
from sip.address import Address, SipSyntaxError, SipUri
from sip.authclient import with_credentials
from sip.call import SipCall
from sip.cancel import cancel_for
from sip.dialog import MAX_FORWARDS, Dialog, new_call_id, new_tag
from sip.message import Headers, Request, Response
from sip.registrar import Binding
from sip.roomport import CallRoom, MediaLeg
from sip.sessionkind import OutgoingSessionKind
from sip.sessiontimer import SessionTimer, parse_session_expires
from sip.settings import SipTrunk
from sip.sharedbindings import SharedBinding, first_hop
from sip.stack import resolve
from sip.transaction import Peer
from sip.useragent import SipUserAgent

log = logging.getLogger(__name__)

FAILURE_REASONS = {486: "busy", 600: "busy", 603: "declined", 480: "no-answer", 408: "no-answer"}
MAX_AUTH_ROUNDS = 2

# Told how one dial-out goes: ("ringing", 180 or 183), then once the outcome: ("answered", 2xx),
# a FAILURE_REASONS reason, "rejected" or "bad-sdp" with the status, ("cancelled", None) when
# the call was given up from our side (kick, room closed), or ("failed", None) on an error.
DialProgress = Callable[[str, int | None], None]


def _unwatched(state: str, status: int | None) -> None:
    return None


class DialError(Exception):
    """A dial request that cannot start; `status` and `code` are for the HTTP answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class _Watch:
    """How one dial-out goes: how long it may ring, who hears its progress, and the headers
    its INVITE carries besides ours."""

    ring_timeout: float  # seconds
    progress: DialProgress
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    request_uri: str
    destination: Peer
    to: Address
    from_user: str
    from_host: str
    trunk: SipTrunk | None
    route_set: tuple[str, ...] = ()  # Route headers of the INVITE (a registered user's Path)


class Dialer:
    def __init__(self, agent: SipUserAgent) -> None:
        self.agent = agent

    async def dial(
        self,
        room: CallRoom,
        uri_text: str,
        name: str,
        trunk_name: str | None,
        kind: OutgoingSessionKind | None = None,
        policy: LegPolicy | None = None,
        *,
        ring_timeout: float | None = None,
        progress: DialProgress | None = None,
        headers: Sequence[tuple[str, str]] = (),
        priority: int = 0,
        video: bool = False,
    ) -> str:
        """Start calling `uri_text` into `room`; returns the participant id at once.

        With a session `kind` (an ED-137 radio gateway) the kind makes the leg and the offer
        and marks the INVITE. `policy` (SRTP, NAT) defaults to the trunk's or the called
        account's settings, else the server's. `ring_timeout` (seconds) replaces `[sip]
        ring_timeout` for this call; `progress` hears how it goes (see DialProgress). With
        `video` (or through a trunk with `video = true`) the offer carries video too (a
        cascade to another MCU): the far end receives the room's composed picture, and its
        picture becomes a source of the room. Raises
        DialError (bad URI, unknown trunk, user not registered, no media ports)."""
        try:
            uri = SipUri.parse(uri_text)
        except SipSyntaxError as error:
            raise DialError(400, "bad-uri", str(error)) from None
        route = await self.route(uri, trunk_name, room.name)
        video = video or (route.trunk is not None and route.trunk.video)  # an MCU trunk
        agent = self.agent
        if policy is None:
            policy = self._policy(route, uri)
        local_address = agent.stack.local_host(route.destination.host)
        leg: MediaLeg
        try:
            if kind is None:
                leg, offer = await agent.legs.offer(room, local_address, RtpLeg, None, policy)
                if video:
                    await _video_step(leg.offer_video(offer))
            else:
                leg, offer = await kind.offer(agent.legs, room, local_address, policy)
        except (OfferAnswerError, OSError) as error:
            raise DialError(503, "no-media", str(error)) from None
        call = SipCall(leg, clock=agent.clock, policy=policy)
        call.agent = agent
        call.direction = "outbound"
        call.state = "calling"
        call.remote_uri = str(uri)
        call.trunk = route.trunk.name if route.trunk is not None else None
        call.local_address = local_address
        participant = Participant(
            name=name or uri.user or uri.host,
            endpoint=call,
            duplex="half" if call.floor_listener else "full",
            priority=priority,
        )
        call.room_name = room.name
        call.participant_id = participant.id
        room.add(participant)
        timeout = ring_timeout or agent.settings.ring_timeout
        watch = _Watch(timeout, progress or _unwatched, tuple(headers))
        task = agent.spawn(self._call(room, participant, call, route, offer, kind, watch))
        call.dial_task = task
        return participant.id

    def _policy(self, route: Route, uri: SipUri) -> LegPolicy:
        """SRTP and NAT of a dial-out: the trunk's, else the called account's, else ours."""
        settings = self.agent.settings
        said = route.trunk or self.agent.users.get(uri.user or "")
        if said is None:
            return settings.policy()
        return settings.policy(said.srtp, said.nat)

    async def route(self, uri: SipUri, trunk_name: str | None, from_user: str) -> Route:
        """Where requests for `uri` go: through `trunk_name` (or the trunk whose domain the
        URI names), to a registered user's newest contact, or to the URI's host; `from_user`
        is our From's user unless the trunk has a username. Raises DialError (unknown trunk,
        user not registered, host that does not resolve)."""
        agent = self.agent
        trunks = {trunk.name: trunk for trunk in agent.settings.trunks}
        trunk = trunks.get(trunk_name) if trunk_name else None
        if trunk_name and trunk is None:
            raise DialError(400, "unknown-trunk", f"no trunk named {trunk_name!r}")
        if trunk is None:
            trunk = next((t for t in trunks.values() if t.host_domain == uri.host), None)
        if trunk is not None:
            proxy = trunk.proxy_uri
            destination = await self._resolve(proxy)
            number = uri.user or ""
            request_uri = SipUri("sip", trunk.host_domain, user=number)
            return Route(
                str(request_uri),
                destination,
                Address(request_uri),
                trunk.username or from_user,
                trunk.host_domain,
                trunk,
            )
        if uri.user in agent.users:
            return await self._registered(uri, from_user)
        return Route(str(uri), await self._resolve(uri), Address(uri), from_user, "", None)

    async def _registered(self, uri: SipUri, from_user: str) -> Route:
        """To a registered user: in a cluster its newest binding on any server (the shared
        store has the latest REGISTER, wherever it went; ours may be older), else its newest
        binding here; along the binding's Path when it has one (RFC 3327)."""
        agent = self.agent
        user = uri.user or ""
        found: Binding | SharedBinding | None = None
        if agent.shared_bindings is not None:
            found = await agent.shared_bindings.find(user)
        if found is None:
            bindings = agent.registrar.lookup(user, agent.clock.now())
            found = bindings[-1] if bindings else None
        if found is None:
            raise DialError(404, "not-registered", f"SIP user {user!r} is not registered")
        destination = found.source
        if found.path:
            try:
                destination = await self._resolve(first_hop(found.path))
            except SipSyntaxError as error:
                raise DialError(502, "bad-path", f"unusable Path: {error}") from None
        to = Address(SipUri("sip", uri.host, user=user))
        return Route(found.contact, destination, to, from_user, "", None, found.path)

    async def _call(
        self,
        room: CallRoom,
        participant: Participant,
        call: SipCall,
        route: Route,
        offer: SessionDescription,
        kind: OutgoingSessionKind | None,
        watch: _Watch,
    ) -> None:
        """Place the call and tell `watch` its outcome, whatever ends it."""
        try:
            state, status = await self._place(room, participant, call, route, offer, kind, watch)
        except asyncio.CancelledError:
            watch.progress("cancelled", None)
            raise
        except Exception:
            watch.progress("failed", None)
            raise
        watch.progress(state, status)

    async def _place(
        self,
        room: CallRoom,
        participant: Participant,
        call: SipCall,
        route: Route,
        offer: SessionDescription,
        kind: OutgoingSessionKind | None,
        watch: _Watch,
    ) -> tuple[str, int]:
        """The call's outcome: ("answered", status) or (failure reason, status)."""
        agent = self.agent
        stack = agent.stack
        destination = route.destination
        local_tag = new_tag()
        from_host = route.from_host or stack.local_host(destination.host)
        from_address = Address(
            SipUri("sip", from_host, user=route.from_user), room.name, {"tag": local_tag}
        )
        secure = route.request_uri.lower().startswith("sips:")
        contact = f"<{stack.contact_uri(room.name, destination, secure=secure)}>"
        invite = self._invite(route, from_address, contact, offer, new_call_id(), 1)
        for name, value in watch.headers:
            invite.headers.add(name, value)
        if kind is not None:
            kind.mark(invite)
        agent.publish_call_event(
            "call.dialing", call, participant=participant.id, uri=call.remote_uri
        )
        try:
            response = await self._invite_answered(invite, route, call, participant, watch)
        except asyncio.CancelledError:
            await self._cancel(invite, destination)
            raise
        if not 200 <= response.status < 300:
            reason = FAILURE_REASONS.get(response.status, "rejected")
            if response.status == 487:
                reason = "no-answer"
            self._failed(participant, call, reason, response.status)
            return reason, response.status
        dialog = Dialog.as_uac(invite, response, destination)
        call.dialog = dialog
        ack = dialog.request("ACK", stack.via(destination), cseq=invite.cseq[0])
        stack.send_stateless(ack, destination)
        agent.ack_sent(invite.call_id, ack.serialize(), destination)
        agent.calls[(invite.call_id, local_tag)] = call
        try:
            answer = SessionDescription.parse(response.body.decode("utf-8", "replace"))
            call.leg.renegotiate(read_answer(offer, answer, registry.supported()))
            if any(media.kind == "video" for media in offer.media):
                await _video_step(call.leg.video_answered(answer))
            if kind is not None:
                kind.answered(call.leg, answer)
        except ValueError as error:  # SdpError, OfferAnswerError, or the session kind's own
            log.info("dial-out answer unusable", extra={"error": str(error)})
            await call.hang_up("bad-sdp")
            self._failed(participant, call, "bad-sdp", 488)
            return "bad-sdp", 488
        self._session_timer(call, response)
        call.state = "confirmed"
        agent.seat(call, participant)
        agent.publish_call_event("call.answered", call, participant=participant.id)
        return "answered", response.status

    async def _resolve(self, uri: SipUri) -> Peer:
        try:
            return await resolve(uri)
        except OSError as error:
            raise DialError(502, "unresolvable", f"cannot resolve {uri.host}: {error}") from None

    def _invite(
        self,
        route: Route,
        from_address: Address,
        contact: str,
        offer: SessionDescription,
        call_id: str,
        cseq: int,
    ) -> Request:
        stack = self.agent.stack
        headers = Headers(
            [
                ("Via", stack.via(route.destination)),
                ("Max-Forwards", MAX_FORWARDS),
                ("From", str(from_address)),
                ("To", str(route.to)),
                ("Call-ID", call_id),
                ("CSeq", f"{cseq} INVITE"),
                ("Contact", contact),
            ]
        )
        for hop in route.route_set:
            headers.add("Route", hop)
        invite = Request(headers, offer.serialize().encode(), "INVITE", route.request_uri)
        self.agent.add_capabilities(invite)
        if self.agent.settings.session_expires:
            invite.headers.add("Session-Expires", str(self.agent.settings.session_expires))
        invite.headers.add("Content-Type", "application/sdp")
        return invite

    async def _invite_answered(
        self, invite: Request, route: Route, call: SipCall, participant: Participant, watch: _Watch
    ) -> Response:
        """Send the INVITE (answering digest challenges) and wait for its final response.

        Gives up after the ring timeout with a CANCEL; the answer is then 487 or a late 2xx."""
        agent = self.agent
        ringing_reported = False

        def provisional(response: Response) -> None:
            nonlocal ringing_reported
            if response.status in (180, 183) and not ringing_reported:
                ringing_reported = True
                call.state = "ringing"
                agent.publish_call_event("call.ringing", call, participant=participant.id)
                watch.progress("ringing", response.status)

        for _ in range(MAX_AUTH_ROUNDS + 1):
            call.invite = invite
            sending = asyncio.ensure_future(
                agent.stack.request(invite, route.destination, provisional)
            )
            done, _ = await asyncio.wait({sending}, timeout=watch.ring_timeout)
            if not done:
                await self._cancel(invite, route.destination)
                try:
                    return await asyncio.wait_for(sending, 40)
                except TimeoutError:
                    return Response(status=408, reason="No Answer")
            response = sending.result()
            if response.status not in (401, 407) or route.trunk is None:
                return response
            retry = self._authorised(invite, response, route.trunk)
            if retry is None:
                return response
            invite = retry
        return response

    def _authorised(self, invite: Request, response: Response, trunk: SipTrunk) -> Request | None:
        """The INVITE again with trunk credentials for the challenge, or None if unanswerable."""
        via = self.agent.stack.via(Peer(*_peer_fields(invite)))
        return with_credentials(
            invite, response, username=trunk.username, password=trunk.password, via=via
        )

    async def _cancel(self, invite: Request, destination: Peer) -> None:
        """CANCEL our INVITE (§9.1, sip.cancel)."""
        cancel = cancel_for(invite)
        try:
            await asyncio.wait_for(self.agent.stack.request(cancel, destination), 10)
        except (TimeoutError, ValueError):
            pass

    def _session_timer(self, call: SipCall, response: Response) -> None:
        value = response.headers.get("Session-Expires")
        parsed = parse_session_expires(value) if value else None
        if parsed is not None and parsed[0] >= self.agent.settings.min_se:
            interval, refresher = parsed
            call.session_timer = SessionTimer(
                interval, refresher or "uac", "uac", self.agent.clock.now()
            )

    def _failed(self, participant: Participant, call: SipCall, reason: str, status: int) -> None:
        call.ended = True
        call.state = "failed"
        self.agent.publish_call_event(
            "call.failed", call, participant=participant.id, reason=reason, status=status
        )
        room = self.agent.rooms(call.room_name or "")  # where it is now: it may have moved
        if room is not None:
            self.agent.leave_room(room, participant, reason)


async def _video_step(step: Awaitable[None]) -> None:
    """Add video to our offer, or take the answer's: a failure (the media worker gone) leaves
    the call with its audio, never ends it."""
    try:
        await step
    except Exception:
        log.warning("dial-out video failed: the call goes on with audio", exc_info=True)


def _peer_fields(invite: Request) -> tuple[str, str, int]:
    via = invite.top_via
    return via.transport.lower(), via.host, via.port or 5060
