"""Every node's events on every node's stream, through the `mc:events` channel.

Each event this node's bus delivers is published as `{"node": this node, "event": <the event
as the WebSocket stream sends it>}`. Events from other nodes go to this node's subscribers
(its WebSocket streams) only, through `EventBus.relay`: its listeners (recorders' timelines,
metrics, its services) never see them, so nothing is recorded twice, and nothing heard is
published again, so nothing echoes. Redis unreachable: events are dropped, logged once, and
the node subscribes again a second later."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mediacore.events import Event, EventBus
from mediacore.server import clusterredis as keys

log = logging.getLogger(__name__)

BACKLOG = 10_000  # events waiting to be published; the oldest go first when Redis lags
RETRY_S = 1.0


def event_from_json(data: dict[str, Any]) -> Event:
    """The event a stream's JSON object stands for (Event.to_json read back)."""
    fields = dict(data)
    kind, room, at = fields.pop("type"), fields.pop("room", None), fields.pop("at")
    return Event(str(kind), room, fields, datetime.fromisoformat(at.replace("Z", "+00:00")))


class ClusterEvents:
    def __init__(
        self,
        node: str,
        redis: aioredis.Redis,
        bus: EventBus,
        heard: Callable[[str, Event], None] = lambda node, event: None,
    ) -> None:
        """`heard(node, event)` learns every event of another node (the directory follows
        rooms opening and closing elsewhere by it)."""
        self.heard = heard
        self.node = node
        self.redis = redis
        self.bus = bus
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue(BACKLOG)  # None: stop
        self._tasks: list[asyncio.Task[None]] = []
        self._complained = False
        self._listening = False

    async def start(self) -> None:
        self.bus.listen(self._heard)
        self._listening = True
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._publish()), loop.create_task(self._subscribe())]

    async def stop(self) -> None:
        """Stop publishing; the subscriber leaves at its next poll (a pub/sub connection
        cancelled while it reads may hang its own close)."""
        self.bus.unlisten(self._heard)
        self._listening = False
        self._post(None)
        tasks, self._tasks = self._tasks, []
        if tasks:
            await asyncio.wait(tasks, timeout=2 * RETRY_S + 1)
        for task in tasks:
            task.cancel()

    def _heard(self, event: Event) -> None:
        self._post(json.dumps({"node": self.node, "event": event.to_json()}))

    def _post(self, message: str | None) -> None:
        if self._outbox.full():
            self._outbox.get_nowait()
        self._outbox.put_nowait(message)

    async def _publish(self) -> None:
        while (message := await self._outbox.get()) is not None:
            try:
                await self.redis.publish(keys.EVENTS, message)
                self._complained = False
            except (RedisError, OSError) as error:
                self._trouble(error)

    async def _subscribe(self) -> None:
        while self._listening:
            channel = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await channel.subscribe(keys.EVENTS)
                while self._listening:
                    message = await channel.get_message(timeout=RETRY_S)
                    if message is not None:
                        self._remote(message["data"])
            except (RedisError, OSError) as error:
                self._trouble(error)
                await asyncio.sleep(RETRY_S)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await channel.aclose()

    def _remote(self, text: str) -> None:
        try:
            data = json.loads(text)
            if data.get("node") == self.node:
                return
            event = event_from_json(data["event"])
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("unreadable cluster event dropped")
            return
        self.heard(str(data["node"]), event)
        self.bus.relay(event)

    def _trouble(self, error: Exception) -> None:
        if not self._complained:
            self._complained = True
            log.warning("cluster events: Redis unreachable, retrying: %s", error)
