"""Bearer tokens and roles: who may do what.

Tokens come from the config (and MEDIACORE_ADMIN_TOKEN), each at least 16 characters. With none
configured, the server makes an admin token at first start and keeps it in the data directory
(0600), printing only the file's path. Join links
(joinlinks.py) are tokens too: signed, short-lived, and good for one room only; and so are
login sessions (sessions.py): short-lived, with the role of the account that logged in."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field

from mediacore.server.config import Config, TokenEntry
from mediacore.server.joinlinks import PREFIX as LINK_PREFIX
from mediacore.server.joinlinks import JoinLinks, write_private
from mediacore.server.sessions import PREFIX as SESSION_PREFIX
from mediacore.server.sessions import Session, SessionStore

log = logging.getLogger(__name__)

ADMIN_TOKEN_FILE = "admin-token"
LINK_IDENTITY = "link-"  # a join link principal's identity: this and the link's id
ACCOUNT_IDENTITY = "account-"  # a login session's: this and the account's user name

# Seeing secrets (camera credentials, stream keys, URL tokens, the network's own errors).
SECRETS = "secrets:read"

# What each role may do. Reviewers only read recordings; commanders start and stop them.
# rooms:join is taking part as a participant (WebRTC, WHIP, WHEP); legs:create adds phones,
# gateways and dial-outs on someone else's behalf; sip:read shows registrations and calls.
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(
        {
            "rooms:read",
            "rooms:write",
            "rooms:join",
            "participants:write",
            "rooms:monitor",  # hear and talk into other rooms than one's own, whisper
            "rooms:broadcast",  # talk into many rooms at emergency priority
            "legs:create",
            "floor:talk",
            "sip:read",
            "join-links:write",
            "recordings:read",
            "recordings:write",
            "recordings:admin",
            "walls:write",
            "workers:read",
            "metrics:read",
            "retention:write",
            "audit:read",  # the audit log of control actions
            "accounts:write",  # accounts that log in with a password
            "groups:write",  # plans: the groups a dial calls at once
            "messages:send",  # texts (SIP MESSAGE) to phones
            "messages:read",
            "cameras:control",  # steer GB/T 28181 cameras: PTZ and presets
            "cluster:write",  # drain a node of a cluster
            SECRETS,
        }
    ),
    "commander": frozenset(
        {
            "rooms:read",
            "rooms:write",
            "rooms:join",
            "participants:write",
            "rooms:monitor",
            "rooms:broadcast",
            "legs:create",
            "floor:talk",
            "sip:read",
            "join-links:write",
            "recordings:write",
            "walls:write",
            "groups:write",
            "messages:send",
            "messages:read",
            "cameras:control",
        }
    ),
    "operator": frozenset(
        {
            "rooms:read",
            "rooms:join",
            "participants:write",
            "rooms:monitor",
            "rooms:broadcast",
            "legs:create",
            "floor:talk",
            "sip:read",
            "messages:send",
            "messages:read",
            "cameras:control",
        }
    ),
    "expert": frozenset({"rooms:read", "rooms:join", "floor:talk"}),
    "reviewer": frozenset({"recordings:read"}),
    # [server] metrics_token: a Prometheus scraper reads /metrics and nothing else
    "metrics": frozenset({"metrics:read"}),
}
# The highest floor priority (0 normal .. 3 emergency) a role may ask for in a request.
FLOOR_PRIORITY = {"admin": 3, "commander": 3, "operator": 2, "expert": 1}


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str
    room: str | None = None  # set for a join link: the one room it may see and act in
    # Which credential this is, unique where names are not (two tokens may share a name):
    # what owns the participants it creates.
    identity: str = field(default="", compare=False)
    expires: int | None = field(default=None, compare=False)  # a join link's end, Unix seconds

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    @property
    def link_id(self) -> str | None:
        """The id of the join link this principal stands for, None for other tokens."""
        if self.room is None or not self.identity.startswith(LINK_IDENTITY):
            return None
        return self.identity[len(LINK_IDENTITY) :]

    @property
    def floor_priority(self) -> int:
        """The highest priority this principal may ask the floor with."""
        return FLOOR_PRIORITY.get(self.role, 0)


def session_principal(session: Session) -> Principal:
    """The principal a login session stands for: its account, with the account's role."""
    identity = ACCOUNT_IDENTITY + session.user
    return Principal(session.user, session.role, identity=identity, expires=int(session.expires))


class TokenStore:
    def __init__(
        self,
        entries: list[TokenEntry],
        links: JoinLinks | None = None,
        sessions: SessionStore | None = None,
    ) -> None:
        self._entries = list(entries)
        self.links = links  # None: join links are neither minted nor accepted
        self.sessions = sessions  # None: nobody logs in with a password

    def authenticate(self, token: str) -> Principal | None:
        """The principal a bearer token stands for, or None. Compares in constant time; a
        join link that is valid (signed, unexpired, unrevoked) stands for a principal bound
        to its room; a live login session for its account's user and role."""
        found = None
        for entry in self._entries:
            if hmac.compare_digest(entry.token.encode(), token.encode()):
                identity = "token-" + hashlib.sha256(entry.token.encode()).hexdigest()[:16]
                found = Principal(entry.name or entry.role, entry.role, identity=identity)
        if found is None and self.links is not None and token.startswith(LINK_PREFIX):
            link = self.links.verify(token)
            if link is not None:
                found = Principal(
                    link.name,
                    link.role,
                    room=link.room,
                    identity=LINK_IDENTITY + link.id,
                    expires=link.expires,
                )
        if found is None and self.sessions is not None and token.startswith(SESSION_PREFIX):
            session = self.sessions.verify(token)
            if session is not None:
                found = session_principal(session)
        return found

    async def fetch(self, token: str) -> None:
        """Learn what `token` stands for if it was made on another node of a cluster (a login
        session), so that authenticate() knows it; nothing to do on a node alone."""
        if self.sessions is not None:
            await self.sessions.fetch(token)

    def add(self, entry: TokenEntry) -> None:
        self._entries.append(entry)

    def replace(self, token: str, entry: TokenEntry) -> None:
        """Let `entry` take the place of the token `token` (a cluster's admin token adopted)."""
        self._entries = [entry if old.token == token else old for old in self._entries]

    def __contains__(self, token: object) -> bool:
        return any(entry.token == token for entry in self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def build_token_store(config: Config, announce: bool = True) -> TokenStore:
    """Tokens from the config (and the metrics token); an admin token made (or reloaded) in
    the data dir if the config names none."""
    sessions = SessionStore(config.auth.session_minutes)
    store = TokenStore(list(config.tokens), JoinLinks(config.data_dir), sessions)
    if not len(store):
        store.add(TokenEntry(_stored_admin_token(config, announce), "admin", "admin"))
    if config.server.metrics_token:
        store.add(TokenEntry(config.server.metrics_token, "metrics", "metrics"))
    return store


def _stored_admin_token(config: Config, announce: bool) -> str:
    path = config.data_dir / ADMIN_TOKEN_FILE
    token = path.read_text(encoding="utf-8").strip() if path.exists() else ""
    if not token:  # none yet, or an emptied file: an empty token must never be an admin
        token = secrets.token_urlsafe(24)
        path.unlink(missing_ok=True)
        write_private(path, token + "\n")
        if announce:
            # The token itself never goes to stdout (which often ends up in a journal or a
            # container log): only where to read it, once, at creation.
            print(f"mediacore: an admin token was made; read it in {path} (mode 0600)", flush=True)
    return token
