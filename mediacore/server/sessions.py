"""Login sessions: the short-lived bearer tokens `POST /api/v1/login` hands out.

A session token is `ms1.` and 32 random bytes (base64url). Only its SHA-256 is kept (a token
is random, so a plain digest is as good as a slow hash), in memory: a restart ends every
session, and users log in again (in a cluster they are kept in its Redis instead, so a session
opened on one node is good on every node: sharedsessions.py). Sessions end when they expire,
at logout, or when their account is changed or deleted."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

PREFIX = "ms1."
MAX_PER_USER = 32  # open sessions per account; the oldest ends when one more opens
_MAX_TOKEN = 128


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    role: str
    name: str
    expires: float  # Unix seconds


class SessionBackend(Protocol):
    """Where sessions are kept, by token digest: in memory (MemorySessions) on a node alone,
    the cluster's Redis behind a memory cache in a cluster. Every method but `fetch` is
    answered from memory, without I/O (token checks are on every request's path)."""

    def get(self, key: bytes) -> Session | None: ...

    def put(self, key: bytes, session: Session) -> None: ...

    def remove(self, key: bytes) -> bool:
        """Forget one session; False if it was not known here."""
        ...

    def forget(self, key: bytes) -> None:
        """Drop a session that expired (it did everywhere: nobody needs telling)."""
        ...

    def remove_user(self, user: str) -> int:
        """Forget every session of `user`; how many were known here."""
        ...

    def items(self) -> list[tuple[bytes, Session]]:
        """The sessions known here, oldest first."""
        ...

    async def fetch(self, key: bytes) -> None:
        """Learn the session `key` where it may have been opened elsewhere."""
        ...


class MemorySessions:
    """Sessions in a dict, oldest first: all a node alone keeps."""

    def __init__(self) -> None:
        self._sessions: dict[bytes, Session] = {}

    def get(self, key: bytes) -> Session | None:
        return self._sessions.get(key)

    def put(self, key: bytes, session: Session) -> None:
        self._sessions[key] = session

    def remove(self, key: bytes) -> bool:
        return self._sessions.pop(key, None) is not None

    def forget(self, key: bytes) -> None:
        self._sessions.pop(key, None)

    def remove_user(self, user: str) -> int:
        keys = [key for key, session in self._sessions.items() if session.user == user]
        for key in keys:
            del self._sessions[key]
        return len(keys)

    def items(self) -> list[tuple[bytes, Session]]:
        return list(self._sessions.items())

    def clear(self) -> None:
        self._sessions.clear()

    async def fetch(self, key: bytes) -> None:
        """Nothing to learn: every session of this node was opened here."""


class SessionStore:
    def __init__(
        self,
        minutes: int = 720,
        clock: Callable[[], float] = time.time,
        backend: SessionBackend | None = None,
    ) -> None:
        """`clock`: the wall clock in Unix seconds (expiry is a wall-clock moment);
        `backend`: where sessions are kept (default: in memory)."""
        if minutes < 1:
            raise ValueError("a session lasts at least one minute")
        self.seconds = minutes * 60
        self.clock = clock
        self._sessions = backend if backend is not None else MemorySessions()

    def open(self, user: str, role: str, name: str = "") -> tuple[str, Session]:
        """A new session for `user` with `role`: returns its token (shown once) and itself."""
        self._forget_expired()
        mine = [key for key, session in self._sessions.items() if session.user == user]
        for key in mine[: max(0, len(mine) - MAX_PER_USER + 1)]:
            self._sessions.remove(key)
        token = PREFIX + secrets.token_urlsafe(32)
        session = Session(user, role, name, self.clock() + self.seconds)
        self._sessions.put(_digest(token), session)
        return token, session

    def verify(self, token: str) -> Session | None:
        """The live session `token` stands for, or None (unknown, ended or expired)."""
        if not _well_formed(token):
            return None
        key = _digest(token)
        session = self._sessions.get(key)
        if session is not None and session.expires <= self.clock():
            self._sessions.forget(key)
            return None
        return session

    async def fetch(self, token: str) -> None:
        """Learn the session of `token` if it was opened on another node (then verify() knows
        it); nothing for a token already known or not a session token."""
        if _well_formed(token):
            key = _digest(token)
            if self._sessions.get(key) is None:
                await self._sessions.fetch(key)

    def revoke(self, token: str) -> bool:
        """End the session of `token`; False if there was none."""
        return self._sessions.remove(_digest(token))

    def revoke_user(self, user: str) -> int:
        """End every session of `user` (its password, role or account changed); how many."""
        return self._sessions.remove_user(user)

    def __len__(self) -> int:
        self._forget_expired()
        return len(self._sessions.items())

    def _forget_expired(self) -> None:
        now = self.clock()
        for key, session in self._sessions.items():
            if session.expires <= now:
                self._sessions.forget(key)


def _well_formed(token: str) -> bool:
    return token.startswith(PREFIX) and len(token) <= _MAX_TOKEN


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
