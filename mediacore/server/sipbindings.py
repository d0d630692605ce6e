"""SIP registrations shared through the cluster's Redis, so any node dials any registered user.

After each REGISTER a node accepted, the user's newest binding goes to `mc:reg:<user>` (a hash,
expiring with the binding); a node dialling a user it has no binding for reads it back and
calls along the stored Path, i.e. through Kamailio, which knows the way to the phone. Kamailio
reads `node` to send the user's next REGISTER to the same node, and `contact` and `received` to
relay a node's request for `sip:<user>@` (docker/kamailio/kamailio.cfg).

Redis being away never stalls SIP: writes happen in the background, a lookup gives up after
the client's timeout and answers "not registered"; the failure is logged once until Redis
answers again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mediacore.server.clusterredis import reg_key
from sip.address import Address, SipSyntaxError
from sip.registrar import Binding
from sip.sharedbindings import SharedBinding
from sip.transaction import Peer

log = logging.getLogger(__name__)


class RedisBindings:
    """The SharedBindings of a clustered node (sip.sharedbindings)."""

    def __init__(
        self, redis: aioredis.Redis, node: str, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self.redis = redis
        self.node = node  # this node's name, written as the binding's holder
        self.wall_clock = wall_clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._failing = False

    def registered(self, user: str, bindings: Sequence[Binding], now: float) -> None:
        newest = bindings[-1] if bindings else None
        if newest is None:
            work = self._forget(user)
        else:
            fields = binding_fields(newest, self.node, now, self.wall_clock())
            milliseconds = max(1, round((newest.expires_at - now) * 1000))
            work = self._store(user, fields, milliseconds)
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def find(self, user: str) -> SharedBinding | None:
        try:
            fields = await self.redis.hgetall(reg_key(user))
        except (RedisError, OSError) as error:
            self._failed(error)
            return None
        self._answered()
        return shared_binding(fields, self.wall_clock())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _store(self, user: str, fields: Mapping[Any, Any], milliseconds: int) -> None:
        """Replace the user's shared binding with `fields`, gone in `milliseconds`."""
        key = reg_key(user)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.hset(key, mapping=fields)
                pipe.pexpire(key, milliseconds)
                await pipe.execute()
        except (RedisError, OSError) as error:
            self._failed(error)
            return
        self._answered()

    async def _forget(self, user: str) -> None:
        """Unregistered here: the shared binding goes, unless another node holds it now."""
        key = reg_key(user)
        try:
            if await self.redis.hget(key, "node") == self.node:
                await self.redis.delete(key)
        except (RedisError, OSError) as error:
            self._failed(error)
            return
        self._answered()

    def _failed(self, error: Exception) -> None:
        if not self._failing:
            log.warning("cluster redis unreachable for SIP bindings", extra={"error": str(error)})
        self._failing = True

    def _answered(self) -> None:
        if self._failing:
            log.info("cluster redis answers again for SIP bindings")
        self._failing = False


def binding_fields(binding: Binding, node: str, now: float, wall_now: float) -> dict[str, str]:
    """The `mc:reg:<user>` hash of `binding`: contact, path (the Path values as one header
    value), expires (Unix seconds), node, source ("transport:host:port" of the REGISTER's
    sender) and, when the first Path entry says where the phone really is (Kamailio's
    `received`), received (a SIP URI)."""
    source = binding.source
    fields = {
        "contact": binding.contact,
        "path": ", ".join(binding.path),
        "expires": str(round(wall_now + binding.remaining(now))),
        "node": node,
        "source": f"{source.transport}:{source.host}:{source.port}",
    }
    received = _received(binding.path)
    if received:
        fields["received"] = received
    return fields


def shared_binding(fields: Mapping[Any, Any], wall_now: float) -> SharedBinding | None:
    """The binding a `mc:reg:<user>` hash describes, or None (absent, expired, malformed)."""
    try:
        if float(fields["expires"]) <= wall_now:
            return None
        transport, host, port = str(fields["source"]).rsplit(":", 2)
        if host.startswith("["):
            host = host[1:-1]
        path = tuple(part.strip() for part in str(fields.get("path", "")).split(",") if part)
        return SharedBinding(str(fields["contact"]), path, Peer(transport, host, int(port)))
    except (KeyError, ValueError):
        return None


def _received(path: Sequence[str]) -> str:
    """The `received` parameter of the first Path entry (percent-decoded), or ""."""
    if not path:
        return ""
    try:
        value = Address.parse(path[0]).uri.params.get("received")
    except SipSyntaxError:
        return ""
    return unquote(value or "").strip('"')
