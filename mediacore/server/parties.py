"""Who a dispatcher can call, written as one string (a "party"), and how the dialer reaches it.

- `sip:user@host` (or `sips:`, `tel:`): that URI (the dialer routes it: trunk domain,
  registered user, or straight to the host);
- a `[[sip.users]]` name (`bob`): that user's newest registration;
- a number (`+8613800000000`, `110`): through the first `[[sip.trunks]]` entry;
- `radio:<gateway>`: a `[[radio.gateways]]` entry, called as an ED-137 radio leg.

A name that is both a user and a number (`1001`) is the user."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from radio.gateways import RadioGateway
from sip.address import SipSyntaxError, SipUri
from sip.settings import SipSettings, SipTrunk

MAX_PARTY = 256
NUMBER = re.compile(r"\+?[0-9*]{1,32}")
USER = re.compile(r"[A-Za-z0-9_.+-]{1,64}")
RADIO = "radio:"


class PartyError(ValueError):
    """A party that is not well formed or names nothing configured; `code` is for the API."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True, slots=True)
class DialTarget:
    party: str  # as written
    kind: str  # "uri", "user", "number" or "radio"
    uri: str  # what the dialer calls
    name: str  # the participant's name in the roster
    trunk: str | None = None  # the [[sip.trunks]] entry a number goes through
    gateway: RadioGateway | None = None
    # Who this is, to find it among the room's calls: a user or number, or user@host.
    keys: frozenset[str] = frozenset()


def call_identities(user: str | None, remote_uri: str) -> frozenset[str]:
    """The keys a SIP call in a room answers to: its account, its remote URI's user, and
    user@host (host alone without a user), lower-cased."""
    keys = {user.lower()} if user else set()
    try:
        uri = SipUri.parse(remote_uri)
    except SipSyntaxError:
        return frozenset(keys)
    if uri.user:
        keys |= {uri.user.lower(), f"{uri.user}@{uri.host}".lower()}
    else:
        keys.add(uri.host.lower())
    return frozenset(keys)


def _uri_identity(uri: SipUri) -> frozenset[str]:
    if uri.user and uri.host:
        return frozenset({f"{uri.user}@{uri.host}".lower()})
    return frozenset({(uri.user or uri.host).lower()})


class PartyBook:
    def __init__(
        self,
        users: Iterable[str],
        trunks: Iterable[SipTrunk],
        gateways: Iterable[RadioGateway],
        domain: str,
    ) -> None:
        """`domain`: the host part of the URI a registered user is called at."""
        self.users = frozenset(users)
        self.trunks = tuple(trunks)
        self.gateways = {gateway.name: gateway for gateway in gateways}
        self.domain = domain

    @classmethod
    def of(cls, sip: SipSettings, gateways: Iterable[RadioGateway]) -> PartyBook:
        """The parties of a configuration: its SIP users (called at the realm), its trunks
        and its radio gateways."""
        return cls((user.user for user in sip.users), sip.trunks, gateways, sip.realm)

    def target(self, party: str) -> DialTarget:
        """How to call `party`; raises PartyError (bad-party, unknown-user, unknown-gateway,
        no-trunk)."""
        if not isinstance(party, str) or not 0 < len(party) <= MAX_PARTY:
            raise PartyError("bad-party", f"a party is a string of 1-{MAX_PARTY} characters")
        text = party.strip()
        lowered = text.lower()
        if lowered.startswith(RADIO):
            return self._radio(party, text[len(RADIO) :])
        if lowered.startswith(("sip:", "sips:", "tel:")):
            try:
                uri = SipUri.parse(text)
            except SipSyntaxError as error:
                raise PartyError("bad-party", f"{party!r}: {error}") from None
            name = uri.user or uri.host
            return DialTarget(party, "uri", str(uri), name, keys=_uri_identity(uri))
        if text in self.users:
            uri_text = f"sip:{text}@{self.domain}"
            return DialTarget(party, "user", uri_text, text, keys=frozenset({text.lower()}))
        if NUMBER.fullmatch(text):
            if not self.trunks:
                raise PartyError("no-trunk", f"{party!r} is a number: configure a [[sip.trunks]]")
            trunk = self.trunks[0]
            uri_text = f"sip:{text}@{trunk.host_domain}"
            return DialTarget(party, "number", uri_text, text, trunk.name, keys=frozenset({text}))
        if USER.fullmatch(text):
            raise PartyError("unknown-user", f"no [[sip.users]] account named {text!r}")
        raise PartyError(
            "bad-party",
            f"{party!r} is none of: a sip: URI, a user name, a number, radio:<gateway>",
        )

    def _radio(self, party: str, name: str) -> DialTarget:
        gateway = self.gateways.get(name)
        if gateway is None:
            raise PartyError("unknown-gateway", f"no [[radio.gateways]] entry named {name!r}")
        keys = _uri_identity(SipUri.parse(gateway.uri))  # checked when the config was read
        return DialTarget(party, "radio", gateway.uri, gateway.name, gateway=gateway, keys=keys)
