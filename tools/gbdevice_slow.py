"""The simulated device's "slow answer" mode: it thinks about an INVITE, and may be CANCELled.

With `DeviceConfig.answer_delay` > 0 the device answers an INVITE 100 Trying at once and its
final response `answer_delay` seconds later, as a camera waking its encoder does. A CANCEL that
comes meanwhile (RFC 3261 section 9.2) is answered 200, the INVITE 487 Request Terminated, and
the platform's ACK of that 487 is noted: `cancelled` and `acked` hold the Call-IDs.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

from sip.message import Request, Response, make_response


class SlowAnswers:
    def __init__(
        self,
        delay: float,
        respond: Callable[[Response], None],
        answer: Callable[[Request], None],
    ) -> None:
        """`respond` sends a response; `answer` answers an INVITE for real."""
        self.delay = delay
        self.respond = respond
        self.answer = answer
        self.pending: dict[str, tuple[Request, asyncio.TimerHandle]] = {}  # by Call-ID
        self.released: set[str] = set()
        self.cancelled: list[str] = []
        self.acked: list[str] = []

    def holds(self, invite: Request) -> bool:
        """Whether `invite` waits (100 Trying sent, again for a retransmission); False when
        the mode is off or its time came."""
        if self.delay <= 0 or invite.call_id in self.released:
            return False
        if invite.call_id not in self.pending:
            handle = asyncio.get_running_loop().call_later(
                self.delay, self._release, invite.call_id
            )
            self.pending[invite.call_id] = (invite, handle)
        self.respond(make_response(invite, 100))
        return True

    def cancel(self, cancel: Request) -> None:
        """A CANCEL: 200 and 487 when it matches a waiting INVITE (Call-ID, CSeq number and
        branch), else 481."""
        held = self.pending.get(cancel.call_id)
        if held is None or not _same_transaction(held[0], cancel):
            self.respond(make_response(cancel, 481))
            return
        invite, handle = self.pending.pop(cancel.call_id)
        handle.cancel()
        self.cancelled.append(cancel.call_id)
        self.respond(make_response(cancel, 200))
        self.respond(make_response(invite, 487, to_tag=secrets.token_hex(4)))

    def ack(self, ack: Request) -> None:
        if ack.call_id in self.cancelled:
            self.acked.append(ack.call_id)

    def _release(self, call_id: str) -> None:
        held = self.pending.pop(call_id, None)
        if held is not None:
            self.released.add(call_id)
            self.answer(held[0])


def _same_transaction(invite: Request, cancel: Request) -> bool:
    return invite.cseq[0] == cancel.cseq[0] and invite.top_via.branch == cancel.top_via.branch
