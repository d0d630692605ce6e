"""This node's part in a cluster (`[cluster] redis`): the pieces, started and stopped together.

- clusternode.py: the heartbeat, the node's load, what it knows of the others (`mc:node:*`).
- clusterrooms.py: the room directory (`mc:room:*`, `mc:roomdef:*`): who owns which room.
- clusterforward.py: any node's API serves every room (requests forwarded to the owner).
- clusterevents.py: every node's events on every node's stream (`mc:events`).
- clusterfailover.py: a dead node's rooms reopen on one survivor.

Without `[cluster] redis` none of this exists and the server runs alone, as before."""

from __future__ import annotations

import contextlib
import logging
import secrets
import ssl
from collections.abc import Callable
from typing import Any

import httpx
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from starlette.types import ASGIApp

from mediacore.events import EventBus
from mediacore.room import RoomSettings
from mediacore.server import clusterredis as keys
from mediacore.server.clusterevents import ClusterEvents
from mediacore.server.clusterfailover import Failover
from mediacore.server.clusterforward import ClusterForwarder
from mediacore.server.clusternode import ClusterNode, Counts
from mediacore.server.clusterrooms import ClusterRooms
from mediacore.server.clusterview import DEAD, DRAINING, UP
from mediacore.server.config import Config
from mediacore.server.errors import ApiError
from mediacore.server.rooms import Rooms

log = logging.getLogger(__name__)

FORWARD_TIMEOUT_S = 10.0


def pinned_context(cert_pem: str) -> ssl.SSLContext:
    """A client context that trusts one certificate, and no name check: the peer must present
    exactly it (or a chain ending in it)."""
    context = ssl.create_default_context(cadata=cert_pem)
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


class Cluster:
    def __init__(
        self,
        config: Config,
        rooms: Rooms,
        bus: EventBus,
        counts: Counts,
        settings_of: Callable[[str], RoomSettings | None],
        redis: aioredis.Redis,
    ) -> None:
        self.redis = redis  # the node's client (the server's to close)
        self.rooms = rooms
        self.node = ClusterNode(config, self.redis, counts)
        self.directory = ClusterRooms(self.node, self.redis, rooms, bus, settings_of)
        self.events = ClusterEvents(self.node.name, self.redis, bus, self.directory.heard)
        self.failover = Failover(self.node, self.directory, rooms, bus, self.redis)
        self.secret: bytes | None = None  # signs forwarded requests (clustertrust.py)
        self.node.beats.append(self._learn_secret)
        self._clients: dict[tuple[str, str], httpx.AsyncClient] = {}

    def client(self, node: str) -> httpx.AsyncClient:
        """The client requests forwarded to `node` go by: over HTTPS it trusts exactly the
        certificate that node announces (self-signed ones included), whatever its names."""
        cert = self._cert(node)
        client = self._clients.get((node, cert))
        if client is None:
            verify = pinned_context(cert) if cert else True
            client = httpx.AsyncClient(timeout=FORWARD_TIMEOUT_S, verify=verify)
            self._clients[(node, cert)] = client
        return client

    def forwarder(
        self, app: ASGIApp, local: Callable[[], list[str]] = lambda: []
    ) -> ClusterForwarder:
        """A forwarder in front of `app` that asks and relays to this cluster's nodes;
        `local`: the rooms open on this node."""
        return ClusterForwarder(
            app,
            node=self.node,
            directory=self.directory,
            secret=lambda: self.secret,
            local=local,
            client=self.client,
            tls=self.tls,
        )

    def tls(self, node: str) -> ssl.SSLContext | None:
        """The context WebSockets to `node` open with (None: the system's trust)."""
        cert = self._cert(node)
        return pinned_context(cert) if cert else None

    def _cert(self, node: str) -> str:
        record = self.node.view.records.get(node)
        return record.cert if record is not None else ""

    async def start(self, config_rooms: tuple[RoomSettings, ...]) -> list[RoomSettings]:
        """Join the cluster; answers the config rooms this node opens (not those a live node
        elsewhere owns)."""
        await self.node.start()
        with contextlib.suppress(RedisError, OSError):
            await self._learn_secret()
            await self.directory.refresh()
        here = [settings for settings in config_rooms if await self.directory.claim_here(settings)]
        for settings in config_rooms:
            if settings not in here:
                log.info("config room owned by another node", extra={"room": settings.name})
        self.directory.follow()
        await self.events.start()
        log.info("cluster joined", extra={"node": self.node.name, "http": self.node.identity.http})
        return here

    async def stop(self) -> None:
        """Leave: rooms closing from now on stay in the directory (a survivor reopens them),
        and the node withdraws its announcement."""
        await self.directory.unfollow()
        await self.events.stop()
        await self.node.stop()
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    async def _learn_secret(self) -> None:
        if self.secret is None:
            await self.redis.set(keys.FORWARD_SECRET, secrets.token_hex(32), nx=True)
            found = await self.redis.get(keys.FORWARD_SECRET)
            self.secret = str(found).encode() if found else None

    async def nodes(self) -> list[dict[str, Any]]:
        """GET /api/v1/nodes: every node as Redis says now; 503 while it cannot be reached."""
        try:
            view = await self.node.read()
        except (RedisError, OSError):
            raise ApiError(
                503, "cluster-unreachable", "the cluster directory (Redis) is unreachable"
            ) from None
        return view.listing()

    async def drain(self, name: str, draining: bool) -> dict[str, Any]:
        """Drain node `name` (it takes no new rooms, and Kamailio sends it no calls for rooms
        not placed yet) or end its draining; its listing as it will read from its next beat."""
        try:
            view = await self.node.read()
            if name not in view.records:
                raise ApiError(404, "node-not-found", f"no node named {name!r}")
            if draining:
                await self.redis.set(keys.drain_key(name), "1")
            else:
                await self.redis.delete(keys.drain_key(name))
        except (RedisError, OSError):
            raise ApiError(
                503, "cluster-unreachable", "the cluster directory (Redis) is unreachable"
            ) from None
        listed = next(entry for entry in view.listing() if entry["name"] == name)
        if listed["state"] != DEAD:
            listed["state"] = DRAINING if draining else UP
        return listed

    def room_exists(self, room: str) -> bool:
        return self.directory.exists(room)
