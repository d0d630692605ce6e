"""A node's link to the cluster's shared state: ordered writes to Redis, and notices of changes.

Stores answer from memory. What one changes here is written to Redis by one task, in order
(`write`), each write followed by its notices on `mc:state` (`{"node", "kind", "key"}`), which
the other nodes act on (`on`). `settle()` waits until what was changed here is in Redis: an API
answer waits for it, so a token or an account it reports holds on every node once the client
has it. Whenever the subscription is made (at start, and again after Redis was lost), every
`on_resync` handler runs, in order: notices may have been missed meanwhile.

Redis being unreachable never raises to the caller: writes are retried every second, the
subscription is made again, and the loss and the return are logged once each."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mediacore.server.clusterredis import STATE

log = logging.getLogger(__name__)

RETRY_S = 1.0  # a write or a subscription that failed is tried again this much later
SETTLE_S = 2.0  # the longest an answer waits for its writes while Redis is away
LISTEN_S = 0.5  # under the client's socket time-out, so an idle channel reads no error

Notice = tuple[str, str]  # (kind, key)
Write = Callable[[aioredis.Redis], Awaitable[list[Notice]]]
Handler = Callable[[str], Awaitable[None]]
Resync = Callable[[], Awaitable[None]]
REDIS_ERRORS = (RedisError, OSError)


class StateChannel:
    def __init__(self, redis: aioredis.Redis, node: str) -> None:
        self.redis = redis
        self.node = node
        self.synced = asyncio.Event()  # set once every resync handler has run
        self._writes: asyncio.Queue[Write] = asyncio.Queue()
        self._pending = 0  # writes queued and not done: an answer has nothing to wait for at 0
        self._handlers: dict[str, Handler] = {}
        self._resyncs: list[Resync] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._lost = False

    def on(self, kind: str, handler: Handler) -> None:
        """Call `handler(key)` for each notice of `kind` from another node."""
        self._handlers[kind] = handler

    def on_resync(self, handler: Resync) -> None:
        """Call `handler()` whenever notices may have been missed (and at start)."""
        self._resyncs.append(handler)

    def write(self, action: Write) -> None:
        """Queue `action(redis)`, which returns the notices to publish once it is done."""
        self._pending += 1
        self._writes.put_nowait(action)

    async def settle(self, timeout: float = SETTLE_S) -> None:
        """Wait until every write queued so far is in Redis, or `timeout` seconds."""
        if not self._pending:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._writes.join(), timeout)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._write_all()), loop.create_task(self._listen())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def unreachable(self, error: BaseException) -> None:
        """Say once that Redis is unreachable (until it answers again)."""
        if not self._lost:
            self._lost = True
            log.warning("cluster Redis unreachable, shared state retried: %s", error)

    def _reachable(self) -> None:
        if self._lost:
            self._lost = False
            log.info("cluster Redis reachable again")

    async def _write_all(self) -> None:
        while True:
            action = await self._writes.get()
            try:
                await self._write(action)
            finally:
                self._pending -= 1
                self._writes.task_done()

    async def _write(self, action: Write) -> None:
        while True:
            try:
                for kind, key in await action(self.redis):
                    notice = {"node": self.node, "kind": kind, "key": key}
                    await self.redis.publish(STATE, json.dumps(notice))
            except REDIS_ERRORS as error:
                self.unreachable(error)
                await asyncio.sleep(RETRY_S)
                continue
            except Exception:  # a write that can never succeed is dropped, not retried
                log.exception("a shared-state write failed and was dropped")
                return
            self._reachable()
            return

    async def _listen(self) -> None:
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(STATE)
                for resync in self._resyncs:
                    await resync()
                self._reachable()
                self.synced.set()
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=LISTEN_S
                    )
                    if message is not None:
                        await self._dispatch(message.get("data"))
            except REDIS_ERRORS as error:
                self.unreachable(error)
                await asyncio.sleep(RETRY_S)
            except Exception:  # never leave the node without its notices
                log.exception("following the shared state failed; subscribing again")
                await asyncio.sleep(RETRY_S)
            finally:
                with contextlib.suppress(*REDIS_ERRORS):
                    await pubsub.aclose()

    async def _dispatch(self, data: Any) -> None:
        try:
            notice = json.loads(data)
            node, kind, key = notice["node"], notice["kind"], notice["key"]
        except (TypeError, ValueError, KeyError):
            log.warning("a shared-state notice that is not one was ignored: %.80r", data)
            return
        handler = self._handlers.get(kind)
        if node == self.node or handler is None or not isinstance(key, str):
            return
        try:
            await handler(key)
        except REDIS_ERRORS:
            raise  # subscribe again, and resync
        except Exception:
            log.exception("acting on a shared-state notice failed", extra={"kind": kind})
