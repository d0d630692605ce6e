"""Registrar bindings (RFC 3261 §10.3): which contacts a user can be reached at, until when.

Pure data: the user agent checks credentials and answers; this keeps the bindings, applies
expiries, unregistration and the Call-ID/CSeq ordering rules."""

from __future__ import annotations

from dataclasses import dataclass

from sip.address import Address
from sip.transaction import Peer

MIN_EXPIRES = 60
MAX_EXPIRES = 7200
DEFAULT_EXPIRES = 3600
MAX_CONTACTS_PER_USER = 10


class RegistrationError(ValueError):
    def __init__(self, status: int, message: str, min_expires: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.min_expires = min_expires


@dataclass(slots=True)
class Binding:
    user: str
    contact: str  # the Contact URI as registered
    source: Peer  # where the REGISTER came from; requests go here (NAT)
    expires_at: float  # monotonic seconds
    registered_at: float  # wall clock, for the API
    call_id: str
    cseq: int
    user_agent: str
    # RFC 3327: the proxies the REGISTER came through (Path values, nearest us first); requests
    # to the user carry them as Route and go to the first one.
    path: tuple[str, ...] = ()

    def remaining(self, now: float) -> int:
        return max(0, round(self.expires_at - now))


class Registrar:
    def __init__(self) -> None:
        self._bindings: dict[str, list[Binding]] = {}

    def update(
        self,
        user: str,
        contacts: list[Address] | None,
        *,
        expires_header: str | None,
        source: Peer,
        call_id: str,
        cseq: int,
        user_agent: str,
        now: float,
        wall_now: float,
        path: tuple[str, ...] = (),
    ) -> list[Binding]:
        """Apply one REGISTER; `contacts` None means `Contact: *` (remove all, needs Expires 0);
        `path` is its Path header values (RFC 3327), kept with each contact it adds.

        Returns the user's bindings afterwards. Raises RegistrationError (400, 423)."""
        self.expire(now)
        current = self._bindings.get(user, [])
        default = _expires_value(expires_header, DEFAULT_EXPIRES)
        if contacts is None:
            if default != 0:
                raise RegistrationError(400, "Contact: * needs Expires: 0")
            self._bindings.pop(user, None)
            return []
        for contact in contacts:
            expires = _expires_value(contact.params.get("expires"), default)
            if 0 < expires < MIN_EXPIRES:
                raise RegistrationError(423, "registration interval too brief", MIN_EXPIRES)
        kept = list(current)
        for contact in contacts:
            uri = str(contact.uri)
            expires = min(_expires_value(contact.params.get("expires"), default), MAX_EXPIRES)
            existing = next((b for b in kept if b.contact == uri), None)
            if existing is not None:
                if existing.call_id == call_id and cseq <= existing.cseq:
                    continue  # §10.3 step 7: an out-of-order REGISTER changes nothing
                kept.remove(existing)
            if expires > 0:
                kept.append(
                    Binding(
                        user, uri, source, now + expires, wall_now, call_id, cseq, user_agent, path
                    )
                )
        if len(kept) > MAX_CONTACTS_PER_USER:
            kept = kept[-MAX_CONTACTS_PER_USER:]  # the newest win; a phone re-registering stays
        if kept:
            self._bindings[user] = kept
        else:
            self._bindings.pop(user, None)
        return kept

    def lookup(self, user: str, now: float) -> list[Binding]:
        return [b for b in self._bindings.get(user, []) if b.expires_at > now]

    def expire(self, now: float) -> None:
        for user in list(self._bindings):
            alive = [b for b in self._bindings[user] if b.expires_at > now]
            if alive:
                self._bindings[user] = alive
            else:
                del self._bindings[user]

    def registered_from(self, source: Peer, now: float) -> bool:
        """Whether a live binding was registered from `source` (its flow is in use)."""
        return any(
            binding.source == source and binding.expires_at > now
            for bindings in self._bindings.values()
            for binding in bindings
        )

    def all(self, now: float) -> list[Binding]:
        self.expire(now)
        return [binding for bindings in self._bindings.values() for binding in bindings]


def _expires_value(text: str | None, default: int) -> int:
    if text is None:
        return default
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:  # isdigit() accepts '²'
        raise RegistrationError(400, f"bad expires value {text[:20]!r}")
    return int(text)
