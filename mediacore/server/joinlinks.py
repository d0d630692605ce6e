"""Join links: short-lived signed tokens that let one remote expert into one room.

A link token is `jl1.<payload>.<signature>`: the payload is base64url JSON
`{"room", "name", "role", "exp", "id"}`, the signature base64url HMAC-SHA256 of `jl1.<payload>`
under a secret kept in the data directory. Nothing is stored per link, so a link lives until
it expires, unless its id is revoked; revoked ids are remembered (in memory and in a file) only
as long as a link with that id could still be valid."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "jl1."
SECRET_FILE = "join-link-secret"
REVOKED_FILE = "join-links-revoked"
MAX_MINUTES = 24 * 60
LINK_ROLES = ("expert", "operator")
LINK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_TOKEN = 4096  # far above any real link; refuses to hash megabytes sent as a token


@dataclass(frozen=True, slots=True)
class JoinLink:
    id: str
    room: str
    name: str
    role: str
    expires: int  # Unix seconds: a wall-clock time, so links survive a restart
    token: str


class JoinLinks:
    """Mints and checks join links for one data directory.

    The secret is made (0600) at the first mint, so a server that never mints writes nothing."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._key: bytes | None = None
        self._revoked: dict[str, int] | None = None  # id -> when its last link must expire

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
        revoked = self._load_revoked(moment)
        revoked[link_id] = moment + MAX_MINUTES * 60
        text = "".join(f"{key} {until}\n" for key, until in sorted(revoked.items()))
        replace_private(self._data_dir / REVOKED_FILE, text)

    def revoked(self, link_id: str, now: float | None = None) -> bool:
        moment = int(time.time() if now is None else now)
        return self._load_revoked(moment).get(link_id, 0) > moment

    def _load_revoked(self, now: int) -> dict[str, int]:
        if self._revoked is None:
            self._revoked = {}
            path = self._data_dir / REVOKED_FILE
            lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
            for line in lines:
                key, _, until = line.partition(" ")
                if LINK_ID.fullmatch(key) and until.isdigit():
                    self._revoked[key] = int(until)
        for key in [key for key, until in self._revoked.items() if until <= now]:
            del self._revoked[key]
        return self._revoked

    def _sign(self, signed: str, *, create: bool) -> bytes:
        """The signature of `signed`, or b"" when there is no secret yet and none is wanted."""
        if self._key is None:
            path = self._data_dir / SECRET_FILE
            if not path.exists():
                if not create:
                    return b""
                try:
                    write_private(path, secrets.token_hex(32) + "\n")
                except FileExistsError:  # another process made it first: use theirs
                    pass
            text = path.read_text(encoding="utf-8").strip()
            if len(text) < 32:  # an emptied or truncated file must not become a guessable key
                raise RuntimeError(f"{path} holds no usable join-link secret; delete it")
            self._key = text.encode()
        return hmac.new(self._key, signed.encode(), hashlib.sha256).digest()


def write_private(path: Path, text: str) -> None:
    """Create `path` (and its folder) readable by its owner only, holding `text`.
    Raises FileExistsError if it exists: a secret is never silently replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def replace_private(path: Path, text: str) -> None:
    """Write `text` to `path` (0600, its folder made if needed) by way of a spare file: a
    crash leaves the old content or the new, never half of one."""
    spare = path.with_suffix(".tmp")
    spare.unlink(missing_ok=True)
    write_private(spare, text)
    os.replace(spare, path)


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
