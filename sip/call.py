"""A SIP call in a room: a dialog plus the media leg it set up (RFC 3261 §12-15, RFC 4028,
RFC 6086).

The call is the room's endpoint; its media is its leg's (a plain `RtpLeg`, or a radio leg for an
ED-137 gateway): the call has a leg, it is not one. It answers the peer's in-dialog requests
(re-INVITE and UPDATE for hold, resume and codec changes, which it hands to the leg; INFO for
DTMF; BYE), keeps the session timer, and says goodbye with a BYE when the room removes it (kick,
RTP timeout, room closed)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from mediacore.clock import MONOTONIC, Clock
from mediacore.codecs import registry
from mediacore.dtmf import DtmfDigit
from mediacore.endpoint import AudioInput, AudioOutput, Endpoint
from mediacore.joinedroom import JoinedRoom, Member
from mediacore.legpolicy import PLAIN_RTP, LegPolicy
from mediacore.offeranswer import OfferAnswerError, answer_audio, make_audio_offer, read_answer
from mediacore.sdp import SdpError, SessionDescription
from sip.dialog import Dialog
from sip.message import Request, Response, make_response
from sip.roomport import MediaLeg
from sip.sessiontimer import SessionTimer
from sip.stack import SipStack
from sip.transaction import Peer, ServerTransaction

log = logging.getLogger(__name__)

BYE_TIMEOUT = 5.0
KEEPALIVE_SLACK = 0.05  # seconds
DTMF_INFO_TYPES = ("application/dtmf-relay", "application/dtmf")
DEFAULT_INFO_DURATION_MS = 160


class CallAgent(Protocol):
    """What a call needs of the user agent that owns it (sip.useragent.SipUserAgent)."""

    @property
    def stack(self) -> SipStack: ...

    @property
    def clock(self) -> Clock: ...

    def reject_method(self, request: Request, transaction: ServerTransaction) -> None:
        """Answer a method we do not serve (405 or 501)."""
        ...

    def options_response(self, request: Request) -> Response:
        """The 200 to an OPTIONS, with our capabilities."""
        ...

    def add_capabilities(self, message: Request | Response) -> None:
        """Add Allow, Supported and User-Agent."""
        ...

    def session_expires(self, request: Request) -> tuple[int, str] | Response | None:
        """RFC 4028 for a re-INVITE or UPDATE: (interval, refresher), None, or an error."""
        ...

    def publish_call_event(self, kind: str, call: SipCall, **data: Any) -> None:
        """Publish a `call.*` event about `call`."""
        ...

    def call_finished(self, call: SipCall) -> None:
        """The call's dialog is over: forget it."""
        ...

    def ack_sent(self, call_id: str, ack: bytes, destination: Peer) -> None:
        """We acknowledged a 2xx: resend the ACK if the 2xx comes again."""
        ...

    def refer_received(
        self, call: SipCall, request: Request, transaction: ServerTransaction
    ) -> None:
        """A REFER in the call's dialog (RFC 3515): answer it (202, or an error)."""
        ...

    def notify_received(
        self, call: SipCall, request: Request, transaction: ServerTransaction
    ) -> None:
        """A NOTIFY in the call's dialog (a REFER we sent reports progress): answer it."""
        ...

    def hold_changed(self, call: SipCall) -> None:
        """The call went on hold or came off it (`call.held`): tell the room."""
        ...

    def call_message(self, call: SipCall, request: Request, transaction: ServerTransaction) -> None:
        """Answer a MESSAGE inside `call` (a text into its room), or refuse it."""
        ...


