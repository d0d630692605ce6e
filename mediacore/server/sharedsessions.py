"""Login sessions of a cluster: kept in its Redis, so a session opened on one node is good on
every node, and one ended on any node ends everywhere.

`mc:session:<digest>` holds a session (JSON, expiring with it) and `mc:sessions:<user>` the
digests of a user's sessions by expiry (at most MAX_PER_USER: the oldest end first). Each node
answers token checks from its memory: the sessions opened here, and those it fetched from Redis
the first time their token came in (`fetch`, before the request is checked). An ended session
is a notice every node acts on at once; after a loss of Redis a node checks that what it
fetched is still there (notices of ends may have been missed)."""

from __future__ import annotations

import json
import logging
import math
import time
from functools import partial

import redis.asyncio as aioredis

from mediacore.server.clusterredis import session_key, user_sessions_key
from mediacore.server.sessions import MAX_PER_USER, MemorySessions, Session
from mediacore.server.sharedstate import REDIS_ERRORS, Notice, StateChannel

log = logging.getLogger(__name__)

ENDED = "session-ended"  # key: the session's digest (hex)
USER_ENDED = "user-sessions-ended"  # key: the user name


class RedisSessions:
    def __init__(self, channel: StateChannel) -> None:
        self._channel = channel
        self._cache = MemorySessions()
        self._fetched: set[bytes] = set()  # opened elsewhere: their ends come as notices
        # ended here, not yet in Redis: a fetch meanwhile must not bring them back
        self._ending: set[bytes] = set()
        self._ending_users: set[str] = set()
        channel.on(ENDED, self._ended_elsewhere)
        channel.on(USER_ENDED, self._user_ended_elsewhere)
        channel.on_resync(self._resync)

    def get(self, key: bytes) -> Session | None:
        return self._cache.get(key)

    def items(self) -> list[tuple[bytes, Session]]:
        return self._cache.items()

    def put(self, key: bytes, session: Session) -> None:
        self._cache.put(key, session)
        self._channel.write(partial(_store, key.hex(), session))

    def forget(self, key: bytes) -> None:
        self._cache.forget(key)  # Redis let it expire by itself

    def remove(self, key: bytes) -> bool:
        known = self._cache.remove(key)
        self._ending.add(key)
        self._channel.write(partial(self._end, key))
        return known

    def remove_user(self, user: str) -> int:
        known = self._cache.remove_user(user)
        self._ending_users.add(user)
        self._channel.write(partial(self._end_user, user))
        return known

    async def fetch(self, key: bytes) -> None:
        try:
            text = await self._channel.redis.get(session_key(key.hex()))
        except REDIS_ERRORS as error:
            self._channel.unreachable(error)
            return
        session = _parse(text)
        if session is None or key in self._ending or session.user in self._ending_users:
            return
        if session.expires > time.time():
            self._cache.put(key, session)
            self._fetched.add(key)
            if len(self._fetched) > 2 * len(self._cache.items()) + 1000:  # ended ones linger
                self._fetched = {key for key in self._fetched if self._cache.get(key)}

    async def _end(self, key: bytes, redis: aioredis.Redis) -> list[Notice]:
        notices = await _end(key.hex(), redis)
        self._ending.discard(key)
        return notices

    async def _end_user(self, user: str, redis: aioredis.Redis) -> list[Notice]:
        notices = await _end_user(user, redis)
        self._ending_users.discard(user)
        return notices

    async def _ended_elsewhere(self, digest: str) -> None:
        try:
            self._cache.remove(bytes.fromhex(digest))
        except ValueError:
            log.warning("a session-ended notice with a bad digest was ignored")

    async def _user_ended_elsewhere(self, user: str) -> None:
        self._cache.remove_user(user)

    async def _resync(self) -> None:
        """Forget the sessions fetched from Redis that ended there meanwhile."""
        fetched = [key for key in self._fetched if self._cache.get(key) is not None]
        async with self._channel.redis.pipeline(transaction=False) as pipe:
            for key in fetched:
                pipe.exists(session_key(key.hex()))
            there = await pipe.execute()
        for key, exists in zip(fetched, there, strict=True):
            if not exists:
                self._cache.remove(key)
        self._fetched = {key for key in fetched if self._cache.get(key) is not None}


async def _store(digest: str, session: Session, redis: aioredis.Redis) -> list[Notice]:
    """Keep `session`; end the user's oldest beyond MAX_PER_USER (the notices say which)."""
    text = json.dumps(
        {"user": session.user, "role": session.role, "name": session.name,
         "expires": session.expires}
    )  # fmt: skip
    mine = user_sessions_key(session.user)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(session_key(digest), text, pxat=math.ceil(session.expires * 1000))
        pipe.zadd(mine, {digest: session.expires})
        pipe.zremrangebyscore(mine, "-inf", time.time())
        pipe.expireat(mine, math.ceil(session.expires))
        pipe.zrange(mine, 0, -(MAX_PER_USER + 1))
        *_, found = await pipe.execute()
    oldest = [str(old) for old in found]
    if oldest:
        await redis.delete(*(session_key(old) for old in oldest))
        await redis.zrem(mine, *oldest)
    return [(ENDED, old) for old in oldest]


async def _end(digest: str, redis: aioredis.Redis) -> list[Notice]:
    session = _parse(await redis.get(session_key(digest)))
    await redis.delete(session_key(digest))
    if session is not None:
        await redis.zrem(user_sessions_key(session.user), digest)
    return [(ENDED, digest)]


async def _end_user(user: str, redis: aioredis.Redis) -> list[Notice]:
    digests = [str(digest) for digest in await redis.zrange(user_sessions_key(user), 0, -1)]
    await redis.delete(user_sessions_key(user), *(session_key(digest) for digest in digests))
    return [(USER_ENDED, user)]


def _parse(text: str | bytes | None) -> Session | None:
    """A session from its JSON, None for none or for one that is not a session."""
    if text is None:
        return None
    try:
        data = json.loads(text)
        user, role, name, expires = data["user"], data["role"], data["name"], data["expires"]
    except (TypeError, ValueError, KeyError):
        return None
    if not all(isinstance(field, str) for field in (user, role, name)):
        return None
    if isinstance(expires, bool) or not isinstance(expires, (int, float)):
        return None
    return Session(user, role, name, float(expires))
