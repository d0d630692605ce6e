"""Call transfer (RFC 3515 REFER, RFC 5589 call flows, RFC 3891 Replaces) for calls in rooms.

Three ways a participant is transferred:
- a phone in a room sends REFER (blind): we answer 202, dial the Refer-To target into the room
  (dial-out routing: registered user or trunk), report the progress to the phone in NOTIFYs
  with message/sipfrag bodies (100 Trying, 180 Ringing, then the final answer), and once the
  target answered we hang the phone up: the target has taken its place;
- a dispatcher asks for it (`transfer_blind`): the same, without the NOTIFYs; the transferer may
  be any kind of leg, so ending it is the caller's (`on_answered`);
- a dispatcher asks a phone to do it (`refer`): we send the REFER and follow its NOTIFYs.

A Refer-To with Replaces naming another of the transferer's calls with the same room is done at
once (the room would be connected to itself: both calls end); one in another room is refused
(403: that needs moving participants between rooms); naming a dialog elsewhere, the Replaces
goes into the INVITE to the target (RFC 3891 §1: the target replaces that dialog with us).

Events on the room's bus: `transfer.progress` {id, participant, to, mode, status, reason,
state} with state trying, ringing, answered or failed, and `transfer.finished` {id, participant,
to, mode, result ("transferred" or "failed"), status, target}."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from mediacore.room import RoomError
from sip.address import SipUri
from sip.call import SipCall
from sip.dialout import Dialer, DialError
from sip.message import Request, make_response
from sip.refer import (
    ReferError,
    ReferTarget,
    event_id,
    parse_sipfrag,
    refer_target,
    sipfrag,
    subscription_terminated,
)
from sip.transaction import ServerTransaction
from sip.useragent import JOIN_ROLES, SipUserAgent

log = logging.getLogger(__name__)

SUBSCRIPTION_SECONDS = 60  # how long the implicit refer subscription lives (RFC 3515 §2.4.4)
SIPFRAG = "message/sipfrag;version=2.0"
REASONS = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    503: "Service Unavailable",
    603: "Decline",
}


def new_transfer_id() -> str:
    return "t-" + secrets.token_hex(5)


@dataclass(slots=True)
class _Referred:
    """A REFER we sent to a phone, waiting for its NOTIFYs."""

    id: str
    room: str
    participant: str
    to: str
    done: Callable[[int, str], None]
    finished: bool = False


@dataclass(slots=True)
class BlindTransfer:
    """One transfer we carry out: who, to where, and how it is going."""

    id: str
    room: str
    participant: str
    to: str
    mode: str  # "refer" (a phone asked) or "blind" (a dispatcher asked)
    state: str = "trying"
    target: str | None = None  # the participant id of the dialled target

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room": self.room,
            "participant": self.participant,
            "to": self.to,
            "mode": self.mode,
            "state": self.state,
            "target": self.target,
        }


class Transfers:
    """Serves REFER and NOTIFY for the user agent's calls and carries out transfers."""

    def __init__(self, agent: SipUserAgent, dialer: Dialer) -> None:
        self.agent = agent
        self.dialer = dialer
        self.running: dict[str, BlindTransfer] = {}
        self._referred: dict[int, _Referred] = {}  # by id(call): REFERs we sent
        self._starting: set[tuple[str, str]] = set()  # (room, participant) of REFERs accepted
        agent.transfers = self

    # -- REFER from a phone ---------------------------------------------------------------

    def refer_received(
        self, call: SipCall, request: Request, transaction: ServerTransaction
    ) -> None:
        agent = self.agent
        try:
            target, replaced = self._acceptable(call, request)
        except ReferError as error:
            agent.stack.respond(transaction, make_response(request, error.status, str(error)))
            return
        dialog = call.dialog
        assert dialog is not None and call.room_name is not None
        accepted = make_response(request, 202, to_tag=dialog.local_tag)
        accepted.headers.add("Contact", dialog.local_contact)
        subscribed = (request.headers.get("Refer-Sub") or "").strip().lower() != "false"
        if not subscribed:  # RFC 4488: no NOTIFYs wanted, and we say we send none
            accepted.headers.add("Refer-Sub", "false")
        agent.stack.respond(transaction, accepted)
        notify = self._notifier(call, f"refer;id={request.cseq[0]}", subscribed)
        notify(100, "Trying")
        if replaced is not None:
            # Both calls are the transferer's, with one room: connecting the room to itself
            # leaves nothing to do but end them both, as the transfer would have.
            self._publish_replaced(call, replaced)
            notify(200, "OK")
            agent.spawn(replaced.hang_up("replaced"))
            agent.spawn(call.hang_up("transferred"))
            return
        referred_by = str(request.from_.uri) if call.user else ""

        def answered() -> None:
            agent.spawn(call.hang_up("transferred"))

        who = (call.room_name, call.participant_id or "")
        self._starting.add(who)  # now: a second REFER may come before the task starts
        agent.spawn(
            self._reported(
                who,
                self.transfer_blind(
                    call.room_name,
                    call.participant_id or "",
                    target,
                    mode="refer",
                    report=notify,
                    on_answered=answered,
                    referred_by=referred_by,
                ),
            )
        )

    def _acceptable(self, call: SipCall, request: Request) -> tuple[ReferTarget, SipCall | None]:
        """The REFER's target, and the call of ours its Replaces names (None: a call to make).
        Raises ReferError with the status to answer."""
        if call.state != "confirmed" or call.room_name is None or call.participant_id is None:
            raise ReferError("Not In A Room", 403)
        if call.direction == "inbound" and call.user is None:
            raise ReferError("REFER Needs An Authenticated Caller", 403)
        user = self.agent.users.get(call.user or "")
        if user is not None and user.role not in JOIN_ROLES:
            raise ReferError("Role May Not Transfer", 403)
        if self.in_progress(call.room_name, call.participant_id):
            raise ReferError("Transfer Already In Progress", 491)
        try:
            target = refer_target(request.headers.get_all("Refer-To"))
        except ReferError as error:
            raise ReferError(f"Bad Refer-To ({str(error)[:80]})", error.status) from None
        replaced = self._our_dialog(target)
        if replaced is None and not self.allowed(target.uri):
            raise ReferError("Refer-To Outside Policy", 403)
        if replaced is not None and replaced.room_name != call.room_name:
            raise ReferError("Replaces A Call In Another Room", 403)
        return target, replaced

    def in_progress(self, room: str, participant: str) -> bool:
        """Whether a transfer of `participant` is under way (one at a time)."""
        return (room, participant) in self._starting or any(
            t.room == room and t.participant == participant for t in self.running.values()
        )

    async def _reported(
        self, who: tuple[str, str], transfer: Coroutine[Any, Any, BlindTransfer]
    ) -> None:
        """A phone's transfer (`who` counted as under way from its 202 on, see refer_received);
        a target we cannot call was reported in the NOTIFY already."""
        try:
            await transfer
        except DialError as error:
            log.info("transfer target not called", extra={"error": str(error)})
        finally:
            self._starting.discard(who)

    def allowed(self, uri: SipUri) -> bool:
        """Where a phone may send us: one of our SIP users, or a number on a trunk."""
        if uri.user and uri.user in self.agent.users:
            return True
        return any(trunk.host_domain == uri.host for trunk in self.agent.settings.trunks)

    def _our_dialog(self, target: ReferTarget) -> SipCall | None:
        replaces = target.replaces
        if replaces is None:
            return None
        call = self.agent.calls.get((replaces.call_id, replaces.to_tag))
        if call is None or call.dialog is None or call.dialog.remote_tag != replaces.from_tag:
            return None
        return call

    def _notifier(
        self, call: SipCall, subscription: str, subscribed: bool = True
    ) -> Callable[[int, str], None]:
        """Reports a sipfrag status to `call` in a NOTIFY; a final one ends the subscription.
        Unless `subscribed`, it reports nothing (RFC 4488 Refer-Sub: false)."""

        def notify(status: int, reason: str) -> None:
            if not subscribed:
                return
            final = status >= 200
            state = (
                "terminated;reason=noresource"
                if final
                else f"active;expires={SUBSCRIPTION_SECONDS}"
            )
            headers = [("Event", subscription), ("Subscription-State", state)]
            body = sipfrag(status, reason or REASONS.get(status, ""))
            self.agent.spawn(call.send_request("NOTIFY", headers, body, SIPFRAG))

        return notify

    # -- NOTIFY about a REFER we sent -----------------------------------------------------

    def notify_received(
        self, call: SipCall, request: Request, transaction: ServerTransaction
    ) -> None:
        agent = self.agent
        referred = self._referred.get(id(call))
        try:
            subscription = event_id(request.headers.get("Event"))
            if request.headers.get("Event") is None:
                raise ReferError("NOTIFY without Event")
            status, reason = parse_sipfrag(request.body)
        except ReferError as error:
            agent.stack.respond(transaction, make_response(request, 400, str(error)[:80]))
            return
        if referred is None or subscription is None:
            agent.stack.respond(transaction, make_response(request, 481))
            return
        agent.stack.respond(transaction, make_response(request, 200))
        terminated = subscription_terminated(request.headers.get("Subscription-State"))
        if referred.finished:
            return
        if status >= 200 or terminated:
            referred.finished = True
            self._referred.pop(id(call), None)
            referred.done(status if status >= 200 else 487, reason)
            return
        self._progress(referred.room, referred.id, referred.participant, referred.to,
                       "phone", status, reason)  # fmt: skip

    # -- transfers we carry out -----------------------------------------------------------

    async def transfer_blind(
        self,
        room_name: str,
        participant: str,
        target: ReferTarget,
        *,
        mode: str,
        report: Callable[[int, str], None] | None = None,
        on_answered: Callable[[], None],
        referred_by: str = "",
        name: str = "",
    ) -> BlindTransfer:
        """Dial `target` into `room_name`; once it answers, call `on_answered` (which ends the
        transferer). `report` hears each status (NOTIFYs to a referring phone). Returns the
        transfer at once; raises DialError when the target cannot be called at all."""
        agent = self.agent
        transfer = BlindTransfer(new_transfer_id(), room_name, participant, str(target.uri), mode)
        room = agent.rooms(room_name)
        send = report or (lambda status, reason: None)
        if room is None:
            send(480, "Temporarily Unavailable")
            raise DialError(404, "room-not-found", f"no room named {room_name!r}")
        former = room.participants.get(participant)
        headers = list(target.headers)
        if target.replaces is not None:
            headers.append(("Replaces", str(target.replaces)))
        if referred_by:
            headers.append(("Referred-By", f"<{referred_by}>"))

        def progress(state: str, code: int | None) -> None:
            status = code if code is not None else (487 if state == "cancelled" else 500)
            reason = REASONS.get(status, state.replace("-", " ").title())
            send(status, reason)
            if status < 200:
                transfer.state = "ringing"
                self._progress(room_name, transfer.id, participant, transfer.to, mode,
                               status, reason)  # fmt: skip
                return
            self.running.pop(transfer.id, None)
            transfer.state = "answered" if state == "answered" else "failed"
            self._progress(room_name, transfer.id, participant, transfer.to, mode,
                           status, reason)  # fmt: skip
            if state == "answered":
                on_answered()
            self._finished(transfer, status)

        self._progress(room_name, transfer.id, participant, transfer.to, mode, 100, "Trying")
        self.running[transfer.id] = transfer
        try:
            transfer.target = await self.dialer.dial(
                room,
                str(target.uri),
                name or target.display_name or "",
                None,
                progress=progress,
                headers=headers,
                priority=former.priority if former is not None else 0,
            )
        except (DialError, RoomError) as error:
            self.running.pop(transfer.id, None)
            failure = (
                error if isinstance(error, DialError) else DialError(409, "room-full", str(error))
            )
            status = failure.status if 400 <= failure.status < 700 else 500
            send(status, REASONS.get(status, "Failed"))
            transfer.state = "failed"
            self._finished(transfer, status, str(error))
            raise failure from None
        return transfer

    async def refer(self, call: SipCall, room_name: str, target: ReferTarget) -> BlindTransfer:
        """Ask the phone of `call` to transfer itself to `target` (REFER); its NOTIFYs become
        `transfer.progress`, the final one `transfer.finished`; after a 2xx one the call is
        over (we hang up if the phone did not). Raises DialError when the phone refuses."""
        agent = self.agent
        participant = call.participant_id or ""
        transfer = BlindTransfer(new_transfer_id(), room_name, participant, str(target.uri),
                                 "phone")  # fmt: skip

        def finished(status: int, reason: str) -> None:
            transfer.state = "answered" if 200 <= status < 300 else "failed"
            self._progress(room_name, transfer.id, participant, transfer.to, "phone", status,
                           reason)  # fmt: skip
            self._finished(transfer, status)
            self.running.pop(transfer.id, None)
            if 200 <= status < 300:
                agent.spawn(call.hang_up("transferred"))

        self._referred[id(call)] = _Referred(transfer.id, room_name, participant, transfer.to,
                                             finished)  # fmt: skip
        headers = [("Refer-To", str(target))]
        if call.dialog is not None:
            headers.append(("Referred-By", f"<{call.dialog.local.uri}>"))
        self.running[transfer.id] = transfer
        response = await call.send_request("REFER", headers)
        if not 200 <= response.status < 300:
            self._referred.pop(id(call), None)
            self.running.pop(transfer.id, None)
            transfer.state = "failed"
            self._finished(transfer, response.status, response.reason)
            raise DialError(502, "refer-refused", f"the phone answered {response.status}")
        self._progress(room_name, transfer.id, participant, transfer.to, "phone",
                       response.status, response.reason)  # fmt: skip
        agent.publish_call_event("call.referred", call, participant=participant, to=transfer.to)
        return transfer

    # -- events ---------------------------------------------------------------------------

    def replaced(self, old: SipCall, new: SipCall, participant: str) -> None:
        """An INVITE with Replaces took over `old`'s place (RFC 3891)."""
        room = new.room_name
        self.agent.bus.publish(
            "transfer.finished",
            room,
            id=new_transfer_id(),
            participant=old.participant_id,
            to=new.remote_uri,
            mode="replaces",
            result="transferred",
            status=200,
            target=participant,
        )

    def _publish_replaced(self, call: SipCall, replaced: SipCall) -> None:
        self.agent.bus.publish(
            "transfer.finished",
            call.room_name,
            id=new_transfer_id(),
            participant=call.participant_id,
            to=replaced.remote_uri,
            mode="refer-replaces",
            result="transferred",
            status=200,
            target=replaced.participant_id,
        )

    def _progress(
        self, room: str, transfer: str, participant: str, to: str, mode: str, status: int,
        reason: str,
    ) -> None:  # fmt: skip
        state = "trying" if status < 180 else "ringing" if status < 200 else (
            "answered" if status < 300 else "failed"
        )  # fmt: skip
        self.agent.bus.publish(
            "transfer.progress",
            room,
            id=transfer,
            participant=participant,
            to=to,
            mode=mode,
            status=status,
            reason=reason,
            state=state,
        )

    def _finished(self, transfer: BlindTransfer, status: int, detail: str = "") -> None:
        self.agent.bus.publish(
            "transfer.finished",
            transfer.room,
            id=transfer.id,
            participant=transfer.participant,
            to=transfer.to,
            mode=transfer.mode,
            result="transferred" if 200 <= status < 300 else "failed",
            status=status,
            target=transfer.target,
            **({"detail": detail} if detail else {}),
        )
