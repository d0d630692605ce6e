"""A SIP call in a room: an RTP leg with a dialog (RFC 3261 §12-15, RFC 4028, RFC 6086).

The call answers the peer's in-dialog requests (re-INVITE and UPDATE for hold, resume and codec
changes; INFO for DTMF; BYE), keeps the session timer, and says goodbye with a BYE when the room
removes it (kick, RTP timeout, room closed)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mediacore.codecs import registry
from mediacore.dtmf import DtmfDigit
from mediacore.offeranswer import OfferAnswerError, answer_audio, read_answer
from mediacore.rtpsession import RtpLeg
from mediacore.sdp import SdpError, SessionDescription
from sip.dialog import Dialog
from sip.message import Request, Response, make_response
from sip.sessiontimer import SessionTimer
from sip.transaction import ServerTransaction

if TYPE_CHECKING:
    from sip.useragent import SipUserAgent

log = logging.getLogger(__name__)

BYE_TIMEOUT = 5.0
KEEPALIVE_SLACK = 0.05  # seconds
DTMF_INFO_TYPES = ("application/dtmf-relay", "application/dtmf")
DEFAULT_INFO_DURATION_MS = 160


class SipCall(RtpLeg):
    kind = "sip"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.agent: SipUserAgent | None = None
        self.dialog: Dialog | None = None
        self.direction = "inbound"
        self.user: str | None = None  # the authenticated account, if any
        self.remote_uri = ""
        self.room_name: str | None = None
        self.local_address = ""
        self.session_timer: SessionTimer | None = None
        self.ended = False  # the dialog is over (BYE sent or received)
        self.state = "confirmed"  # dial-out: calling, ringing, confirmed or failed
        self.invite: Request | None = None  # dial-out: our latest INVITE
        self.dial_task: asyncio.Task[None] | None = None
        self.on_ended: Callable[[str], None] | None = None  # the room removes the participant
        self.on_info_dtmf: Callable[[DtmfDigit], None] | None = None
        self._pending_offer: SessionDescription | None = None  # our offer in a 2xx (offerless)
        self._keepalive_sent = time.monotonic()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- the room's side ------------------------------------------------------------------

    async def close(self, reason: str) -> None:
        if self.state in ("calling", "ringing") and self.dial_task is not None:
            self.ended = True
            self.dial_task.cancel()  # the dialer CANCELs the INVITE
        elif not self.ended:
            self.ended = True
            self._spawn(self._send_sip_bye(reason))
        await super().close(reason)

    def check(self, now: float) -> str | None:
        timer = self.session_timer
        if timer is not None and timer.expired(now):
            return "session-expired"
        return super().check(now)

    def describe(self) -> dict[str, Any]:
        dialog = self.dialog
        return {
            **super().describe(),
            "call_id": dialog.call_id if dialog else None,
            "uri": self.remote_uri,
            "user": self.user,
            "call_direction": self.direction,
            "transport": dialog.peer.transport if dialog else None,
            "held": self.state == "confirmed"
            and self.negotiation.direction in ("recvonly", "inactive"),
            "call_state": self.state,
        }

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
        offer, self._pending_offer = self._pending_offer, None
        if offer is not None and request.body:
            try:
                answer = SessionDescription.parse(request.body.decode("utf-8", "replace"))
                self.renegotiate(read_answer(offer, answer, registry.supported()))
            except (SdpError, OfferAnswerError) as error:
                log.info("bad SDP answer in ACK", extra={"error": str(error)})
                self._spawn(self._hang_up("bad-sdp"))

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
                self.session_timer.refreshed(time.monotonic(), *refresh)
        if not request.body:
            if request.method == "UPDATE":
                agent.stack.respond(transaction, self._ok(request, None))
                return
            # An offerless re-INVITE: we offer our current session, the ACK brings the answer.
            offer = self.current_sdp(offer=True)
            self._pending_offer = offer
            agent.stack.respond(transaction, self._ok(request, offer))
            return
        try:
            offer = SessionDescription.parse(request.body.decode("utf-8", "replace"))
            self.session_version += 1
            answer, negotiation = answer_audio(
                offer,
                registry.supported(),
                self.local_address,
                self.local_port,
                session_id=self.session_id,
                session_version=self.session_version,
            )
        except (SdpError, OfferAnswerError) as error:
            response = make_response(request, 488)
            response.headers.add("Warning", f'399 mediacore "{error}"')
            agent.stack.respond(transaction, response)
            return
        self.renegotiate(negotiation)
        agent.publish_call_event("call.updated", self, held=self.describe()["held"])
        agent.stack.respond(transaction, self._ok(request, answer))

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

    def current_sdp(self, offer: bool = False) -> SessionDescription:
        """Our side of the session as it stands, as an offer (for an offerless re-INVITE)."""
        from mediacore.offeranswer import make_audio_offer

        self.session_version += 1
        codecs = [self.negotiation.codec] if not offer else registry.supported()
        return make_audio_offer(
            codecs,
            self.local_address,
            self.local_port,
            session_id=self.session_id,
            session_version=self.session_version,
        )

    def _info(self, request: Request) -> Response:
        """SIP INFO DTMF (application/dtmf-relay "Signal=5", or application/dtmf "5")."""
        if request.content_type not in DTMF_INFO_TYPES:
            response = make_response(request, 415)
            response.headers.add("Accept", ", ".join(DTMF_INFO_TYPES))
            return response
        digit = parse_info_dtmf(request.body.decode("utf-8", "replace"), request.content_type)
        if digit is None:
            return make_response(request, 400, "Bad DTMF Body")
        if self.on_info_dtmf is not None:
            rate = self.negotiation.codec.clock_rate
            self.on_info_dtmf(DtmfDigit(digit[0], digit[1] * rate // 1000, 10, 0))
        return make_response(request, 200)

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

    async def _hang_up(self, reason: str) -> None:
        if not self.ended:
            self.ended = True
            await self._send_sip_bye(reason)
            if self.on_ended is not None:
                self.on_ended(reason)

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
            timer.refreshed(time.monotonic(), timer.interval, timer.refresher)
        elif response.status in (481, 408):
            await self._hang_up("session-refresh-failed")

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
            await self._hang_up("keepalive-failed")

    def _spawn(self, coroutine: Any) -> None:
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
