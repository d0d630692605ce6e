"""Join links: short-lived signed tokens that let one remote expert into one room.

A link token is `jl1.<payload>.<signature>`: the payload is base64url JSON
`{"room", "name", "role", "exp", "id"}`, the signature base64url HMAC-SHA256 of `jl1.<payload>`
under a secret kept in the data directory (in a cluster, in its Redis). Nothing is stored per
link, so a link lives until it expires, unless its id is revoked; revoked ids are remembered (in
memory and in a file, or the cluster's Redis) only as long as a link with that id could still be
valid."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mediacore.server.joinlinkfiles import LINK_ID, REVOKED_FILE, SECRET_FILE, LinkFiles
from mediacore.server.privatefiles import replace_private, write_private

__all__ = [
    "LINK_ID",
    "LINK_ROLES",
    "MAX_MINUTES",
    "PREFIX",
    "REVOKED_FILE",
    "SECRET_FILE",
    "JoinLink",
    "JoinLinks",
    "LinkBackend",
    "replace_private",
    "write_private",
]

PREFIX = "jl1."
MAX_MINUTES = 24 * 60
LINK_ROLES = ("expert", "operator")
_MAX_TOKEN = 4096  # far above any real link; refuses to hash megabytes sent as a token


@dataclass(frozen=True, slots=True)
class JoinLink:
    id: str
    room: str
    name: str
    role: str
    expires: int  # Unix seconds: a wall-clock time, so links survive a restart
    token: str


class LinkBackend(Protocol):
    """Where the links' secret and revocations are kept: files in the data directory
    (joinlinkfiles.py) on a node alone, the cluster's Redis (sharedjoinlinks.py) in a cluster.
    Answered from memory, without I/O (links are checked on every request's path)."""

    def secret(self, create: bool) -> bytes | None:
        """The signing key; None when there is none yet and `create` is false. Raises
        RuntimeError when there is no usable one."""
        ...

    def revocations(self, now: int) -> dict[str, int]:
        """Revoked link ids and until when they are refused, those past `now` dropped."""
        ...

    def revoke(self, link_id: str, until: int, now: int) -> None:
        """Refuse `link_id` until `until` (Unix seconds)."""
        ...


class JoinLinks:
    """Mints and checks join links for one data directory (or one cluster: `backend`).

    The secret is made (0600) at the first mint, so a server that never mints writes nothing."""

    def __init__(self, data_dir: Path, backend: LinkBackend | None = None) -> None:
        self._backend = backend if backend is not None else LinkFiles(data_dir)

    def mint(
        self,
        room: str,
        name: str,
        role: str = "expert",
        minutes: int = 60,
        now: float | None = None,
    ) -> JoinLink:
        """A new link to `room` for `name`, valid `minutes` (1..MAX_MINUTES) from `now`.

        Raises ValueError for a role outside LINK_ROLES or minutes out of range."""
        if role not in LINK_ROLES:
            raise ValueError(f"a join link's role is one of {', '.join(LINK_ROLES)}")
        if not 1 <= minutes <= MAX_MINUTES:
            raise ValueError(f"a join link lasts 1 to {MAX_MINUTES} minutes")
        moment = time.time() if now is None else now
        link_id = secrets.token_urlsafe(9)
        expires = int(moment) + minutes * 60
        claims = {"room": room, "name": name, "role": role, "exp": expires, "id": link_id}
        payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
        signed = PREFIX + payload
        token = f"{signed}.{_b64encode(self._sign(signed, create=True))}"
        return JoinLink(link_id, room, name, role, expires, token)

    def verify(self, token: str, now: float | None = None) -> JoinLink | None:
        """The link `token` stands for, or None if it is malformed, forged, expired or revoked.
        The signature is compared in constant time, before the payload is even decoded."""
        if not token.startswith(PREFIX) or len(token) > _MAX_TOKEN or token.count(".") != 2:
            return None
        signed, _, signature = token.rpartition(".")
        expected = self._sign(signed, create=False)
        if not expected:  # no secret yet: nothing was ever minted here
            return None
        if not hmac.compare_digest(_b64encode(expected).encode(), signature.encode()):
            return None
        link = _decode(signed[len(PREFIX) :], token)
        if link is None or link.expires <= (time.time() if now is None else now):
            return None
        return None if self.revoked(link.id, now) else link

    def revoke(self, link_id: str, now: float | None = None) -> None:
        """Refuse every link with this id from now on (until it could have expired anyway).
        Unknown ids are accepted: links are not stored, so any id may be out there."""
        moment = int(time.time() if now is None else now)
        self._backend.revoke(link_id, moment + MAX_MINUTES * 60, moment)

    def revoked(self, link_id: str, now: float | None = None) -> bool:
        moment = int(time.time() if now is None else now)
        return self._backend.revocations(moment).get(link_id, 0) > moment

    def _sign(self, signed: str, *, create: bool) -> bytes:
        """The signature of `signed`, or b"" when there is no secret yet and none is wanted."""
        key = self._backend.secret(create)
        if key is None:
            return b""
        return hmac.new(key, signed.encode(), hashlib.sha256).digest()


def _decode(payload: str, token: str) -> JoinLink | None:
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):  # json and UnicodeDecodeError are ValueErrors
        return None
    if not isinstance(claims, dict):
        return None
    room, name, role = claims.get("room"), claims.get("name"), claims.get("role")
    expires, link_id = claims.get("exp"), claims.get("id")
    if not (isinstance(room, str) and isinstance(name, str) and role in LINK_ROLES):
        return None
    if type(expires) is not int or not isinstance(link_id, str):
        return None
    return JoinLink(link_id, room, name, str(role), expires, token)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
