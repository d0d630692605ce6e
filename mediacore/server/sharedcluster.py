"""Cluster-wide accounts, login sessions, join links and admin token: the stores of a node in
a cluster, kept in the cluster's Redis instead of its data directory (see clusterredis.py for
the keys). Without `[cluster] redis` none of this is built and the node keeps files as before."""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis

from mediacore.server.accountfile import ACCOUNTS_FILE
from mediacore.server.auth import ADMIN_TOKEN_FILE, TokenStore
from mediacore.server.config import Config
from mediacore.server.joinlinks import JoinLinks
from mediacore.server.sessions import SessionStore
from mediacore.server.sharedaccounts import RedisAccounts
from mediacore.server.sharedadmintoken import AdminTokenAdoption
from mediacore.server.sharedjoinlinks import RedisLinks
from mediacore.server.sharedsessions import RedisSessions
from mediacore.server.sharedstate import StateChannel

FIRST_SYNC_S = 5.0  # how long a starting node waits for Redis before it serves without it


class SharedState:
    def __init__(self, config: Config, tokens: TokenStore, redis: aioredis.Redis) -> None:
        """Puts `tokens`' sessions and join links in the cluster (`redis`: the node's one
        client, its owner's to close); `accounts` is the backend for Accounts. Raises
        ValueError when the node's accounts.json cannot be read as accounts."""
        self.channel = StateChannel(redis, config.cluster.node_name)
        data_dir = config.data_dir
        AdminTokenAdoption(self.channel, tokens, data_dir / ADMIN_TOKEN_FILE)
        self.accounts = RedisAccounts(self.channel, data_dir / ACCOUNTS_FILE)
        minutes = config.auth.session_minutes
        tokens.sessions = SessionStore(minutes, backend=RedisSessions(self.channel))
        tokens.links = JoinLinks(data_dir, RedisLinks(self.channel, data_dir))

    async def start(self) -> None:
        """Join: seed or adopt, then load; waits up to FIRST_SYNC_S for Redis, and goes on
        without it (retried every second) rather than not start."""
        self.channel.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.channel.synced.wait(), FIRST_SYNC_S)

    async def stop(self) -> None:
        await self.channel.settle()
        await self.channel.stop()
