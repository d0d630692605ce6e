"""What join links need, for a cluster: one secret for every node, and the revoked ids.

`mc:secret:joinlinks` is made once (`SET NX`) by the first node to join: from its own
join-link-secret file when it has one (the links it minted stay good), else new; a later node
whose file holds another secret says so (the links it minted alone are void). `mc:joinlinks:
revoked` holds revoked ids by when their last link expires. A node keeps both in memory (links
are checked on every request's path) and learns of a revocation elsewhere by its notice."""

from __future__ import annotations

import logging
import secrets
from functools import partial
from pathlib import Path

import redis.asyncio as aioredis

from mediacore.server.clusterredis import JOINLINK_SECRET, JOINLINKS_REVOKED
from mediacore.server.joinlinkfiles import SECRET_FILE
from mediacore.server.sharedstate import Notice, StateChannel

log = logging.getLogger(__name__)

REVOKED = "link-revoked"  # key: the link's id
MIN_SECRET = 32  # as joinlinkfiles: a short secret would be a guessable key


class RedisLinks:
    def __init__(self, channel: StateChannel, data_dir: Path) -> None:
        self._channel = channel
        self._local_file = data_dir / SECRET_FILE
        self._key: bytes | None = None
        self._revoked: dict[str, int] = {}
        channel.on(REVOKED, self._revoked_elsewhere)
        channel.on_resync(self._resync)

    def secret(self, create: bool) -> bytes | None:
        if self._key is None and create:
            raise RuntimeError("the cluster's join-link secret is not known yet (Redis is away)")
        return self._key

    def revocations(self, now: int) -> dict[str, int]:
        for key in [key for key, until in self._revoked.items() if until <= now]:
            del self._revoked[key]
        return self._revoked

    def revoke(self, link_id: str, until: int, now: int) -> None:
        self._revoked[link_id] = until
        self._channel.write(partial(_revoke, link_id, until, now))

    async def _revoked_elsewhere(self, link_id: str) -> None:
        until = await self._channel.redis.zscore(JOINLINKS_REVOKED, link_id)
        if until is not None:
            self._revoked[link_id] = int(until)

    async def _resync(self) -> None:
        redis = self._channel.redis
        if self._key is None:
            local = self._local_secret()
            await redis.set(JOINLINK_SECRET, local or secrets.token_hex(32), nx=True)
            shared = str(await redis.get(JOINLINK_SECRET) or "")
            if len(shared) < MIN_SECRET:  # links stay off (503) rather than use a weak key
                log.error("%s holds no usable join-link secret: delete it", JOINLINK_SECRET)
                return
            if local and local != shared:
                log.warning(
                    "%s differs from the cluster's join-link secret: links minted by this node "
                    "alone are void",
                    self._local_file,
                )
            self._key = shared.encode()
        found = await redis.zrangebyscore(JOINLINKS_REVOKED, "(0", "+inf", withscores=True)
        self._revoked.update({str(pair[0]): int(pair[1]) for pair in found})

    def _local_secret(self) -> str:
        path = self._local_file
        text = path.read_text(encoding="utf-8").strip() if path.exists() else ""
        return text if len(text) >= MIN_SECRET else ""


async def _revoke(link_id: str, until: int, now: int, redis: aioredis.Redis) -> list[Notice]:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(JOINLINKS_REVOKED, {link_id: until})
        pipe.zremrangebyscore(JOINLINKS_REVOKED, "-inf", now)
        await pipe.execute()
    return [(REVOKED, link_id)]
