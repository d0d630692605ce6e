"""The parties of a one-to-one call (单呼), from what a request names, and their states.

A party is written as the API takes it: a participant id already in a room, or whatever the
server's party book (mediacore/server/parties.py) dials: a `sip:` URI, a SIP user name, a
number (through the first trunk) or `radio:<gateway>`. `call_target` says which, without I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from mediacore.server.parties import PartyBook, PartyError

PartyKind = Literal["sip", "radio", "participant", "barge"]
# dialling → ringing → answered, or failed; any → left. Moved-in parties start answered.
PartyState = Literal["dialling", "ringing", "answered", "failed", "left"]

PARTICIPANT = re.compile(r"p-[0-9a-f]{1,32}")


class CallRefused(Exception):
    """A call request that cannot be carried out; `status` and `code` are the HTTP answer's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class Target:
    """Where a party is reached: a URI to dial (through a trunk, maybe), a radio gateway, or
    a participant already in a room."""

    kind: PartyKind
    value: str  # the URI, the gateway's name or the participant id
    trunk: str | None = None
    name: str = ""  # a dialled party's roster name


def call_target(text: str, book: PartyBook) -> Target:
    """The target of party `text`. Raises CallRefused: 400 bad-party, 404 with the party
    book's code (unknown-user, unknown-gateway, no-trunk)."""
    if PARTICIPANT.fullmatch(text):
        return Target("participant", text)
    try:
        dial = book.target(text)
    except PartyError as error:
        status = 400 if error.code == "bad-party" else 404
        raise CallRefused(status, error.code, str(error)) from None
    if dial.gateway is not None:
        return Target("radio", dial.gateway.name)
    return Target("sip", dial.uri, dial.trunk, dial.name)


@dataclass(slots=True)
class Party:
    """One party of a call, as `GET /calls/{id}` shows it."""

    spec: str  # as the request wrote it
    kind: PartyKind
    participant: str | None = None
    state: PartyState = "dialling"
    home: str | None = None  # the room it was moved from, where it goes back at the end
    reason: str | None = None
    priority: int | None = None  # a barger's own, given back with its room

    @property
    def over(self) -> bool:
        return self.state in ("failed", "left")

    def to_json(self) -> dict[str, Any]:
        return {
            "party": self.spec,
            "kind": self.kind,
            "participant": self.participant,
            "state": self.state,
            "from": self.home,
            "reason": self.reason,
        }
