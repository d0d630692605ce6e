"""This node's shards of other nodes' rooms (the guest's side of a room spanning nodes).

The owner opens the shard (`room.open` through the internal route, clustershards.py) and
drives it from then on (a leg moving into another node's room, or monitoring or transmitting
into it, asks its owner for the shard, `room.grow`, which opens on the leg's worker); the guest
keeps a PlacedRoom with `owner` set in its ShardedRooms, so that SIP calls and new legs
arriving here join its shard, and passes the owner's requests to the worker holding it. A
worker of this node that dies takes its shards of other nodes' rooms along: the owner hears
their legs leave and drops the shard (it cannot be linked again from here), and the SIP calls
here end."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from mediacore.clock import iso8601
from mediacore.room import RoomError, RoomSettings
from mediacore.server.directory import RoomExists
from mediacore.server.rooms import WORKER_LOST, NoSuchRoom
from mediacore.server.shardedrooms import (
    NotClustered,
    PlacedRoom,
    Shard,
    ShardedRooms,
    local_worker,
)
from mediacore.server.workers import WorkerProcess

log = logging.getLogger(__name__)


class GuestShards:
    def __init__(self, sharded: ShardedRooms) -> None:
        self.sharded = sharded
        sharded.lost_listeners.append(self._lost)

    async def serve(
        self, node: str, room: str, method: str, data: dict[str, Any]
    ) -> tuple[Any, int]:
        """Node `node`'s request about `room`: (the answer, the worker's id). Mostly the
        owner's to this node's shard of its room; `room.grow` is the other way round (a leg of
        `node` moves into this node's room, or its relay joins it: grow it there),
        `participant.update` changes a leg of the shard here (its relays reach rooms from
        here), and `participant.move` moves a leg of the shard here into another room, or,
        asked of this node's own room, a participant of that room (wherever its leg is: a
        one-to-one call of `node` brings it in, or back).
        A worker's failures are raised as RequestFailed (their kinds go back as they are)."""
        placed = self.sharded.rooms.get(room)
        if method == "room.grow":
            source = data.get("source")
            moving = None if source is None else _settings(source)
            await self.sharded.grow_for_leg(room, node, moving)
            return None, self.sharded.placed(room).home_worker.id
        if method == "participant.move" and placed is not None and placed.owner is None:
            entry = await self.sharded.move(room, str(data.get("participant")), str(data.get("to")))
            return entry, placed.home_worker.id
        if method == "room.open" and placed is None:
            return await self._open(node, room, data)
        if method == "room.open" and placed is not None and placed.owner != node:
            raise RoomExists(f"room {room!r} is open here, not as node {node!r}'s")
        if placed is None or placed.owner != node:
            raise NoSuchRoom(f"no shard of room {room!r} of node {node!r} here")
        worker = local_worker(placed.shards[0])
        if method == "room.open":  # asked again: it is open
            return await worker.request("room.summary", room=room), worker.id
        if method == "room.close":
            await self.sharded.close_quietly(room, str(data.get("reason", "closed")))
            return None, worker.id
        if method == "participant.move":  # this node moves the leg (ShardedRooms.move)
            entry = await self.sharded.move(room, str(data.get("participant")), str(data.get("to")))
            return entry, worker.id
        if method == "participant.update":  # its relays join rooms here (ShardedRooms.update)
            changes = data.get("changes")
            if not isinstance(changes, dict):
                raise RoomError("changes must be an object")
            entry = await self.sharded.update(room, str(data.get("participant")), changes)
            return entry, worker.id
        answer = await worker.request(method, **{**data, "room": room})
        if method == "room.change":
            placed.settings = RoomSettings(**{**asdict(placed.settings), **data["changes"]})
        return answer, worker.id

    async def _open(self, owner: str, room: str, data: dict[str, Any]) -> tuple[Any, int]:
        if self.sharded.nodes is None:
            raise NotClustered("this node is not in a cluster")
        settings = _settings(data.get("settings"))
        if settings.name != room:
            raise RoomError("the settings name another room")
        worker = self.sharded.guest_worker(room)
        if worker is None:
            raise RoomError("no media worker is running")
        rooms = self.sharded.rooms
        rooms[room] = PlacedRoom(settings, [Shard(worker, home=False)], owner=owner)
        try:
            answer = await worker.request("room.open", settings=asdict(settings), home=False)
        except BaseException:
            rooms.pop(room, None)
            raise
        log.info("shard of another node's room opened", extra={"room": room, "node": owner})
        return answer, worker.id

    def _lost(self, worker: WorkerProcess) -> None:
        for name, placed in list(self.sharded.rooms.items()):
            shard = placed.shards[0]
            if placed.owner is not None and shard.worker is worker:
                self._shard_lost(name, placed.owner, shard)

    def _shard_lost(self, name: str, owner: str, shard: Shard) -> None:
        """The owner hears the shard's legs leave and drops it; SIP calls here end."""
        nodes = self.sharded.nodes
        if nodes is not None:
            at = iso8601(datetime.now(UTC))
            for participant in sorted(shard.participants):
                left = {"participant": participant, "reason": WORKER_LOST}
                notice = {"room": name, "type": "participant.left", "data": left, "at": at}
                nodes.tell_owner(owner, name, "event", notice)
            nodes.tell_owner(owner, name, "shard.lost", {})
        del self.sharded.rooms[name]
        view = self.sharded.call_rooms.pop(name, None)
        if view is not None:
            for participant in list(view.participants):
                view.left(participant, WORKER_LOST)


def _settings(found: Any) -> RoomSettings:
    """A room's settings as another node sent them; RoomError when they are not."""
    try:
        return RoomSettings(**found).validate()
    except (TypeError, ValueError) as error:
        raise RoomError(f"bad room settings: {error}") from None
