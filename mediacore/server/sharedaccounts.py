"""The accounts of a cluster: kept in its Redis, so an account added, changed or deleted on one
node holds on every node.

`mc:accounts` maps each user to its JSON entry (accountrecords.py: the scrypt hash, never a
password). A node keeps them all in memory (a login checks a password off the event loop, with
no I/O), reads the one user afresh at each login, and re-reads one on its notice.

Joining: the first node to join (`SET mc:accounts:seeded NX`) seeds the cluster with its
accounts.json; a later node whose accounts.json differs says so, naming the file, and uses the
cluster's. The file is left as it was either way."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import redis.asyncio as aioredis

from mediacore.server.accountfile import read_accounts
from mediacore.server.accountrecords import StoredAccount
from mediacore.server.clusterredis import ACCOUNTS, ACCOUNTS_SEEDED
from mediacore.server.sharedstate import REDIS_ERRORS, Notice, StateChannel

log = logging.getLogger(__name__)

CHANGED = "account"  # key: the user name
# The first node to join seeds the accounts, in one step: no node can read them half-seeded.
SEED = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
end
return 0
"""


class RedisAccounts:
    def __init__(self, channel: StateChannel, local_file: Path) -> None:
        """`local_file`: this node's accounts.json. Raises ValueError when it exists but
        cannot be read as accounts (as a node alone would)."""
        self._channel = channel
        self._local_file = local_file
        self._local = read_accounts(local_file)
        self._joined = False
        self._cache: dict[str, StoredAccount] = {}
        channel.on(CHANGED, self.refresh)
        channel.on_resync(self._resync)

    def entries(self) -> Mapping[str, StoredAccount]:
        return self._cache

    def replace(self, stored: dict[str, StoredAccount], changed: str) -> None:
        self._cache = stored
        self._channel.write(partial(_save, changed, stored.get(changed)))

    async def refresh(self, user: str) -> None:
        try:
            text = await self._channel.redis.hget(ACCOUNTS, user)
        except REDIS_ERRORS as error:
            self._channel.unreachable(error)
            return
        entry = _parse(user, text)
        cache = dict(self._cache)  # replaced whole: a login thread may be reading it
        if entry is None:
            cache.pop(user, None)
        else:
            cache[user] = entry
        self._cache = cache

    async def _resync(self) -> None:
        redis = self._channel.redis
        if not self._joined:
            entries = [(user, json.dumps(e.to_entry())) for user, e in self._local.items()]
            flat = [text for entry in entries for text in entry]
            await redis.eval(SEED, 2, ACCOUNTS_SEEDED, ACCOUNTS, self._channel.node, *flat)
        found = await redis.hgetall(ACCOUNTS)
        cache = {}
        for user, text in found.items():
            entry = _parse(str(user), text)
            if entry is not None:
                cache[str(user)] = entry
        self._cache = cache
        if not self._joined and self._local and self._local != cache:
            log.warning(
                "%s differs from the cluster's accounts: this node uses the cluster's",
                self._local_file,
            )
        self._joined = True


async def _save(user: str, entry: StoredAccount | None, redis: aioredis.Redis) -> list[Notice]:
    if entry is None:
        await redis.hdel(ACCOUNTS, user)
    else:
        await redis.hset(ACCOUNTS, user, json.dumps(entry.to_entry()))
    return [(CHANGED, user)]


def _parse(user: str, text: str | bytes | None) -> StoredAccount | None:
    if text is None:
        return None
    try:
        entry = StoredAccount.from_entry(json.loads(text))
    except (KeyError, TypeError, ValueError) as error:
        log.warning("the cluster's account %r cannot be read, left out: %s", user, error)
        return None
    return entry if entry.account.user == user else None
