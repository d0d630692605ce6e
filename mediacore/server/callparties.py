"""The parties of a one-to-one call (单呼), from what a request names, and their states.

A party is written as the API takes it: a `sip:` URI, a number (a registered user of that name,
else a number dialled through the first trunk), a SIP user name, `radio:<gateway>` (a configured
radio gateway) or a participant id already in a room. `parse_party` says which, without I/O."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

PartyKind = Literal["sip", "radio", "participant", "barge"]
# dialling → ringing → answered, or failed; any → left. Moved-in parties start answered.
PartyState = Literal["dialling", "ringing", "answered", "failed", "left"]

_NUMBER = re.compile(r"[0-9+*#]{1,32}")
_PARTICIPANT = re.compile(r"p-[0-9a-f]{1,32}")
_USER = re.compile(r"[A-Za-z0-9._-]{1,64}")
MAX_PARTY = 256


class PartyError(Exception):
    """A party that cannot be called; `status` and `code` are the HTTP answer's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class Target:
    """Where a party is reached: a URI to dial (with a trunk), a gateway, or a participant."""

    kind: PartyKind
    value: str  # the URI, the gateway's name or the participant id
    trunk: str | None = None


def parse_party(
    text: str, users: Collection[str], trunks: list[tuple[str, str]], host: str
) -> Target:
    """The target of party `text`. `users` are the SIP accounts, `trunks` (name, host domain)
    pairs in config order, `host` the domain of our own users' URIs. Raises PartyError (400
    bad-party; 404 unknown-party for a number with neither an account nor a trunk)."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_PARTY:
        raise PartyError(400, "bad-party", f"a party is 1-{MAX_PARTY} characters")
    lower = text.lower()
    if lower.startswith("radio:"):
        gateway = text[len("radio:") :]
        if not _USER.fullmatch(gateway):
            raise PartyError(400, "bad-party", f"{text!r} names no radio gateway")
        return Target("radio", gateway)
    if lower.startswith(("sip:", "sips:")):
        return Target("sip", text)
    if _PARTICIPANT.fullmatch(text):
        return Target("participant", text)
    if text in users:
        return Target("sip", f"sip:{text}@{host}")
    if _NUMBER.fullmatch(text):
        if not trunks:
            raise PartyError(404, "unknown-party", f"no SIP account and no trunk for {text!r}")
        name, domain = trunks[0]
        return Target("sip", f"sip:{text}@{domain}", trunk=name)
    raise PartyError(
        400,
        "bad-party",
        f"{text!r} is no sip: URI, number, SIP user, radio:<gateway> or participant id",
    )


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
