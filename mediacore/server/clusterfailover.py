"""A dead node's rooms reopen on a survivor.

After each heartbeat, every live node looks for rooms whose owner is dead (clusterview.orphans)
and, when it is the one to take them over (clusterview.takes_over), claims each with
`SET mc:claim:<room> NX PX`, so exactly one survivor wins it; the winner takes the directory
entry over from the dead owner, reopens the room from `mc:roomdef:<room>` and publishes
`room.moved` with the old and the new node. The legs that were in the room call again on
their own (or are called again): this only brings the room back."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from mediacore.events import EventBus
from mediacore.room import RoomError
from mediacore.server import clusterredis as keys
from mediacore.server.clusternode import ClusterNode
from mediacore.server.clusterrooms import ClusterRooms
from mediacore.server.clusterview import orphans, takes_over
from mediacore.server.directory import RoomExists
from mediacore.server.rooms import Rooms

log = logging.getLogger(__name__)

CLAIM_MS = 10_000  # how long a survivor's claim on a room keeps the others off it


class Failover:
    def __init__(
        self,
        node: ClusterNode,
        directory: ClusterRooms,
        rooms: Rooms,
        bus: EventBus,
        redis: aioredis.Redis,
    ) -> None:
        self.node = node
        self.directory = directory
        self.rooms = rooms
        self.bus = bus
        self.redis = redis
        self.grace_ms = 2 * node.heartbeat_ms + node.view.dead_after_ms // 2
        self.orphaned_since: dict[str, float] = {}  # room: when this node first saw it orphaned
        node.beats.append(self.check)

    async def check(self) -> None:
        view, me = self.node.view, self.node.name
        found = orphans(view, self.directory.owners)
        now = view.clock()
        self.orphaned_since = {room: self.orphaned_since.get(room, now) for room in found}
        for room, dead in found.items():
            if takes_over(view, me, self.orphaned_since[room], self.grace_ms):
                await self._take(room, dead)

    async def _take(self, room: str, dead: str) -> None:
        me = self.node.name
        if not await self.redis.set(keys.claim_key(room), me, nx=True, px=CLAIM_MS):
            return  # another survivor has it
        try:
            settings = await self.directory.definition(room)
        except (ValueError, TypeError, RoomError) as error:
            log.error("room definition unusable: %s", error, extra={"room": room})
            return
        if settings is None or await self.directory.claim(settings, takeover_from=dead) != me:
            return
        self.orphaned_since.pop(room, None)
        if room not in self.rooms.names():
            try:
                await self.rooms.open(settings)
            except RoomExists:
                pass  # opened meanwhile (clusterrooms reopens what the directory gives it)
            except RoomError as error:
                log.error("room not reopened: %s", error, extra={"room": room})
                return
        log.warning("room re-placed from a dead node", extra={"room": room, "from": dead})
        self.bus.publish("room.moved", room, **{"from": dead, "to": me})
