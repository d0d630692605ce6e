"""Login sessions: the short-lived bearer tokens `POST /api/v1/login` hands out.

A session token is `ms1.` and 32 random bytes (base64url). Only its SHA-256 is kept (a token
is random, so a plain digest is as good as a slow hash), in memory: a restart ends every
session, and users log in again. Sessions end when they expire, at logout, or when their
account is changed or deleted."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

PREFIX = "ms1."
MAX_PER_USER = 32  # open sessions per account; the oldest ends when one more opens
_MAX_TOKEN = 128


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    role: str
    name: str
    expires: float  # Unix seconds


class SessionStore:
    def __init__(self, minutes: int = 720, clock: Callable[[], float] = time.time) -> None:
        """`clock`: the wall clock in Unix seconds (expiry is a wall-clock moment)."""
        if minutes < 1:
            raise ValueError("a session lasts at least one minute")
        self.seconds = minutes * 60
        self.clock = clock
        self._sessions: dict[bytes, Session] = {}  # token digest -> session, oldest first

    def open(self, user: str, role: str, name: str = "") -> tuple[str, Session]:
        """A new session for `user` with `role`: returns its token (shown once) and itself."""
        self._forget_expired()
        mine = [key for key, session in self._sessions.items() if session.user == user]
        for key in mine[: max(0, len(mine) - MAX_PER_USER + 1)]:
            del self._sessions[key]
        token = PREFIX + secrets.token_urlsafe(32)
        session = Session(user, role, name, self.clock() + self.seconds)
        self._sessions[_digest(token)] = session
        return token, session

    def verify(self, token: str) -> Session | None:
        """The live session `token` stands for, or None (unknown, ended or expired)."""
        if not token.startswith(PREFIX) or len(token) > _MAX_TOKEN:
            return None
        key = _digest(token)
        session = self._sessions.get(key)
        if session is not None and session.expires <= self.clock():
            del self._sessions[key]
            return None
        return session

    def revoke(self, token: str) -> bool:
        """End the session of `token`; False if there was none."""
        return self._sessions.pop(_digest(token), None) is not None

    def revoke_user(self, user: str) -> int:
        """End every session of `user` (its password, role or account changed); how many."""
        keys = [key for key, session in self._sessions.items() if session.user == user]
        for key in keys:
            del self._sessions[key]
        return len(keys)

    def __len__(self) -> int:
        self._forget_expired()
        return len(self._sessions)

    def _forget_expired(self) -> None:
        now = self.clock()
        for key in [key for key, session in self._sessions.items() if session.expires <= now]:
            del self._sessions[key]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