class SipCall(Endpoint):
    def __init__(
        self, leg: MediaLeg, *, clock: Clock = MONOTONIC, policy: LegPolicy = PLAIN_RTP
    ) -> None:
        """A call whose media is `leg` (bound, set up by offer/answer), on its user agent's
        `clock`; the user agent or the dialer fills in the dialog side. `policy` says whether
        new offers (re-INVITE, UPDATE) must, may or must not be SRTP."""
        self.leg = leg
        self.clock = clock
        self.policy = policy
        # A radio gateway over SIP is shown as radio; a phone as sip.
        self.kind = "sip" if leg.kind == "rtp" else leg.kind
        self.agent: CallAgent | None = None
        self.dialog: Dialog | None = None
        self.direction = "inbound"
        self.user: str | None = None  # the authenticated account, if any
        self.remote_uri = ""
        self.trunk: str | None = None  # the trunk a dial-out went through
        self.room_name: str | None = None
        self.local_address = ""
        self.session_timer: SessionTimer | None = None
        self.ended = False  # the dialog is over (BYE sent or received)
        self.state = "confirmed"  # dial-out: calling, ringing, confirmed or failed
        self.participant_id: str | None = None  # set once the call is in a room
        self.remote_hold = False  # the peer's last offer held the call (sendonly, inactive...)
        self.local_hold = False  # we held it (a dispatcher's hold: our offer was sendonly)
        self.invite: Request | None = None  # dial-out: our latest INVITE
        self.dial_task: asyncio.Task[None] | None = None
        self.on_ended: Callable[[str], None] | None = None  # the room removes the participant
        # Called once, at the first ACK of the dialog: the caller proved it receives us.
        self.on_acked: Callable[[], None] | None = None
        # Digits from the leg (RFC 4733) and from SIP INFO alike.
        self.on_dtmf: Callable[[DtmfDigit], None] | None = None
        leg.on_dtmf = self._dtmf
        self._pending_offer: SessionDescription | None = None  # our offer in a 2xx (offerless)
        self._keepalive_sent = self.clock.now()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- the room's side: media is the leg's -----------------------------------------------
    # Read through, not copied: a re-INVITE (hold, codec change) changes the leg's input and
    # output. Endpoint declares them as plain attributes, hence the ignores.

    @property
    def audio_input(self) -> AudioInput | None:  # type: ignore[override]
        return self.leg.audio_input

    @property
    def audio_output(self) -> AudioOutput | None:  # type: ignore[override]
        return self.leg.audio_output

    @property
    def floor_listener(self) -> bool:  # type: ignore[override]
        return self.leg.floor_listener

    def joined(self, room: JoinedRoom, participant: Member) -> None:
        self.room_name = room.name  # a move calls this again, with the new room
        self.leg.joined(room, participant)

    def floor_changed(self, holder: str | None, priority: int) -> None:
        self.leg.floor_changed(holder, priority)

    async def close(self, reason: str) -> None:
        if self.state in ("calling", "ringing") and self.dial_task is not None:
            self.ended = True
            self.dial_task.cancel()  # the dialer CANCELs the INVITE
        elif not self.ended:
            self.ended = True
            self._spawn(self._send_sip_bye(reason))
        await self.leg.close(reason)

    def check(self, now: float) -> str | None:
        timer = self.session_timer
        if timer is not None and timer.expired(now):
            return "session-expired"
        return self.leg.check(now)

    def statistics(self) -> dict[str, float]:
        return self.leg.statistics()

    def describe(self) -> dict[str, Any]:
        dialog = self.dialog
        return {
            **self.leg.describe(),
            "call_id": dialog.call_id if dialog else None,
            "uri": self.remote_uri,
            "user": self.user,
            "call_direction": self.direction,
            "transport": dialog.peer.transport if dialog else None,
            "held": self.held,
            "call_state": self.state,
        }

    @property
    def held(self) -> bool:
        """On hold, by the peer or by us: not mixed into the room, it hears music."""
        return self.state == "confirmed" and (self.remote_hold or self.local_hold)

    # -- the peer's requests --------------------------------------------------------------

    def request_received(self, request: Request, transaction: ServerTransaction | None) -> None:
        """An in-dialog request for this call; every one but ACK gets its answer here."""
        agent, dialog = self.agent, self.dialog
        assert agent is not None and dialog is not None
        if request.method == "ACK":
            self._ack(request)
            return
        assert transaction is not None
        if not dialog.accept_cseq(request):
            agent.stack.respond(transaction, make_response(request, 500, "CSeq Out Of Order"))
            return
        method = request.method
        if method == "BYE":
            agent.stack.respond(transaction, make_response(request, 200))
            self._remote_ended("hangup")
        elif method in ("INVITE", "UPDATE"):
            self._offer_received(request, transaction)
        elif method == "INFO":
            agent.stack.respond(transaction, self._info(request))
        elif method == "OPTIONS":
            agent.stack.respond(transaction, agent.options_response(request))
        elif method == "PRACK":
            agent.stack.respond(transaction, make_response(request, 200))
        elif method == "REFER":
            agent.refer_received(self, request, transaction)
        elif method == "NOTIFY":
            agent.notify_received(self, request, transaction)
        elif method == "MESSAGE":
            agent.call_message(self, request, transaction)
        else:
            agent.reject_method(request, transaction)

    def _remote_ended(self, reason: str) -> None:
        self.ended = True
        if self.agent is not None:
            self.agent.call_finished(self)
        if self.on_ended is not None:
            self.on_ended(reason)

    def _ack(self, request: Request) -> None:
        agent, dialog = self.agent, self.dialog
        assert agent is not None and dialog is not None
        agent.stack.ack_received(request.call_id, request.cseq[0])
        acked, self.on_acked = self.on_acked, None
        if acked is not None:
            acked()
        offer, self._pending_offer = self._pending_offer, None
        if offer is not None and request.body:
            try:
                answer = SessionDescription.parse(request.body.decode("utf-8", "replace"))
                self.leg.renegotiate(read_answer(offer, answer, registry.supported()))
            except (SdpError, OfferAnswerError) as error:
                log.info("bad SDP answer in ACK", extra={"error": str(error)})
                self._spawn(self.hang_up("bad-sdp"))

    def _offer_received(self, request: Request, transaction: ServerTransaction) -> None:
        """re-INVITE or UPDATE: a new offer (hold, resume, codec change) or a session refresh."""
        agent = self.agent
        assert agent is not None
        if self.session_timer is not None:
            refresh = agent.session_expires(request)
            if isinstance(refresh, Response):
                agent.stack.respond(transaction, refresh)
                return
            if refresh is not None:
                self.session_timer.refreshed(self.clock.now(), *refresh)
        if not request.body:
            if request.method == "UPDATE":
                agent.stack.respond(transaction, self._ok(request, None))
                return
            # An offerless re-INVITE: we offer our current session, the ACK brings the answer.
            offer = self.current_sdp(offer=True)
            self._pending_offer = offer
            agent.stack.respond(transaction, self._ok(request, offer))
            return
        leg = self.leg
        keys = leg.negotiation.srtp
        try:
            offer = SessionDescription.parse(request.body.decode("utf-8", "replace"))
            leg.session_version += 1
            answer, negotiation = answer_audio(
                offer,
                registry.supported(),
                self.local_address,
                leg.local_port,
                session_id=leg.session_id,
                session_version=leg.session_version,
                srtp=self.policy.srtp,
                srtp_key=keys.local_key if keys else None,  # ours stays while the call lasts
            )
        except (SdpError, OfferAnswerError) as error:
            response = make_response(request, 488)
            response.headers.add("Warning", f'399 mediacore "{error}"')
            agent.stack.respond(transaction, response)
            return
        leg.renegotiate(negotiation)
        was_held = self.held
        # RFC 3264 §8.4: sendonly or inactive holds; so does the older c=0.0.0.0 (RFC 2543).
        self.remote_hold = negotiation.direction in ("recvonly", "inactive") or (
            negotiation.remote_address in ("0.0.0.0", "::")
        )
        agent.publish_call_event("call.updated", self, held=self.held)
        if any(media.kind == "video" for media in offer.media):
            # video added, changed or removed: the leg answers it (binding a port), then we do
            self._spawn(self._answer_video(request, transaction, offer, answer, was_held))
            return
        self._answered(request, transaction, answer, was_held)

    async def _answer_video(
        self,
        request: Request,
        transaction: ServerTransaction,
        offer: SessionDescription,
        answer: SessionDescription,
        was_held: bool,
    ) -> None:
        try:
            await self.leg.update_video(offer, answer)
        except Exception:  # the audio answer stands, its video line refused (port 0)
            log.exception("answering a re-INVITE's video failed")
        self._answered(request, transaction, answer, was_held)

    def _answered(
        self,
        request: Request,
        transaction: ServerTransaction,
        answer: SessionDescription,
        was_held: bool,
    ) -> None:
        agent = self.agent
        assert agent is not None
        agent.stack.respond(transaction, self._ok(request, answer))
        if self.held != was_held:
            agent.hold_changed(self)

    def _ok(self, request: Request, sdp: SessionDescription | None) -> Response:
        agent, dialog = self.agent, self.dialog
        assert agent is not None and dialog is not None
        response = make_response(request, 200, to_tag=dialog.local_tag)
        response.headers.add("Contact", dialog.local_contact)
        agent.add_capabilities(response)
        if self.session_timer is not None:
            response.headers.add("Session-Expires", self.session_timer.header_value())
            response.headers.add("Require", "timer")
        if sdp is not None:
            response.headers.add("Content-Type", "application/sdp")
            response.body = sdp.serialize().encode()
        return response

    def current_sdp(self, offer: bool = False, direction: str = "sendrecv") -> SessionDescription:
        """Our side of the session as it stands, as an offer (for an offerless re-INVITE; with
        `direction` "sendonly" it puts the peer on hold)."""
        leg = self.leg
        leg.session_version += 1
        codecs = [leg.negotiation.codec] if not offer else registry.supported()
        keys = leg.negotiation.srtp  # an SRTP session stays SRTP, with our key
        sdp = make_audio_offer(
            codecs,
            self.local_address,
            leg.local_port,
            session_id=leg.session_id,
            session_version=leg.session_version,
            srtp="mandatory" if keys else "off",
            srtp_key=keys.local_key if keys else None,
            direction=direction,
        )
        video = leg.video_offer(direction)  # RFC 3264 section 8: every m= line stays
        if video is not None:
            sdp.media.insert(video[0], video[1])
        return sdp

    def _info(self, request: Request) -> Response:
        """SIP INFO DTMF (application/dtmf-relay "Signal=5", or application/dtmf "5")."""
        if request.content_type not in DTMF_INFO_TYPES:
            response = make_response(request, 415)
            response.headers.add("Accept", ", ".join(DTMF_INFO_TYPES))
            return response
        digit = parse_info_dtmf(request.body.decode("utf-8", "replace"), request.content_type)
        if digit is None:
            return make_response(request, 400, "Bad DTMF Body")
        rate = self.leg.negotiation.codec.clock_rate
        self._dtmf(DtmfDigit(digit[0], digit[1] * rate // 1000, 10, 0))
        return make_response(request, 200)

    def _dtmf(self, digit: DtmfDigit) -> None:
        if self.on_dtmf is not None:
            self.on_dtmf(digit)

    # -- our requests ---------------------------------------------------------------------

    async def _send_sip_bye(self, reason: str) -> None:
        agent, dialog = self.agent, self.dialog
        if agent is None or dialog is None:
            return
        bye = dialog.request("BYE", agent.stack.via(dialog.peer))
        bye.headers.add("Reason", f'SIP;cause=200;text="{reason}"')
        try:
            await asyncio.wait_for(agent.stack.request(bye, dialog.peer), BYE_TIMEOUT)
        except TimeoutError:
            pass
        agent.call_finished(self)

    async def hang_up(self, reason: str, *, say_bye: bool = True) -> None:
        """End the call from our side: BYE (unless `say_bye` is False: the peer never proved it
        is there), then the room is told (`on_ended`)."""
        if not self.ended:
            self.ended = True
            if say_bye:
                await self._send_sip_bye(reason)
            elif self.agent is not None:
                self.agent.call_finished(self)
            if self.on_ended is not None:
                self.on_ended(reason)

    async def move_media(self, leg: MediaLeg, offer: SessionDescription) -> bool:
        """Carry on with the media on `leg` (a new worker after one died): a re-INVITE with
        `offer`, the answer applied to `leg`. False (the old leg kept) when the peer refuses."""
        if not await self.reinvite(offer, leg):
            return False
        self.leg = leg
        leg.on_dtmf = self._dtmf
        return True

    async def set_local_hold(self, held: bool) -> bool:
        """Put the peer on hold (a re-INVITE with our session `sendonly`: it hears what we
        send, music, and we ignore what it sends) or take it off (`sendrecv`). False when the
        peer refused; the hold then stands as it was."""
        if self.local_hold == held:
            return True
        offer = self.current_sdp(direction="sendonly" if held else "sendrecv")
        if not await self.reinvite(offer, self.leg):
            return False
        self.local_hold = held
        return True

    async def reinvite(self, offer: SessionDescription, leg: MediaLeg) -> bool:
        """A re-INVITE with `offer`, its answer applied to `leg`; False when refused."""
        agent, dialog = self.agent, self.dialog
        if agent is None or dialog is None or self.ended:
            return False
        invite = dialog.request(
            "INVITE",
            agent.stack.via(dialog.peer),
            body=offer.serialize().encode(),
            content_type="application/sdp",
            headers=[("Contact", dialog.local_contact)],
        )
        agent.add_capabilities(invite)
        response = await agent.stack.request(invite, dialog.peer)
        if not 200 <= response.status < 300:
            if response.status in (481, 408):
                await self.hang_up("media-lost")
            return False
        ack = dialog.request("ACK", agent.stack.via(dialog.peer), cseq=invite.cseq[0])
        agent.stack.send_stateless(ack, dialog.peer)
        agent.ack_sent(invite.call_id, ack.serialize(), dialog.peer)
        try:
            answer = SessionDescription.parse(response.body.decode("utf-8", "replace"))
            leg.renegotiate(read_answer(offer, answer, registry.supported()))
        except (SdpError, OfferAnswerError) as error:
            log.info("re-INVITE answer unusable", extra={"error": str(error)})
            await self.hang_up("bad-sdp")
            return False
        return True

    async def send_request(
        self,
        method: str,
        headers: list[tuple[str, str]],
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response:
        """An in-dialog request (NOTIFY, REFER) and its final response; 481 when the dialog
        is over."""
        agent, dialog = self.agent, self.dialog
        if agent is None or dialog is None or self.ended:
            return Response(status=481, reason="Call Does Not Exist")
        request = dialog.request(
            method, agent.stack.via(dialog.peer), body=body, content_type=content_type,
            headers=headers,
        )  # fmt: skip
        return await agent.stack.request(request, dialog.peer)

    async def refresh_session(self) -> None:
        """RFC 4028 refresh when we are the refresher: an UPDATE without a body."""
        agent, dialog, timer = self.agent, self.dialog, self.session_timer
        if agent is None or dialog is None or timer is None or self.ended:
            return
        update = dialog.request("UPDATE", agent.stack.via(dialog.peer))
        update.headers.add("Session-Expires", timer.header_value())
        agent.add_capabilities(update)
        response = await agent.stack.request(update, dialog.peer)
        if 200 <= response.status < 300:
            timer.refreshed(self.clock.now(), timer.interval, timer.refresher)
        elif response.status in (481, 408):
            await self.hang_up("session-refresh-failed")

    def keepalive_due(self, now: float, interval: float) -> bool:
        # The once-a-second housekeeping may wake a hair early (uvloop's timers have 1 ms
        # granularity): without the slack a 1 s interval would often become 2 s.
        return (
            interval > 0
            and self.state == "confirmed"
            and not self.ended
            and now - self._keepalive_sent >= interval - KEEPALIVE_SLACK
        )

    async def send_keepalive(self, now: float) -> None:
        """An in-dialog OPTIONS: a phone that lost the call (481) or is gone (408) is hung up.

        Any other answer, even 405 or 501, proves the peer still knows the dialog (RFC 3261
        §12.2.1.2), so only those two end the call."""
        agent, dialog = self.agent, self.dialog
        if agent is None or dialog is None:
            return
        self._keepalive_sent = now
        options = dialog.request("OPTIONS", agent.stack.via(dialog.peer))
        options.headers.add("Accept", "application/sdp")
        response = await agent.stack.request(options, dialog.peer)
        if response.status in (408, 481):
            log.info("sip keep-alive failed", extra={"status": response.status})
            await self.hang_up("keepalive-failed")

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def parse_info_dtmf(body: str, content_type: str) -> tuple[str, int] | None:
    """(digit, duration ms) from an INFO body, or None when it names no valid digit."""
    digit, duration = "", DEFAULT_INFO_DURATION_MS
    if content_type == "application/dtmf":
        digit = body.strip()
    else:
        for line in body.splitlines()[:10]:
            name, _, value = line.partition("=")
            name, value = name.strip().lower(), value.strip()
            if name == "signal":
                digit = value
            elif name == "duration" and value.isdigit() and len(value) <= 5:
                duration = int(value)
    digit = digit.upper()
    if digit == "10":
        digit = "*"
    elif digit == "11":
        digit = "#"
    if len(digit) != 1 or digit not in "0123456789*#ABCD":
        return None
    return digit, max(10, min(duration, 10000))
