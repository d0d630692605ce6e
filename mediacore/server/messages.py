"""Texts (短信), as the consoles see them: SIP MESSAGE from phones and to them (sip/pager.py),
evented and kept (messagehistory.py).

Events:
- `message.received` {"id", "from", "from_name", "user", "to", "target", "text"}: a phone
  texted a room (`target` "room": an event of that room, so its recordings' timeline has it),
  the consoles ("console", no room) or another account ("user": relayed; statuses follow);
- `message.sent` {"id", "to", "text", "by", "recipients"}: a console texted a party (an event
  of the room when it texted a room's phones);
- `message.status` {"id", "to", "status": "sent"|"delivered"|"failed", "code", "reason"}: one
  recipient's delivery, in the room of a text to a room.
In worker mode a room's recording runs in a media worker, which does not hear the control
process's bus: `timeline` hands it the events of rooms."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mediacore.events import Event, EventBus
from mediacore.server.messagehistory import MessageHistory, MessageRecord
from sip.pager import Pager, PartyError, Sender, Text
from sip.textmessage import check_text

FINAL = frozenset({"delivered", "failed"})


@dataclass(slots=True)
class _Open:
    """A text whose recipients are not all final yet: its room, and how many are left."""

    room: str | None
    left: int


class Messages:
    def __init__(
        self,
        history: MessageHistory,
        bus: EventBus,
        timeline: Callable[[Event], None] | None = None,
    ) -> None:
        self.history = history
        self.bus = bus
        self.timeline = timeline
        self.pager: Pager | None = None  # set once SIP is up (SipService.texts)
        self._open: dict[str, _Open] = {}

    def send(self, party: str, text: str, by: str) -> dict[str, Any]:
        """Text `party` (a SIP URI, an account, a number, or a room's phones) from the
        consoles on behalf of `by`: {"id", "status": "sending", "to", "room", "recipients"}.
        Raises sip.textmessage.TextRefused (400, 413) and sip.pager.PartyError."""
        pager = self._pager()
        text = check_text(text, pager.max_chars)
        room, recipients = pager.recipients(party)
        message_id = new_id()
        at = time.time()
        for recipient in recipients:
            self.history.add(
                MessageRecord(message_id, "out", "room" if room else "party", pager.console, by,
                              recipient.address, room, text, "sending", at, by=by)
            )  # fmt: skip
        self._open[message_id] = _Open(room, len(recipients))
        addresses = [recipient.address for recipient in recipients]
        self._publish(
            "message.sent", room, id=message_id, to=party, text=text, by=by, recipients=addresses
        )
        pager.send(message_id, recipients, text, Sender(pager.console, by))
        return {
            "id": message_id,
            "status": "sending",
            "to": party,
            "room": room,
            "recipients": addresses,
        }

    # -- the pager's sink -----------------------------------------------------------------

    def received(self, text: Text) -> str:
        message_id = new_id()
        self.history.add(
            MessageRecord(message_id, "in", text.kind, text.sender, text.sender_name, text.to,
                          text.room, text.text, "received", time.time(), by=text.user)
        )  # fmt: skip
        if text.kind == "user":  # relayed: its delivery statuses follow
            self._open[message_id] = _Open(None, 1)
        self._publish(
            "message.received",
            text.room,
            id=message_id,
            target=text.kind,
            text=text.text,
            to=text.to,
            user=text.user,
            from_name=text.sender_name,
            **{"from": text.sender},
        )
        return message_id

    def status(self, message_id: str, to: str, status: str, code: int | None, reason: str) -> None:
        self.history.update(message_id, to, status, code, reason)
        known = self._open.get(message_id)
        room = known.room if known is not None else None
        if known is not None and status in FINAL:
            known.left -= 1
            if known.left <= 0:
                del self._open[message_id]
        self._publish(
            "message.status", room, id=message_id, to=to, status=status, code=code, reason=reason
        )

    # -- reading --------------------------------------------------------------------------

    async def search(
        self, party: str | None, room: str | None, since: float | None, limit: int
    ) -> list[dict[str, Any]]:
        return await self.history.search(party=party, room=room, since=since, limit=limit)

    def _publish(self, event_type: str, room: str | None, **data: Any) -> None:
        event = self.bus.publish(event_type, room, **data)
        if room is not None and self.timeline is not None:
            self.timeline(event)

    def _pager(self) -> Pager:
        if self.pager is None:
            raise PartyError(503, "sip-unavailable", "SIP is not running")
        return self.pager


def new_id() -> str:
    return "msg-" + secrets.token_hex(6)
