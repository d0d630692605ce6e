"""Where a node alone keeps what join links need: the signing secret and the revoked ids, as
files in its data directory (both 0600)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from mediacore.server.privatefiles import replace_private, write_private

SECRET_FILE = "join-link-secret"
REVOKED_FILE = "join-links-revoked"
LINK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class LinkFiles:
    """The secret is made at the first mint, so a server that never mints writes nothing;
    revoked ids are read once and the file rewritten at each revocation."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._key: bytes | None = None
        self._revoked: dict[str, int] | None = None  # id -> when its last link must expire

    def secret(self, create: bool) -> bytes | None:
        if self._key is None:
            path = self._data_dir / SECRET_FILE
            if not path.exists():
                if not create:
                    return None
                try:
                    write_private(path, secrets.token_hex(32) + "\n")
                except FileExistsError:  # another process made it first: use theirs
                    pass
            text = path.read_text(encoding="utf-8").strip()
            if len(text) < 32:  # an emptied or truncated file must not become a guessable key
                raise RuntimeError(f"{path} holds no usable join-link secret; delete it")
            self._key = text.encode()
        return self._key

    def revocations(self, now: int) -> dict[str, int]:
        if self._revoked is None:
            self._revoked = read_revoked(self._data_dir / REVOKED_FILE)
        for key in [key for key, until in self._revoked.items() if until <= now]:
            del self._revoked[key]
        return self._revoked

    def revoke(self, link_id: str, until: int, now: int) -> None:
        revoked = self.revocations(now)
        revoked[link_id] = until
        text = "".join(f"{key} {until}\n" for key, until in sorted(revoked.items()))
        replace_private(self._data_dir / REVOKED_FILE, text)


def read_revoked(path: Path) -> dict[str, int]:
    """The revoked ids a file lists (`<id> <until>` lines; others skipped); {} without one."""
    revoked = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    for line in lines:
        key, _, until = line.partition(" ")
        if LINK_ID.fullmatch(key) and until.isdigit():
            revoked[key] = int(until)
    return revoked
