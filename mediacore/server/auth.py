"""Bearer tokens and roles: who may do what.

Tokens come from the config (and MEDIACORE_ADMIN_TOKEN). With none configured, the server makes
an admin token at first start, keeps it in the data directory and prints it once."""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from mediacore.server.config import Config, TokenEntry

log = logging.getLogger(__name__)

ADMIN_TOKEN_FILE = "admin-token"

# What each role may do. Reviewers only read recordings; commanders start and stop them.
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(
        {
            "rooms:read",
            "rooms:write",
            "participants:write",
            "legs:create",
            "floor:talk",
            "recordings:read",
            "recordings:write",
            "recordings:admin",
        }
    ),
    "commander": frozenset(
        {
            "rooms:read",
            "rooms:write",
            "participants:write",
            "legs:create",
            "floor:talk",
            "recordings:write",
        }
    ),
    "operator": frozenset({"rooms:read", "participants:write", "legs:create", "floor:talk"}),
    "expert": frozenset({"rooms:read", "floor:talk"}),
    "reviewer": frozenset({"recordings:read"}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())


class TokenStore:
    def __init__(self, entries: list[TokenEntry]) -> None:
        self._entries = list(entries)

    def authenticate(self, token: str) -> Principal | None:
        """The principal a bearer token stands for, or None. Compares in constant time."""
        found = None
        for entry in self._entries:
            if hmac.compare_digest(entry.token.encode(), token.encode()):
                found = Principal(entry.name or entry.role, entry.role)
        return found

    def add(self, entry: TokenEntry) -> None:
        self._entries.append(entry)

    def __len__(self) -> int:
        return len(self._entries)


def build_token_store(config: Config, announce: bool = True) -> TokenStore:
    """Tokens from the config; an admin token made (or reloaded) in the data dir if none."""
    store = TokenStore(list(config.tokens))
    if len(store):
        return store
    path = config.data_dir / ADMIN_TOKEN_FILE
    token = path.read_text(encoding="utf-8").strip() if path.exists() else ""
    if not token:  # none yet, or an emptied file: an empty token must never be an admin
        token = secrets.token_urlsafe(24)
        path.unlink(missing_ok=True)
        _write_private(path, token)
        if announce:
            # Printed once, at creation: the only way an operator learns it without the file.
            print(f"mediacore: admin token (stored in {path}): {token}", flush=True)
    store.add(TokenEntry(token, "admin", "admin"))
    return store


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
