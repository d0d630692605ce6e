"""Who may log in with a user name and a password.

Two kinds of account: every `[[sip.users]]` account (its password is in the config, in clear,
since SIP digest needs it; compared in constant time), and those admins add over the API,
kept in `<data_dir>/accounts.json` (0600, replaced atomically; in a cluster, in its Redis) with
scrypt hashes only (passwords.py). A name belongs to one kind: the API cannot add, change or
delete a `[[sip.users]]` account (edit the config for those)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from mediacore.server.accountfile import ACCOUNTS_FILE, AccountFile
from mediacore.server.accountrecords import API, CONFIG, USER_NAME, Account, StoredAccount
from mediacore.server.passwords import decoy, same_secret, verify_password
from sip.settings import SipUser

__all__ = ["ACCOUNTS_FILE", "API", "CONFIG", "USER_NAME", "Account", "AccountError", "Accounts"]

MAX_ACCOUNTS = 10_000


class AccountError(ValueError):
    """A change that cannot be made; `status` and `error` say how the API answers it."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error


class AccountBackend(Protocol):
    """Where the API's accounts are kept: accounts.json (accountfile.py) on a node alone, the
    cluster's Redis (sharedaccounts.py) in a cluster."""

    def entries(self) -> Mapping[str, StoredAccount]:
        """Every account, as this node knows them now (no I/O: called off the event loop)."""
        ...

    def replace(self, stored: dict[str, StoredAccount], changed: str) -> None:
        """Keep `stored`, in which the account `changed` was added, changed or removed."""
        ...

    async def refresh(self, user: str) -> None:
        """Learn `user`'s account afresh where others may have changed it."""
        ...


class Accounts:
    def __init__(
        self,
        data_dir: Path,
        sip_users: Sequence[SipUser] = (),
        backend: AccountBackend | None = None,
    ) -> None:
        """`backend`: where the API's accounts are kept (default: accounts.json in `data_dir`).
        Raises ValueError when accounts.json exists but cannot be read as accounts."""
        self._configured = {user.user: user for user in sip_users}
        self._backend = backend if backend is not None else AccountFile(data_dir)

    @property
    def _stored(self) -> Mapping[str, StoredAccount]:
        return self._backend.entries()

    async def refresh(self, user: str) -> None:
        """Learn `user`'s account afresh (another node may have added or changed it)."""
        await self._backend.refresh(user)

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
        stored[account.user] = StoredAccount(
            Account(account.user, account.role, account.name, API), record
        )
        self._backend.replace(stored, account.user)
        return current is None

    def delete(self, user: str) -> None:
        """Remove an API account. Raises AccountError (404 unknown, 409 config account)."""
        self._writable(user)
        if user not in self._stored:
            raise AccountError(404, "account-not-found", f"no account named {user!r}")
        remaining = {name: entry for name, entry in self._stored.items() if name != user}
        self._backend.replace(remaining, user)

    def _writable(self, user: str) -> None:
        if user in self._configured:
            raise AccountError(
                409, "configured-account", f"{user!r} is a [[sip.users]] account: edit the config"
            )
