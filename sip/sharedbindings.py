"""Registrations shared between the servers of a cluster: a user registered on one server can
be called from every other.

The registrar of the server a REGISTER reached stays the authority (it checks the digest); it
tells the shared store what it accepted. Another server that dials the user finds the binding
there and sends its INVITE along the binding's Path (RFC 3327: through the proxy the REGISTER
came through, which knows the way to the phone), or, without a Path, to where the REGISTER came
from. The store itself (Redis, in a cluster) lives with the assembly; this module only says
what it must do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sip.address import Address, SipSyntaxError, SipUri
from sip.message import Request
from sip.registrar import Binding
from sip.transaction import Peer


@dataclass(frozen=True, slots=True)
class SharedBinding:
    """A user's binding as another server's registrar accepted it."""

    contact: str  # the Contact URI: the Request-URI of requests to the user
    path: tuple[str, ...]  # Path values: sent as Route, the first is where requests go
    source: Peer  # where the REGISTER came from: where requests go when there is no Path


class SharedBindings(Protocol):
    def registered(self, user: str, bindings: Sequence[Binding], now: float) -> None:
        """`user`'s bindings here after a REGISTER (none left: unregistered); `now` is the
        clock their expiries are measured on. Must not block: store in the background."""
        ...

    async def find(self, user: str) -> SharedBinding | None:
        """`user`'s newest live binding on any server, or None (also when the store cannot be
        reached: the caller answers "not registered")."""
        ...


def path_of(request: Request) -> tuple[str, ...]:
    """The Path values of a REGISTER, in order (several headers or one with commas)."""
    return tuple(request.headers.get_all("Path"))


def first_hop(path: Sequence[str]) -> SipUri:
    """The URI of the first Path entry, where requests along the path are sent.

    Raises SipSyntaxError for an empty path or an entry that is not a name-addr."""
    if not path:
        raise SipSyntaxError("empty Path")
    return Address.parse(path[0]).uri
