"""What this node does so that a dead node's calls, gateways and recordings are not lost.

- clustercalls.py: its SIP calls are recorded in Redis each round, and the calls of a dead
  node's room this node reopens are carried on (re-INVITE, or dialled again), as are those its
  own previous process left when it comes back quickly after a crash.
- ownership.py: each radio gateway is called, and each trunk registered to, by one node at a
  time, the one holding its claim; a dead owner's claims lapse and a survivor calls its
  gateways again and registers its trunks.
- recordings a crash left open are recovered at start as on a single node (recorder/service.py);
  here each is told to the cluster as a `recording.recovered` event.

Runs only with `[cluster] redis`: a round after each of the node's heartbeats (clusternode.py),
so a node that stops announcing itself stops renewing its claims too."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis

from mediacore.events import EventBus
from mediacore.server.callstanding import CallStanding
from mediacore.server.clustercalls import ClusterCalls
from mediacore.server.clusternode import ClusterNode
from mediacore.server.config import Config
from mediacore.server.ownership import Ownership
from mediacore.server.sipservice import SipService

log = logging.getLogger(__name__)


class NodeFailure:
    def __init__(
        self,
        config: Config,
        node: ClusterNode,
        redis: aioredis.Redis,
        sip: SipService,
        bus: EventBus,
        rooms: Callable[[], Iterable[str]],
        standing: CallStanding | None = None,
    ) -> None:
        self.node = name = node.name
        self.heartbeat = node
        self.rooms = rooms
        self.bus = bus
        self.calls = ClusterCalls(name, redis, sip.agent, sip.dialer, sip.gateways, bus, standing)
        names = [gateway.name for gateway in config.radio_gateways]
        self.gateways = Ownership(redis, name, "gateway", names, config.cluster.dead_after_ms)
        sip.gateways.may_dial = self.gateways.owns
        registering = [registration.trunk.name for registration in sip.trunks]
        self.trunks = Ownership(redis, name, "trunk", registering, config.cluster.dead_after_ms)
        for registration in sip.trunks:
            registration.may_register = self.trunks.owns

    async def start(self, recovered: list[dict[str, Any]]) -> None:
        """Begin the rounds; `recovered`: the recordings this node's start recovered. Calls
        the previous process of this node left in rooms open here again carry on (a node
        restarted before the others declared it dead)."""
        await self.calls.resume_own(self.rooms())
        await self._claim()
        self.calls.follow()
        for recording in recovered:
            self.bus.publish("recording.recovered", None, **recording, recovered_by=self.node)
        self.heartbeat.beats.append(self._round)

    async def _round(self) -> None:
        await self._claim()
        await self.calls.sync()

    async def _claim(self) -> None:
        for name in sorted(await self.gateways.refresh()):
            log.info("radio gateway claimed", extra={"gateway": name})
            self.bus.publish("gateway.claimed", None, gateway=name, to_node=self.node)
        for name in sorted(await self.trunks.refresh()):
            log.info("trunk claimed", extra={"trunk": name})
            self.bus.publish("trunk.claimed", None, trunk=name, to_node=self.node)

    async def stop(self) -> None:
        """A clean stop: the calls end with the node, and the gateways go to the others now."""
        if self._round in self.heartbeat.beats:
            self.heartbeat.beats.remove(self._round)
        await self.calls.stop()
        await self.calls.withdraw()
        await self.gateways.release()
        await self.trunks.release()
