"""The cluster's room directory: which node owns each room, and each room's definition.

A room this node opens (a config room at start, POST /rooms, a room made on demand) is claimed
in `mc:room:<room>` (node, sip, http, created) with its settings in `mc:roomdef:<room>` and its
name in `mc:rooms`. The claim is one Lua script, so two nodes never both own a room: it takes
an unowned room, keeps one already this node's, and takes over from a named owner only while
that owner is still the one written (a dead node's room, re-placed by clusterfailover.py).
A room that lost its claim to a live node is closed here again. A closed room leaves the
directory; rooms closing because this node stops stay in it, for a survivor to reopen."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mediacore.events import Event, EventBus
from mediacore.room import RoomError, RoomSettings
from mediacore.server import clusterredis as keys
from mediacore.server.clusternode import ClusterNode
from mediacore.server.clusterroomdefs import definition_json, room_definition
from mediacore.server.rooms import NoSuchRoom, Rooms

log = logging.getLogger(__name__)

STOPPING = "server-stopping"  # rooms closed by a stopping node: a survivor reopens them
LOST_CLAIM = "owned-elsewhere"

# KEYS: mc:room:<room>. ARGV: me, sip, http, created, the owner it may take over from ("").
# Answers the room's owner after the call: ARGV[1] when the claim holds.
_CLAIM = """
local owner = redis.call('HGET', KEYS[1], 'node')
if owner and owner ~= ARGV[1] and owner ~= ARGV[5] then
  return owner
end
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'sip', ARGV[2], 'http', ARGV[3])
redis.call('HSETNX', KEYS[1], 'created', ARGV[4])
return ARGV[1]
"""
# KEYS: mc:room:<room>, mc:roomdef:<room>, mc:rooms. ARGV: me, the room. Only the owner releases.
_RELEASE = """
if redis.call('HGET', KEYS[1], 'node') == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[2])
  return 1
end
return 0
"""


# KEYS: mc:room:<room>. ARGV: me, intake, intake_sip, intake_http ("": removed). Owner only.
_INTAKE = """
if redis.call('HGET', KEYS[1], 'node') ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], 'intake', 'intake_sip', 'intake_http')
else
  redis.call('HSET', KEYS[1], 'intake', ARGV[2], 'intake_sip', ARGV[3], 'intake_http', ARGV[4])
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Owner:
    node: str
    http: str
    sip: str


