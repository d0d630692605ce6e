"""This node in the cluster: who it is, its heartbeat, and what it knows of the others.

Every `heartbeat_ms` the node writes its announcement (`mc:node:<name>`, PEXPIRE 60 s), adds
its name to `mc:nodes`, reads every node's announcement into its `ClusterView`
(clusterview.py) and writes `mc:least`, the SIP address of the least-loaded live node. On a
clean stop it withdraws its announcement, so the others see it gone at once instead of after
`dead_after_ms`.

Redis unreachable: every command gives up within a second (clusterredis.connect); the node
logs once, keeps serving what it holds, and tries again each heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mediacore.server import clusterredis as keys
from mediacore.server.certificates import CERT_FILE, TLS_FOLDER
from mediacore.server.clusterload import LoadMeter
from mediacore.server.clusterview import DRAINING, UP, ClusterView, NodeRecord
from mediacore.server.config import Config

log = logging.getLogger(__name__)

ANNOUNCEMENT_TTL_MS = 60_000
# KEYS: mc:node:<me>, mc:drain:<me>, mc:nodes. ARGV: the TTL (ms), my name, then the
# announcement's field, value pairs. Answers the state announced: draining while drained.
_ANNOUNCE = f"""
local state = '{UP}'
if redis.call('EXISTS', KEYS[2]) == 1 then state = '{DRAINING}' end
redis.call('HSET', KEYS[1], 'state', state, unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
return state
"""
Counts = Callable[[], tuple[int, int]]  # (rooms, legs) open on this node now


def wall_ms() -> float:
    return time.time() * 1000


@dataclass(frozen=True, slots=True)
class Identity:
    """How the other nodes, Kamailio and clients reach this node."""

    name: str
    address: str
    http: str  # base URL of its API
    sip: str  # ADDR:PORT
    cert: str = ""  # PEM of its HTTPS certificate ("" on plain HTTP, or not made yet)

    @classmethod
    def of(cls, config: Config) -> Identity:
        """From `[cluster]` and `[server]`: the name defaults to the host name, the address
        to `[server] host` (config.py refuses an unspecified host without `advertise`)."""
        server, cluster = config.server, config.cluster
        name = cluster.node_name
        address = cluster.advertise or server.host
        host = f"[{address}]" if ":" in address else address
        scheme = "http" if server.insecure_http else "https"
        http, sip = f"{scheme}://{host}:{server.http_port}", f"{host}:{config.sip.port}"
        if server.insecure_http:
            return cls(name, address, http, sip)
        cert = (
            Path(server.tls_cert) if server.tls_cert else config.data_dir / TLS_FOLDER / CERT_FILE
        )
        try:
            return cls(name, address, http, sip, cert.read_text(encoding="ascii"))
        except (OSError, ValueError):  # none yet (a server made without the runner)
            return cls(name, address, http, sip)


class ClusterNode:
    def __init__(
        self,
        config: Config,
        redis: aioredis.Redis,
        counts: Counts,
        meter: LoadMeter | None = None,
        clock: Callable[[], float] = wall_ms,
    ) -> None:
        self.identity = Identity.of(config)
        self.heartbeat_ms = config.cluster.heartbeat_ms
        self.redis = redis
        self.counts = counts
        self.meter = meter or LoadMeter()
        self.clock = clock
        self.view = ClusterView(config.cluster.dead_after_ms, clock)
        self.started = int(clock() / 1000)
        self.state = UP
        self.reachable = False  # whether the last heartbeat reached Redis
        self.beats: list[Callable[[], Awaitable[None]]] = []  # run after each good heartbeat
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._complained = False

    @property
    def name(self) -> str:
        return self.identity.name

    def record(self) -> NodeRecord:
        rooms, legs = self.counts()
        identity = self.identity
        return NodeRecord(
            name=identity.name,
            address=identity.address,
            http=identity.http,
            sip=identity.sip,
            cert=identity.cert,
            state=self.state,
            rooms=rooms,
            legs=legs,
            cores=self.meter.cores,
            load=self.meter.read(),
            started=self.started,
            last_seen=int(self.clock()),
        )

    async def beat(self) -> bool:
        """Announce this node and read the others; False when Redis could not be reached."""
        try:
            await self._announce()
            await self.read()
            least = self.view.least_loaded()
            if least is not None:
                await self.redis.set(keys.LEAST, least.sip)
        except (RedisError, OSError) as error:
            self._unreachable(error)
            return False
        if not self.reachable:
            log.info("cluster directory reached", extra={"node": self.name})
        self.reachable, self._complained = True, False
        return True

    async def _announce(self) -> None:
        """One round trip: the announcement, with the state an admin's drain key says."""
        announcement = self.record().to_hash()
        announcement.pop("state", None)
        pairs = [item for field in announcement.items() for item in field]
        state = await self.redis.eval(
            _ANNOUNCE,
            3,
            keys.node_key(self.name),
            keys.drain_key(self.name),
            keys.NODES,
            ANNOUNCEMENT_TTL_MS,
            self.name,
            *pairs,
        )
        self.state = DRAINING if state == DRAINING else UP

    async def read(self) -> ClusterView:
        """Every node's announcement into the view (raises RedisError when unreachable)."""
        names = sorted(str(name) for name in await self.redis.smembers(keys.NODES))
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(keys.node_key(name))
            hashes = await pipe.execute()
        self.view.update(NodeRecord.from_hash(n, h) for n, h in zip(names, hashes, strict=True))
        return self.view

    def _unreachable(self, error: Exception) -> None:
        self.reachable = False
        if not self._complained:  # once per outage, not every heartbeat
            self._complained = True
            log.warning(
                "cluster directory unreachable; serving on and retrying",
                extra={"node": self.name, "error": str(error)},
            )

    async def start(self) -> None:
        await self.beat()
        self._stopping = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(self._stopping))

    async def _run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.heartbeat_ms / 1000)
                return
            if await self.beat():
                for after in self.beats:
                    try:
                        await after()
                    except (RedisError, OSError) as error:
                        self._unreachable(error)
                    except Exception:  # one failing duty must not stop the heartbeat
                        log.exception("cluster duty failed", extra={"node": self.name})

    async def stop(self) -> None:
        """Stop beating and withdraw the announcement (the others see this node gone now)."""
        if self._task is not None:
            self._stopping.set()
            await asyncio.wait([self._task], timeout=5.0)  # a beat under way ends first
            self._task.cancel()
            self._task = None
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(keys.node_key(self.name))
