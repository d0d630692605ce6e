"""An account that logs in with a password, and the record a store keeps of it.

A stored account is the account and its password hash (passwords.hash_password's record),
written as one JSON entry `{"user", "role", "name", "password"}`: a line of accounts.json, or
a field of the cluster's `mc:accounts` hash."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

USER_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,64}")
CONFIG, API = "config", "api"  # where an account comes from


@dataclass(frozen=True, slots=True)
class Account:
    user: str
    role: str
    name: str
    source: str  # CONFIG or API

    def to_json(self) -> dict[str, str]:
        return {"user": self.user, "role": self.role, "name": self.name, "source": self.source}


@dataclass(frozen=True, slots=True)
class StoredAccount:
    account: Account
    password: dict[str, Any]  # passwords.hash_password's record

    def to_entry(self) -> dict[str, Any]:
        account = self.account
        return {"user": account.user, "role": account.role, "name": account.name,
                "password": self.password}  # fmt: skip

    @classmethod
    def from_entry(cls, entry: Any) -> StoredAccount:
        """Raises KeyError, TypeError or ValueError (naming the user) for a malformed entry."""
        user, role, name = entry["user"], entry["role"], entry.get("name", "")
        if not (isinstance(user, str) and USER_NAME.fullmatch(user)):
            raise ValueError(f"bad user name {user!r}")
        if not isinstance(role, str) or not isinstance(name, str):
            raise ValueError(f"bad role or name for {user!r}")
        if not isinstance(entry["password"], dict):
            raise ValueError(f"bad password record for {user!r}")
        return cls(Account(user, role, name, API), entry["password"])
