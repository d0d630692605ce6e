"""A play INVITE that its caller may give up on before the device answers: CANCEL, not silence.

When the source is removed, its open timeout passes or the server stops while a camera is
still thinking about an INVITE, the task awaiting `send_invite` is cancelled. The INVITE is then
CANCELled as RFC 3261 section 9.1 says: once a provisional response (100 Trying, 180) has come,
never before; with the INVITE's own Request-URI, Call-ID, From, To, CSeq number and Via branch
(sip.cancel), in a client transaction of its own. The device answers the CANCEL 200 and the
INVITE 487 (Request Terminated), which the INVITE's client transaction acknowledges. A 2xx
that crossed the CANCEL is acknowledged and ended with BYE at once, so no camera keeps sending
to a port nobody reads. All of it waits at most `wait` seconds; then the caller sees its
CancelledError.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from sip.cancel import cancel_for
from sip.dialog import Dialog
from sip.message import Request, Response
from sip.transaction import Peer

log = logging.getLogger(__name__)

CANCEL_WAIT = 8.0  # seconds for the provisional, the CANCEL and the INVITE's final response


class InviteStack(Protocol):
    """What this module uses of sip.stack.SipStack."""

    async def request(
        self, request: Request, destination: Peer, on_provisional: Any = None
    ) -> Response: ...

    def via(self, peer: Peer) -> str: ...

    def send_stateless(self, message: Request | Response, destination: Peer) -> None: ...


async def send_invite(
    stack: InviteStack, invite: Request, peer: Peer, *, wait: float = CANCEL_WAIT
) -> Response:
    """Send `invite` and return its final response; when cancelled before it comes, CANCEL the
    INVITE (and end a 2xx that crossed the CANCEL) before re-raising CancelledError."""
    provisional = asyncio.Event()

    def heard(response: Response) -> None:
        provisional.set()

    sending = asyncio.ensure_future(stack.request(invite, peer, heard))
    try:
        return await asyncio.shield(sending)
    except asyncio.CancelledError:
        await _abandon(stack, invite, peer, sending, provisional, wait)
        raise


async def _abandon(
    stack: InviteStack,
    invite: Request,
    peer: Peer,
    sending: asyncio.Future[Response],
    provisional: asyncio.Event,
    wait: float,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    if not sending.done() and not provisional.is_set():
        heard = asyncio.ensure_future(provisional.wait())  # section 9.1: not before one came
        either: set[asyncio.Future[Any]] = {sending, heard}
        await asyncio.wait(either, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        heard.cancel()
    cancelling: asyncio.Future[Response] | None = None
    if not sending.done() and provisional.is_set():
        cancelling = asyncio.ensure_future(stack.request(cancel_for(invite), peer))
        log.info("gb28181 INVITE cancelled", extra={"call_id": invite.call_id})
    if not sending.done():
        await asyncio.wait({sending}, timeout=max(0.0, deadline - loop.time()))
    if not sending.done():
        sending.cancel()  # nothing final came: the INVITE's transaction ends by its own timers
    elif 200 <= sending.result().status < 300:
        await _end_answered(stack, invite, peer, sending.result(), deadline - loop.time())
    if cancelling is not None:
        await asyncio.wait({cancelling}, timeout=max(0.0, deadline - loop.time()))
        cancelling.cancel()


async def _end_answered(
    stack: InviteStack, invite: Request, peer: Peer, response: Response, wait: float
) -> None:
    """The device answered as we gave up: ACK (a 2xx needs one, section 13.2.2.4), then BYE."""
    dialog = Dialog.as_uac(invite, response, peer)
    stack.send_stateless(dialog.request("ACK", stack.via(peer), cseq=invite.cseq[0]), peer)
    bye = asyncio.ensure_future(stack.request(dialog.request("BYE", stack.via(peer)), peer))
    await asyncio.wait({bye}, timeout=max(0.1, wait))
    bye.cancel()
