"""Who may log in with a user name and a password.

Two kinds of account: every `[[sip.users]]` account (its password is in the config, in clear,
since SIP digest needs it; compared in constant time), and those admins add over the API,
kept in `<data_dir>/accounts.json` (0600, replaced atomically) with scrypt hashes only
(passwords.py). A name belongs to one kind: the API cannot add, change or delete a
`[[sip.users]]` account (edit the config for those)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediacore.server.joinlinks import replace_private
from mediacore.server.passwords import decoy, same_secret, verify_password
from sip.settings import SipUser

ACCOUNTS_FILE = "accounts.json"
USER_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,64}")
CONFIG, API = "config", "api"  # where an account comes from
MAX_ACCOUNTS = 10_000


class AccountError(ValueError):
    """A change that cannot be made; `status` and `error` say how the API answers it."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error


@dataclass(frozen=True, slots=True)
class Account:
    user: str
    role: str
    name: str
    source: str  # CONFIG or API

    def to_json(self) -> dict[str, str]:
        return {"user": self.user, "role": self.role, "name": self.name, "source": self.source}


@dataclass(frozen=True, slots=True)
class _Stored:
    account: Account
    password: dict[str, Any]  # passwords.hash_password's record


class Accounts:
    def __init__(self, data_dir: Path, sip_users: Sequence[SipUser] = ()) -> None:
        """Raises ValueError when accounts.json exists but cannot be read as accounts."""
        self._path = data_dir / ACCOUNTS_FILE
        self._configured = {user.user: user for user in sip_users}
        self._stored = self._load()

    def get(self, user: str) -> Account | None:
        configured = self._configured.get(user)
        if configured is not None:
            return Account(user, configured.role, configured.name, CONFIG)
        stored = self._stored.get(user)
        return stored.account if stored is not None else None

    def all(self) -> list[Account]:
        names = sorted({*self._configured, *self._stored})
        return [account for account in map(self.get, names) if account is not None]

    def check(self, user: str, password: str) -> Account | None:
        """The account if `password` is its password, else None. Slow on purpose (scrypt) for
        every account the API added and for unknown names alike: call it off the event loop."""
        configured = self._configured.get(user)
        if configured is not None:
            match = same_secret(password, configured.password)
            return self.get(user) if match else None
        stored = self._stored.get(user)
        if stored is None:
            verify_password(password, decoy())  # as slow as a known name
            return None
        return stored.account if verify_password(password, stored.password) else None

    def put(self, account: Account, password: dict[str, Any] | None) -> bool:
        """Add or change an API account; `password` is a hash_password record, None keeps the
        current one (a new account needs one). Returns True if the account is new.

        Raises AccountError (409 for a config account, 422 without a password, 507 when full)."""
        self._writable(account.user)
        current = self._stored.get(account.user)
        if password is None and current is None:
            raise AccountError(422, "invalid-request", "a new account needs a password")
        if current is None and len(self._stored) >= MAX_ACCOUNTS:
            raise AccountError(507, "too-many-accounts", f"at most {MAX_ACCOUNTS} accounts")
        record = password if password is not None else current.password  # type: ignore[union-attr]
        stored = dict(self._stored)
        stored[account.user] = _Stored(
            Account(account.user, account.role, account.name, API), record
        )
        self._save(stored)
        return current is None

    def delete(self, user: str) -> None:
        """Remove an API account. Raises AccountError (404 unknown, 409 config account)."""
        self._writable(user)
        if user not in self._stored:
            raise AccountError(404, "account-not-found", f"no account named {user!r}")
        self._save({name: entry for name, entry in self._stored.items() if name != user})

    def _writable(self, user: str) -> None:
        if user in self._configured:
            raise AccountError(
                409, "configured-account", f"{user!r} is a [[sip.users]] account: edit the config"
            )

    def _save(self, stored: dict[str, _Stored]) -> None:
        entries = [
            {"user": e.account.user, "role": e.account.role, "name": e.account.name,
             "password": e.password}
            for e in stored.values()
        ]  # fmt: skip
        text = json.dumps({"version": 1, "accounts": entries}, indent=1) + "\n"
        replace_private(self._path, text)
        self._stored = stored  # only once it is on disk

    def _load(self) -> dict[str, _Stored]:
        if not self._path.exists():
            return {}
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            stored = {}
            for entry in data["accounts"]:
                user, role, name = entry["user"], entry["role"], entry.get("name", "")
                if not (isinstance(user, str) and USER_NAME.fullmatch(user)):
                    raise ValueError(f"bad user name {user!r}")
                if not isinstance(role, str) or not isinstance(name, str):
                    raise ValueError(f"bad role or name for {user!r}")
                if not isinstance(entry["password"], dict):
                    raise ValueError(f"bad password record for {user!r}")
                stored[user] = _Stored(Account(user, role, name, API), entry["password"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{self._path} cannot be read as accounts: {error}") from None
        return stored
