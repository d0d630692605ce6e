"""What ShardedRooms needs of the cluster when a room spans nodes (remoteshard.py): the live
nodes, the proxies of shards on them, a guest's notices to a room's owner (sent one at a time,
in order), and the room's intake node written into the directory (`mc:room:<room>`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import httpx
from redis.exceptions import RedisError

from mediacore.server import clustertrust
from mediacore.server.cluster import Cluster
from mediacore.server.remoteshard import RemoteShardWorker, UnknownNode, notice_path

log = logging.getLogger(__name__)

NOTICE_BACKLOG = 10_000  # notices waiting for an owner that lags; the oldest go first
# A notice (room, body), or a future set once the notices before it were sent.
Queued = tuple[str, dict[str, Any]] | asyncio.Future[None]


class ShardNodes:
    """The cluster as ShardedRooms sees it when a room spans nodes."""

    def __init__(self, cluster: Cluster, max_legs_per_node: int) -> None:
        self.cluster = cluster
        self.max_legs_per_node = max_legs_per_node
        self._queues: dict[str, asyncio.Queue[Queued]] = {}
        self._senders: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._failing: set[str] = set()  # owners whose notices fail (logged once)

    @property
    def name(self) -> str:
        return self.cluster.node.name

    def alive(self, node: str) -> bool:
        view = self.cluster.node.view
        return node in view.records and view.alive(node)

    def others(self) -> list[str]:
        """The live nodes but this one."""
        return [r.name for r in self.cluster.node.view.live() if r.name != self.name]

    def worker(self, node: str, room: str) -> RemoteShardWorker:
        """The proxy of `room`'s shard on `node`; UnknownNode unless it is a live other node."""
        if node == self.name or not self.alive(node):
            raise UnknownNode(f"no live node named {node!r}")
        return RemoteShardWorker(node, room, self.post, self.alive)

    def spare(self, exclude: frozenset[str]) -> str | None:
        """The least-loaded live node but this one and `exclude` (where a room grows)."""
        found = self.cluster.node.view.least_loaded(exclude | {self.name})
        return None if found is None else found.name

    async def post(self, node: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """A node-marked POST to `node`'s internal route; (status, JSON body)."""
        record = self.cluster.node.view.records.get(node)
        secret = self.cluster.secret
        if record is None or secret is None:
            raise httpx.TransportError(f"node {node!r} or the cluster's secret is not known")
        clock = int(self.cluster.node.clock())
        mark = clustertrust.mark(secret, self.name, clock, "POST", path)
        response = await self.cluster.client(node).post(
            record.http + path, content=json.dumps(body), headers={clustertrust.HEADER: mark}
        )
        return response.status_code, response.json() if response.content else None

    # -- a guest's notices to the owner ------------------------------------------------------

    def tell_owner(self, owner: str, room: str, event: str, data: dict[str, Any]) -> None:
        """Send a notice about `room`'s shard here to its owner, after those before it."""
        self._queue(owner, (room, {"node": self.name, "event": event, "data": data}))

    async def sent(self, owner: str, timeout: float) -> None:
        """Wait until the notices told to `owner` so far were sent (answered or failed), at
        most `timeout` seconds."""
        if owner not in self._queues:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue(owner, done)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done, timeout)

    def _queue(self, owner: str, item: Queued) -> None:
        queue = self._queues.get(owner)
        if queue is None:
            queue = self._queues[owner] = asyncio.Queue(NOTICE_BACKLOG)
            self._senders[owner] = asyncio.get_running_loop().create_task(self._send(owner))
        if queue.full():
            queue.get_nowait()
        queue.put_nowait(item)

    async def _send(self, owner: str) -> None:
        queue = self._queues[owner]
        while True:
            item = await queue.get()
            if isinstance(item, asyncio.Future):
                if not item.done():
                    item.set_result(None)
                continue
            room, notice = item
            try:
                status, _ = await self.post(owner, notice_path(room), notice)
                if status >= 300:
                    raise httpx.TransportError(f"answered {status}")
                self._failing.discard(owner)
            except (httpx.HTTPError, OSError, ValueError) as error:
                if owner not in self._failing:
                    self._failing.add(owner)
                    log.warning(
                        "notices to the room's owner fail: %s", error, extra={"node": owner}
                    )

    async def owner(self, room: str) -> str | None:
        """The node that owns `room` as the directory says (as last read when Redis is
        unreachable); None: no node does."""
        try:
            found = await self.cluster.directory.owner(room)
        except (RedisError, OSError):
            return self.cluster.directory.owners.get(room)
        return None if found is None else found.node

    # -- the room's intake ------------------------------------------------------------------

    def intake(self, room: str, node: str | None) -> None:
        """`write_intake` in the background."""
        task = asyncio.get_running_loop().create_task(self.write_intake(room, node))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def write_intake(self, room: str, node: str | None) -> None:
        """Write (or with None remove) the node that takes `room`'s new legs; Redis
        unreachable is logged, never raised."""
        record = self.cluster.node.view.records.get(node) if node is not None else None
        try:
            if record is None:
                await self.cluster.directory.clear_intake(room)
            else:
                await self.cluster.directory.set_intake(room, record.name, record.sip, record.http)
        except (RedisError, OSError) as error:
            log.warning("room's intake not written: %s", error, extra={"room": room})

    async def stop(self) -> None:
        for task in [*self._senders.values(), *self._tasks]:
            task.cancel()
        self._senders.clear()
