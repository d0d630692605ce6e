"""Things one node of the cluster carries at a time (radio gateways, trunk registrations): a
claim with an expiry.

Each claim is `mc:own:<kind>:<name>`, set `NX PX` by whoever takes it and its expiry renewed by
the owner at each refresh (the node's heartbeat). A node that dies stops renewing: its claims
lapse after `ttl_ms` and the next survivor to refresh takes them, and calls the gateway again
(radiogateways.GatewayKeeper asks `owns` before it dials, sip.trunk.TrunkRegistration before it
registers). While Redis is unreachable each node
keeps what it had: an owner carries on, and nobody else starts."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mediacore.server import clusterredis as keys

log = logging.getLogger(__name__)

# KEYS: the claim. ARGV: me, ttl. Renews ours, takes a free one; answers 1 when it is ours.
_CLAIM = """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
# KEYS: the claim. ARGV: me. Only the owner lets go.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Ownership:
    def __init__(
        self, redis: aioredis.Redis, node: str, kind: str, names: Iterable[str], ttl_ms: int
    ) -> None:
        self.redis = redis
        self.node = node
        self.kind = kind
        self.names = tuple(names)
        self.ttl_ms = ttl_ms
        self.owned: set[str] = set()
        self._failing = False

    def owns(self, name: str) -> bool:
        return name in self.owned

    async def refresh(self) -> set[str]:
        """Renew our claims and take the free ones; answers the names newly ours (a survivor
        taking a dead node's). Never raises: Redis unreachable keeps what we had."""
        if not self.names:
            return set()
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for name in self.names:
                    pipe.eval(_CLAIM, 1, keys.own_key(self.kind, name), self.node, self.ttl_ms)
                found = await pipe.execute()
        except (RedisError, OSError) as error:
            if not self._failing:
                log.warning("claims not renewed: %s", error, extra={"kind": self.kind})
            self._failing = True
            return set()
        self._failing = False
        owned = {name for name, ours in zip(self.names, found, strict=True) if ours}
        new, self.owned = owned - self.owned, owned
        return new

    async def release(self) -> None:
        """Let go of every claim (a clean stop): the others take them at once."""
        try:
            for name in sorted(self.owned):
                await self.redis.eval(_RELEASE, 1, keys.own_key(self.kind, name), self.node)
        except (RedisError, OSError) as error:
            log.warning("claims not released: %s", error, extra={"kind": self.kind})
        self.owned = set()