class ClusterRooms:
    def __init__(
        self,
        node: ClusterNode,
        redis: aioredis.Redis,
        rooms: Rooms,
        bus: EventBus,
        settings_of: Callable[[str], RoomSettings | None],
    ) -> None:
        """`settings_of`: an open room's settings, PIN included (events show whether a room
        has one, never the PIN), or None."""
        self.settings_of = settings_of
        self.node = node
        self.redis = redis
        self.rooms = rooms
        self.bus = bus
        self.owners: dict[str, str] = {}  # {room: node} as last read (every heartbeat)
        self.following = False
        self._closing: set[str] = set()  # closed here, its entry not released yet
        self._reopening: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        node.beats.append(self.refresh)

    async def claim(self, settings: RoomSettings, takeover_from: str = "") -> str:
        """Claim `settings.name` for this node; answers its owner afterwards (this node's
        name when the claim holds). Raises RedisError when Redis is unreachable."""
        identity = self.node.identity
        room = settings.name
        owner = await self.redis.eval(
            _CLAIM,
            1,
            keys.room_key(room),
            identity.name,
            identity.sip,
            identity.http,
            str(int(self.node.clock() / 1000)),
            takeover_from,
        )
        if owner == identity.name:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(keys.roomdef_key(room), definition_json(settings))
                pipe.sadd(keys.ROOMS, room)
                await pipe.execute()
            self.owners[room] = identity.name
        return str(owner)

    async def claim_here(self, settings: RoomSettings) -> bool:
        """Claim a room about to open here: True unless a live node owns it (a dead owner's
        room is taken over; Redis unreachable: opened here, claimed at the next event)."""
        try:
            owner = await self.owner(settings.name)
            dead = owner.node if owner is not None and not self.node.view.alive(owner.node) else ""
            return await self.claim(settings, takeover_from=dead) == self.node.name
        except (RedisError, OSError) as error:
            log.warning("room %s not claimed: %s", settings.name, error)
            return True

    async def owner(self, room: str) -> Owner | None:
        """The room's owner as the directory says (None: not placed). Raises RedisError."""
        fields = {
            str(k): str(v) for k, v in (await self.redis.hgetall(keys.room_key(room))).items()
        }
        if not fields.get("node"):
            return None
        return Owner(fields["node"], fields.get("http", ""), fields.get("sip", ""))

    async def set_intake(self, room: str, node: str, sip: str, http: str) -> None:
        """Name the node that takes the room's new legs (a node holding a shard of it):
        Kamailio and the forwarder send them there. Only the owner writes it. Raises
        RedisError."""
        await self.redis.eval(_INTAKE, 1, keys.room_key(room), self.node.name, node, sip, http)

    async def clear_intake(self, room: str) -> None:
        """The room takes its new legs at its owner again."""
        await self.redis.eval(_INTAKE, 1, keys.room_key(room), self.node.name, "", "", "")

    async def definition(self, room: str) -> RoomSettings | None:
        return await room_definition(self.redis, room)

    async def refresh(self) -> None:
        """Read every room's owner (each heartbeat): lists and the event stream use it."""
        names = sorted(str(name) for name in await self.redis.smembers(keys.ROOMS))
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hget(keys.room_key(name), "node")
            found = await pipe.execute()
        self.owners = {name: str(node) for name, node in zip(names, found, strict=True) if node}
        if self.following:
            self._reconcile()

    def _reconcile(self) -> None:
        """Make the directory and this node agree: a room open here that the directory does
        not have (opened while Redis was away) is claimed; one it gives to another live node
        (re-placed while this node was cut off from Redis) is closed here; one it gives to
        this node that is not open here (this node restarted) is reopened; a closed room the
        directory still has is released again."""
        me, view = self.node.name, self.node.view
        local = set(self.rooms.names())
        for room in sorted(local):
            owner = self.owners.get(room)
            if owner is None:
                self._spawn(self._opened(room))
            elif owner != me and view.alive(owner):
                log.warning("room now owned by node %s: closed here", owner, extra={"room": room})
                self._spawn(self._close_here(room))
        for room, owner in sorted(self.owners.items()):
            if owner != me or room in local or room in self._reopening:
                continue
            if room in self._closing:
                self._spawn(self._closed(room))
            else:
                self._reopening.add(room)
                self._spawn(self._reopen(room))

    async def _reopen(self, room: str) -> None:
        """Reopen a room the directory gives this node (read again: it may just have closed)."""
        try:
            owner = await self.owner(room)
            if owner is None or owner.node != self.node.name or room in self._closing:
                return
            settings = await self.definition(room)
            if settings is None or room in self.rooms.names():
                return
            await self.rooms.open(settings)
            log.warning("room of this node reopened from its definition", extra={"room": room})
        except (RedisError, OSError, ValueError, TypeError, RoomError) as error:
            log.warning("room %s not reopened: %s", room, error)
        finally:
            self._reopening.discard(room)

    def heard(self, node: str, event: Event) -> None:
        """Another node's event: its rooms opening and closing are known here at once,
        before the next heartbeat reads the directory."""
        if event.room is None:
            return
        if event.type == "room.opened":
            self.owners[event.room] = node
        elif event.type == "room.closed" and event.data.get("reason") != STOPPING:
            if self.owners.get(event.room) == node:  # a stopping node's rooms move instead
                del self.owners[event.room]

    def exists(self, room: str) -> bool:
        """Whether the room is open here or anywhere in the cluster (as last read)."""
        return room in self.owners or room in self.rooms.names()

    # -- following this node's rooms ---------------------------------------------------------

    def follow(self) -> None:
        """Claim the rooms this node opens, release those it closes (bus listener)."""
        self.following = True
        self.bus.listen(self._event)

    async def unfollow(self) -> None:
        """Stop following; claims and releases under way finish first."""
        self.following = False
        self.bus.unlisten(self._event)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)

    def _event(self, event: Event) -> None:
        if event.room is None or event.data.get("node") not in (None, self.node.name):
            return
        if event.type in ("room.opened", "room.updated"):  # claimed, its definition kept
            self._closing.discard(event.room)
            self._spawn(self._opened(event.room))
        elif event.type == "room.closed" and event.data.get("reason") not in (STOPPING, LOST_CLAIM):
            self._closing.add(event.room)  # not reopened while its entry is released
            self._spawn(self._closed(event.room))

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _opened(self, room: str) -> None:
        settings = self.settings_of(room)
        if settings is None or await self.claim_here(settings):
            return
        log.warning("room owned by another node: closed here", extra={"room": room})
        await self._close_here(room)

    async def _close_here(self, room: str) -> None:
        try:
            await self.rooms.close(room, LOST_CLAIM)
        except NoSuchRoom:
            pass

    async def _closed(self, room: str) -> None:
        me = self.node.name
        try:
            keys_ = (keys.room_key(room), keys.roomdef_key(room), keys.ROOMS)
            await self.redis.eval(_RELEASE, 3, *keys_, me, room)
        except (RedisError, OSError) as error:
            log.warning("closed room not released: %s", error, extra={"room": room})
            return  # released at a later heartbeat
        self._closing.discard(room)
        if self.owners.get(room) == me:
            del self.owners[room]
