"""accounts.json: where a node alone keeps the accounts admins add (0600, replaced atomically,
scrypt hashes only)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from mediacore.server.accountrecords import StoredAccount
from mediacore.server.privatefiles import replace_private

ACCOUNTS_FILE = "accounts.json"


class AccountFile:
    """The accounts of one data directory, read once and rewritten whole at each change."""

    def __init__(self, data_dir: Path) -> None:
        """Raises ValueError when accounts.json exists but cannot be read as accounts."""
        self.path = data_dir / ACCOUNTS_FILE
        self._stored = read_accounts(self.path)

    def entries(self) -> Mapping[str, StoredAccount]:
        return self._stored

    def replace(self, stored: dict[str, StoredAccount], changed: str) -> None:
        """Keep `stored` (in which `changed` was added, changed or removed): on disk first."""
        entries = [entry.to_entry() for entry in stored.values()]
        text = json.dumps({"version": 1, "accounts": entries}, indent=1) + "\n"
        replace_private(self.path, text)
        self._stored = stored  # only once it is on disk

    async def refresh(self, user: str) -> None:
        """Nothing to do: no other process writes this file."""


def read_accounts(path: Path) -> dict[str, StoredAccount]:
    """The accounts of an accounts.json ({} when there is none); ValueError naming the file
    when it cannot be read as accounts."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        stored = {}
        for entry in data["accounts"]:
            record = StoredAccount.from_entry(entry)
            stored[record.account.user] = record
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path} cannot be read as accounts: {error}") from None
    return stored
