"""Logging in with a user name and a password: throttle, check, open a session, say so.

Failed attempts count against the client's address and the user name (loginthrottle.py);
past the limit both are locked out for a while, answered 429 without the password even being
checked. Every outcome is an event (`login.succeeded`, `login.failed`, `login.locked`) that
names the user and the address, never the password or the token."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from mediacore.events import EventBus
from mediacore.server.accounts import Account, Accounts
from mediacore.server.loginthrottle import LoginThrottle
from mediacore.server.sessions import Session, SessionStore

MAX_CHECKS_AT_ONCE = 2  # scrypt takes 16 MiB and a core's tens of ms: never more at once


class LoginRefused(Exception):
    """A login that did not succeed: `status` 401 (wrong) or 429 (locked out, `retry_after`
    seconds)."""

    def __init__(self, status: int, detail: str, retry_after: int = 0) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Login:
    token: str
    session: Session


class Logins:
    def __init__(
        self, accounts: Accounts, sessions: SessionStore, throttle: LoginThrottle, bus: EventBus
    ) -> None:
        self.accounts = accounts
        self.sessions = sessions
        self.throttle = throttle
        self.bus = bus
        self._checks = asyncio.Semaphore(MAX_CHECKS_AT_ONCE)

    async def login(self, user: str, password: str, address: str) -> Login:
        """A new session for `user` if `password` is theirs. Raises LoginRefused."""
        keys = ("address " + address, "user " + user)
        wait = self.throttle.retry_after(keys, self.sessions.clock())
        if wait > 0:
            raise LoginRefused(429, "too many failed logins: try again later", math.ceil(wait))
        await self.accounts.refresh(user)  # made or changed on another node of a cluster
        async with self._checks:
            account = await asyncio.to_thread(self.accounts.check, user, password)
        now = self.sessions.clock()
        if account is None:
            self.bus.publish("login.failed", None, user=user, address=address)
            lock = self.throttle.failed(keys, now)
            if lock > 0:
                self.bus.publish("login.locked", None, user=user, address=address, seconds=lock)
                raise LoginRefused(429, "too many failed logins: try again later", math.ceil(lock))
            raise LoginRefused(401, "unknown user or wrong password")
        self.throttle.succeeded("user " + user)
        return self._open(account, address)

    def _open(self, account: Account, address: str) -> Login:
        token, session = self.sessions.open(account.user, account.role, account.name)
        self.bus.publish(
            "login.succeeded", None, user=account.user, role=account.role, address=address
        )
        return Login(token, session)
