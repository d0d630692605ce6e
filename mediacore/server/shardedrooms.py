"""Rooms placed on media workers: placement, shards, and the one floor of a spanning room.

A new room goes to the least-loaded worker, which becomes its home shard (it keeps the floor).
When every shard of a room holds `max_legs_per_shard` legs, the next leg opens a shard on
another worker, joined to every other shard by cascade links (mediacore/cascade.py). The API's
calls (mediacore.server.rooms.Rooms) are answered by asking the shards over their channels
and putting their answers together, so a spanning room looks like one room.

In a cluster a shard may live on another node (remoteshard.py says how): its worker is then a
RemoteShardWorker, and that node (the guest) keeps a PlacedRoom of its own whose `owner` names
the room's node (guestshards.py); its legs join there, and what its shard's worker says of the
room goes to the owner, which publishes it. A leg moved into another node's room stays where
it is: that room's owner grows the room onto the leg's node (`move`, `grow_for_leg`), as it
does for the relays of a leg monitoring or transmitting into that room (`update`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

from mediacore.channel import Notification
from mediacore.channelio import RequestFailed
from mediacore.clock import MONOTONIC
from mediacore.clockphase import next_shard_phase
from mediacore.events import Event, EventBus
from mediacore.mixing import Audiences
from mediacore.offeranswer import OfferAnswerError
from mediacore.relays import relayed_rooms
from mediacore.room import MOVED, RELAYED_CHANGES, RoomClosed, RoomError, RoomFull, RoomSettings
from mediacore.server.callroom import CallRoomView, RemoteLeg
from mediacore.server.directory import MAX_ROOMS, RoomExists
from mediacore.server.metricsdata import RoomSnapshot
from mediacore.server.remoteshard import RemoteShardWorker, UnknownNode
from mediacore.server.rooms import (
    ROOM_FAILURES,
    WORKER_LOST,
    FloorAction,
    LegRequest,
    NodeDown,
    NoRunningShard,
    NoSuchParticipant,
    NoSuchRoom,
    NotMovable,
    NotReachable,
    check_move,
)
from mediacore.server.whisperbook import WhisperBook
from mediacore.server.workers import WorkerPool, WorkerProcess

log = logging.getLogger(__name__)

WorkerNotified = Callable[[WorkerProcess, dict[str, Any]], None]  # (worker, notification data)
ShardWorker = WorkerProcess | RemoteShardWorker  # a shard's worker: here, or on another node
OWNER_GONE = "owner-gone"  # a guest's shard closed: the room's owner node died
NOTICE_WAIT = 2.0  # seconds a move waits for the room's owner to hear of it


class AlreadySpanned(RoomError):
    """The room has a shard on that node already (or it is the room's own node)."""


class NotClustered(RoomError):
    """Only a clustered node's room spans nodes."""


class ShardNodes(Protocol):
    """The cluster as a room spanning nodes needs it (shardnodes.ShardNodes)."""

    @property
    def name(self) -> str: ...

    @property
    def max_legs_per_node(self) -> int: ...

    def alive(self, node: str) -> bool: ...

    def worker(self, node: str, room: str) -> RemoteShardWorker: ...

    def spare(self, exclude: frozenset[str]) -> str | None: ...

    def tell_owner(self, owner: str, room: str, event: str, data: dict[str, Any]) -> None: ...

    async def sent(self, owner: str, timeout: float) -> None: ...

    async def owner(self, room: str) -> str | None: ...

    def intake(self, room: str, node: str | None) -> None: ...

    async def write_intake(self, room: str, node: str | None) -> None: ...


@dataclass(slots=True)
class Shard:
    worker: ShardWorker
    home: bool
    participants: set[str] = field(default_factory=set)
    reserved: int = 0  # legs on their way in
    node: str | None = None  # the node it is on, when not this one (a RemoteShardWorker's)
    phase: float | None = None  # where in the ptime its clock ticks (mediacore/clockphase.py)

    @property
    def local(self) -> WorkerProcess | None:
        """Its worker when it is one of this node's."""
        return self.worker if isinstance(self.worker, WorkerProcess) else None

    @property
    def load(self) -> int:
        return len(self.participants) + self.reserved


@dataclass(slots=True)
class PlacedRoom:
    settings: RoomSettings
    shards: list[Shard]
    growing: asyncio.Lock = field(default_factory=asyncio.Lock)
    owner: str | None = None  # a guest's room: the node that owns it (None: this node's own)

    @property
    def home(self) -> Shard:
        return self.shards[0]

    @property
    def home_worker(self) -> WorkerProcess:
        """The worker of the home shard (always on the room's own node)."""
        return local_worker(self.home)

    def shard_of(self, participant: str) -> Shard | None:
        return next((s for s in self.shards if participant in s.participants), None)


class ShardedRooms:
    """The room calls of the control API, answered by rooms on media workers."""

    def __init__(self, pool: WorkerPool, bus: EventBus, max_legs_per_shard: int) -> None:
        self.pool = pool
        self.bus = bus
        self.max_legs_per_shard = max_legs_per_shard
        self.rooms: dict[str, PlacedRoom] = {}
        self.call_rooms: dict[str, CallRoomView] = {}  # rooms as SIP calls see them
        self.remote_legs: dict[str, RemoteLeg] = {}  # SIP calls' legs, by leg id
        self._housekeeping: asyncio.Task[None] | None = None
        # The glue of other services (WebRTC peers, video, recordings): what workers say
        # beyond rooms, the events of each worker (with who sent them), and workers that died.
        self.notification_listeners: dict[str, WorkerNotified] = {}
        self.event_observers: list[Callable[[WorkerProcess, Event], None]] = []
        self.lost_listeners: list[Callable[[WorkerProcess], None]] = []
        # Roster fields other services keep for a participant (a camera's pull state).
        self.participant_fields: list[Callable[[str], dict[str, Any]]] = []
        self.whisper_book = WhisperBook(bus, self._require, self._push_whispers)
        # Each participant's changes through `update` (monitors, gain, hearing...): a worker
        # that dies takes them along, and the calls it carried get them again when resumed.
        self._standing: dict[str, dict[str, Any]] = {}
        # In a cluster (app.py sets it): rooms spanning nodes, guests' rooms of other owners.
        self.nodes: ShardNodes | None = None
        self._spanning: set[str] = set()  # rooms growing onto another node on their own
        # Other nodes' rooms a leg moves into: their shard here opens on the leg's worker.
        self._guest_workers: dict[str, WorkerProcess] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        pool.on_notification = self._notified
        pool.on_restart = self._restore
        pool.on_lost = self._lost

    def names(self) -> list[str]:
        """This node's rooms (not the shards it holds of other nodes' rooms)."""
        return [name for name, placed in self.rooms.items() if placed.owner is None]

    def open_here(self) -> list[str]:
        """The rooms open on this node: its own and those it holds a shard of."""
        return list(self.rooms)

    def takes_legs(self, room: str) -> bool:
        """Whether new legs of `room` join here: its own room, or a shard of another node's."""
        return room in self.rooms

    async def start(self) -> None:
        """Start the workers; SIP calls' rooms are checked once a second from then on."""
        await self.pool.start()
        self._housekeeping = asyncio.get_running_loop().create_task(self._every_second())

    async def stop(self) -> None:
        """Stop the workers: each hangs up its legs first."""
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        await self.pool.stop()

    async def _every_second(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = MONOTONIC.now()
            for view in list(self.call_rooms.values()):
                view.check(now)
            if self.nodes is not None:
                self._check_nodes(self.nodes)

    # -- SIP calls ------------------------------------------------------------------------

    def call_room(self, name: str) -> CallRoomView | None:
        """The room `name` as SIP calls see it, or None when no such room is open."""
        if name not in self.rooms:
            return None
        view = self.call_rooms.get(name)
        if view is None:
            view = self.call_rooms[name] = CallRoomView(self, name)
        return view

    def settings(self, room: str) -> RoomSettings:
        return self.placed(room).settings

    def legs_in(self, room: str) -> int:
        return sum(s.load for s in self.placed(room).shards)

    def local_legs(self) -> int:
        """The legs this node's workers hold, of its rooms and of other nodes' rooms."""
        return sum(s.load for p in self.rooms.values() for s in p.shards if s.node is None)

    async def worker_for_new_leg(self, room: str) -> WorkerProcess:
        """The worker of the shard a new leg of `room` goes to (a new shard if all are full)."""
        return local_worker(await self._shard_for_new_leg(self.placed(room)))

    def adopt(self, leg: RemoteLeg) -> RemoteLeg:
        """Track a SIP call's leg, so that what its worker says of it reaches it."""
        self.remote_legs[leg.id] = leg
        return leg

    async def ask(self, worker: WorkerProcess, method: str, **data: Any) -> Any:
        return await _ask(worker, method, **data)

    def placed(self, name: str) -> PlacedRoom:
        room = self.rooms.get(name)
        if room is None:
            raise NoSuchRoom(f"no room named {name!r}")
        return room

    # -- rooms ----------------------------------------------------------------------------

    async def open(self, settings: RoomSettings) -> dict[str, Any]:
        settings = settings.validate()
        guest = self.rooms.get(settings.name)
        if guest is not None and guest.owner is not None:  # its owner died: it moves here
            await self.close_quietly(settings.name, OWNER_GONE)
        if settings.name in self.rooms:
            raise RoomExists(f"room {settings.name!r} exists")
        if len(self.rooms) >= MAX_ROOMS:
            raise RoomError(f"at most {MAX_ROOMS} rooms")
        worker = self.least_loaded()
        if worker is None:
            raise RoomError("no media worker is running")
        home = Shard(worker, home=True)
        room = PlacedRoom(settings, [home])
        self.rooms[settings.name] = room
        try:
            opened = await _ask(worker, "room.open", settings=asdict(settings), home=True)
            home.phase = _phase(opened)
        except BaseException:
            self.rooms.pop(settings.name, None)
            raise
        return await self.summary(settings.name)

    async def close(self, room: str, reason: str) -> None:
        placed = self.placed(room)
        del self.rooms[room]
        view = self.call_rooms.pop(room, None)
        # The other shards first: the home shard's close is the room's "room.closed".
        for shard in list(reversed(placed.shards)):  # (one may go meanwhile)
            try:
                await _ask(shard.worker, "room.close", room=room, reason=reason)
            except (ConnectionError, NoSuchRoom):
                pass  # its worker died: the room went with it
        if view is not None:  # calls whose leaving the closed room did not report
            for participant in list(view.participants):
                view.left(participant, reason)

    async def change(self, room: str, changes: dict[str, Any]) -> dict[str, Any]:
        placed = self.placed(room)
        for shard in list(placed.shards):
            await _ask(shard.worker, "room.change", room=room, changes=changes)
        placed.settings = RoomSettings(**{**asdict(placed.settings), **changes})
        return await self.summary(room)

    async def summary(self, room: str) -> dict[str, Any]:
        shards = list(self.placed(room).shards)  # as asked (one may go meanwhile)
        parts = await asyncio.gather(
            *(_ask_running(s.worker, "room.summary", room=room) for s in shards)
        )
        if all(part is None for part in parts):
            raise NoRunningShard(f"room {room!r} has no running shard")
        return _merged_summary(shards, parts, self._where)

    async def summaries(self, names: list[str]) -> list[dict[str, Any]]:
        """The summaries of the open rooms among `names`: one request per worker, not per room."""
        # each room's shards as asked (one may go, or come, meanwhile)
        placed = {name: list(self.rooms[name].shards) for name in names if name in self.rooms}
        workers = list({id(s.worker): s.worker for p in placed.values() for s in p}.values())
        answers = await asyncio.gather(
            *(
                _ask_running(
                    w,
                    "room.summaries",
                    rooms=[n for n, p in placed.items() if any(s.worker is w for s in p)],
                )
                for w in workers
            )
        )
        by_worker = {id(w): answer or {} for w, answer in zip(workers, answers, strict=True)}
        merged = []
        for name, shards in placed.items():
            parts = [by_worker[id(s.worker)].get(name) for s in shards]
            if any(part is not None for part in parts):  # a room closing meanwhile is left out
                merged.append(_merged_summary(shards, parts, self._where))
        return merged

    # -- participants ---------------------------------------------------------------------

    async def roster(self, room: str) -> list[dict[str, Any]]:
        shards = list(self.placed(room).shards)  # as asked (one may go meanwhile)
        parts = await asyncio.gather(
            *(_ask_running(s.worker, "room.roster", room=room) for s in shards)
        )
        return [
            {**entry, **self._fields_of(room, entry["id"]), **self._where(shard)}
            for shard, entries in zip(shards, parts, strict=True)
            for entry in entries or ()  # a restarting shard has no legs
        ]

    async def participant(self, room: str, participant: str) -> dict[str, Any]:
        shard = self._shard(room, participant)
        entry = await _ask(shard.worker, "participant.get", room=room, participant=participant)
        return {**entry, **self._fields_of(room, participant), **self._where(shard)}

    def _where(self, shard: Shard) -> dict[str, Any]:
        """Where a shard runs, as summaries and rosters say: its worker (and in a cluster its
        node)."""
        if self.nodes is None:
            return {"worker": shard.worker.id}
        return {"worker": shard.worker.id, "node": shard.node or self.nodes.name}

    def _fields_of(self, room: str, participant: str) -> dict[str, Any]:
        """What control knows of a participant besides its worker: a SIP call's dialog, a
        camera's pull."""
        view = self.call_rooms.get(room)
        fields = view.call_fields(participant) if view is not None else {}
        for more in self.participant_fields:
            fields = {**fields, **more(participant)}
        return fields

    async def update(self, room: str, participant: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change a participant. Its relays (monitor, transmit, broadcast) join the rooms it
        reaches on its own worker: a room of this node grows a shard there, and in a cluster
        another node's room grows onto this node, its shard here opened on the leg's worker;
        a leg on another node's shard of `room` is changed by that node (GuestShards.serve).
        Raises NoSuchRoom, NodeDown (a reached room's node is), NotReachable (its shard here is
        on another worker), and the worker's refusals."""
        shard = self._shard(room, participant)
        relayed = {key: changes[key] for key in RELAYED_CHANGES & set(changes)}
        reached: list[PlacedRoom] = []
        if relayed and shard.node is None:
            worker = local_worker(shard)
            for name in sorted(relayed_rooms(relayed) - {room}):
                reached.append(await self._reached(name, worker))
        entry = await _ask(
            shard.worker, "participant.update", room=room, participant=participant, changes=changes
        )
        self._standing.setdefault(participant, {}).update(changes)
        await self._owners_told(*reached)  # their owners list the relays
        return {**entry, **self._where(shard)}

    async def _reached(self, name: str, worker: WorkerProcess) -> PlacedRoom:
        """Room `name` with a shard on `worker`, where a relay of a leg there joins it."""
        placed = self.rooms.get(name)
        if placed is not None and placed.owner is None:
            await self._shard_on(placed, worker)
            return placed
        try:
            return await self._guest_room(None, name, worker)
        except NotMovable as error:
            raise NotReachable(str(error)) from None

    async def remove(self, room: str, participant: str, reason: str) -> None:
        shard = self._shard(room, participant)
        await _ask(
            shard.worker, "participant.remove", room=room, participant=participant, reason=reason
        )

    async def hold(
        self, room: str, participant: str, by: str, music: str | None = None
    ) -> dict[str, Any]:
        shard = self._shard(room, participant)
        entry = await _ask(
            shard.worker, "participant.hold", room=room, participant=participant, by=by,
            music=music,
        )  # fmt: skip
        return {**entry, **self._fields_of(room, participant), **self._where(shard)}

    async def resume(self, room: str, participant: str, by: str) -> dict[str, Any]:
        shard = self._shard(room, participant)
        entry = await _ask(
            shard.worker, "participant.resume", room=room, participant=participant, by=by
        )
        return {**entry, **self._fields_of(room, participant), **self._where(shard)}

    async def move(self, room: str, participant: str, to: str) -> dict[str, Any]:
        """The leg stays in the worker that holds its socket: the target room gets a shard
        there if it has none (linked to its others), and the worker moves the participant.
        In a cluster, a leg on another node's shard of `room` is moved by that node, a room
        another node owns grows a shard onto this node's worker holding the leg, and a
        participant of a room another node owns (not open here) is moved by that owner."""
        if room not in self.rooms and self.nodes is not None:
            return await self._moved_by_owner(self.nodes, room, participant, to)
        source, target = self.placed(room), self.rooms.get(to)
        shard = self._shard(room, participant)
        if target is not None:
            check_move(source.settings, target.settings)
        if shard.node is not None:  # the leg's node moves it (GuestShards.serve)
            entry = await _ask(
                shard.worker, "participant.move", room=room, participant=participant, to=to
            )
            shard.participants.discard(participant)
            return dict(entry)
        worker = local_worker(shard)
        if target is None or target.owner is not None:
            target = await self._guest_room(source, to, worker)
            check_move(source.settings, target.settings)
        self._check_capacity(target)
        into = await self._shard_on(target, worker)
        into.reserved += 1
        try:
            entry = await _ask(
                worker, "participant.move", room=room, participant=participant, to=to
            )
        finally:
            into.reserved -= 1
        shard.participants.discard(participant)
        into.participants.add(participant)
        view = self.call_rooms.get(room)
        call = view.hand_over(participant) if view is not None else None
        if call is not None:
            new_view = self.call_room(to)
            assert new_view is not None
            new_view.take_over(call)
        await self._owners_told(source, target)
        return {**entry, **self._fields_of(to, participant), **self._where(shard)}

    async def _moved_by_owner(
        self, nodes: ShardNodes, room: str, participant: str, to: str
    ) -> dict[str, Any]:
        """Have the node that owns `room` (open on another node only) move `participant` into
        `to` (GuestShards.serve). Raises NoSuchRoom, NodeDown, and the owner's refusals."""
        owner = await nodes.owner(room)
        if owner is None or owner == nodes.name:
            raise NoSuchRoom(f"no room named {room!r}")
        try:
            proxy = nodes.worker(owner, room)
        except UnknownNode:
            raise NodeDown(f"room {room!r} is on node {owner!r}, which is down") from None
        try:
            entry = await _ask(proxy, "participant.move", room=room, participant=participant, to=to)
        except ConnectionError as error:
            raise NodeDown(f"node {owner!r} of room {room!r} did not answer: {error}") from None
        return dict(entry)

    async def _guest_room(
        self, source: PlacedRoom | None, to: str, worker: WorkerProcess
    ) -> PlacedRoom:
        """This node's shard of another node's room `to`, on `worker` (a leg moving in keeps
        its worker, and a leg's relays join rooms on its worker): the room's owner checks a
        move from `source` (its format, its capacity across its shards; None: a relay, which
        the worker checks as it does here) and grows the room onto this node unless it is here
        already. Raises NoSuchRoom, NodeDown (its owner is), NotMovable (its shard here is on
        another worker), and the owner's refusals."""
        nodes, found = self.nodes, self.rooms.get(to)
        owner = found.owner if found is not None else None
        if owner is None and nodes is not None:
            owner = await nodes.owner(to)
        if nodes is None or owner is None or owner == nodes.name:
            raise NoSuchRoom(f"no room named {to!r}")
        try:
            proxy = nodes.worker(owner, to)
        except UnknownNode:
            raise NodeDown(f"room {to!r} is on node {owner!r}, which is down") from None
        self._check_worker(found, to, worker)
        if self._guest_workers.setdefault(to, worker) is not worker:
            raise NotMovable(f"a move into room {to!r} from another media worker is under way")
        try:
            moving = {} if source is None else {"source": asdict(source.settings)}
            await _ask(proxy, "room.grow", **moving)
        except RequestFailed as failed:  # not a room's failure (the owner does not see us)
            raise NotMovable(f"node {owner!r} did not grow room {to!r} here: {failed}") from None
        finally:
            self._guest_workers.pop(to, None)
        grown = self.rooms.get(to)
        if grown is None or grown.owner != owner:
            raise NoSuchRoom(f"room {to!r} closed meanwhile")
        self._check_worker(grown, to, worker)
        return grown

    @staticmethod
    def _check_worker(placed: PlacedRoom | None, to: str, worker: WorkerProcess) -> None:
        """NotMovable when this node's shard of another node's room `to` is on a worker other
        than `worker` (a guest's room keeps its one shard, and a leg its worker)."""
        if placed is not None and placed.home_worker is not worker:
            raise NotMovable(
                f"room {to!r} has its shard on this node on media worker "
                f"{placed.home_worker.id}, the leg is on worker {worker.id}: a leg cannot "
                "change workers"
            )

    def guest_worker(self, room: str) -> WorkerProcess | None:
        """The worker a shard of another node's `room` opens on: the one a leg moving into
        it is on, else the least-loaded."""
        return self._guest_workers.get(room) or self.least_loaded()

    async def _owners_told(self, *rooms: PlacedRoom) -> None:
        """After a move or a join, wait until the owners of other nodes' rooms among `rooms`
        have heard its events, so that their APIs find the participant where it is now."""
        if self.nodes is None:
            return
        for owner in sorted({p.owner for p in rooms if p.owner is not None}):
            await self.nodes.sent(owner, NOTICE_WAIT)

    def _check_capacity(self, placed: PlacedRoom) -> None:
        """RoomFull when the room's shards hold `max_participants` legs (or legs on their
        way in)."""
        limit = placed.settings.max_participants
        if sum(s.load for s in placed.shards) >= limit:
            raise RoomFull(f"room {placed.settings.name!r} is full ({limit} participants)")

    async def add_rtp_leg(
        self, room: str, offer: str, leg: LegRequest
    ) -> tuple[dict[str, Any], str]:
        _, answer = await self.add_leg(room, "leg.rtp", offer=offer, leg=leg.to_json())
        return answer["participant"], answer["answer"]

    async def add_leg(
        self, room: str, method: str, **data: Any
    ) -> tuple[WorkerProcess, dict[str, Any]]:
        """Ask the shard a new leg of `room` goes to for it (`method`, "leg.rtp" say), the
        room's capacity counted across its shards. The answer names the new participant; in a
        shard here of another node's room it comes once that node has heard of the leg."""
        placed = self.placed(room)
        self._check_capacity(placed)
        shard = await self._shard_for_new_leg(placed)
        shard.reserved += 1
        try:
            answer: dict[str, Any] = await _ask(shard.worker, method, room=room, **data)
        finally:
            shard.reserved -= 1
        shard.participants.add(answer["participant"]["id"])
        self._maybe_span(placed)
        await self._owners_told(placed)  # its worker's "participant.joined" is told already
        return local_worker(shard), answer

    def locate(self, participant: str) -> str | None:
        return next(
            (name for name, placed in self.rooms.items() if placed.shard_of(participant)), None
        )

    def _require(self, room: str, participants: Sequence[str]) -> None:
        for participant in participants:
            self._shard(room, participant)

    async def _push_whispers(self, room: str, audiences: Audiences) -> None:
        """Every shard of the room learns who may hear its whisperers."""
        placed = self.placed(room)
        for shard in list(placed.shards):
            if shard.worker.state == "running":
                await _ask(shard.worker, "room.whispers", room=room, audiences=_plain(audiences))

    async def _shard_on(self, placed: PlacedRoom, worker: WorkerProcess) -> Shard:
        """The room's shard on `worker`, grown there when it has none."""
        async with placed.growing:
            found = next((s for s in placed.shards if s.worker is worker), None)
            return found if found is not None else await self._grow(placed, worker)

    def least_loaded(self) -> WorkerProcess | None:
        """The running worker a new room (or a shard of another node's) goes to."""
        return self.pool.least_loaded(self._load)

    def _load(self, worker: WorkerProcess) -> tuple[int, int]:
        """What a worker holds, as placement weighs it: legs first, then room shards."""
        shards = [s for room in self.rooms.values() for s in room.shards if s.worker is worker]
        return sum(s.load for s in shards), len(shards)

    def _shard(self, room: str, participant: str) -> Shard:
        placed = self.placed(room)
        shard = placed.shard_of(participant)
        if shard is None:
            raise NoSuchParticipant(f"no participant {participant!r} in room {room!r}")
        return shard

    async def _shard_for_new_leg(self, placed: PlacedRoom) -> Shard:
        """One of this node's shards (legs join where their request arrives)."""
        async with placed.growing:
            here = [s for s in placed.shards if s.node is None]
            live = [s for s in here if s.worker.state == "running"]
            roomy = [s for s in live if s.load < self.max_legs_per_shard]
            if roomy:
                return min(roomy, key=lambda s: s.load)
            used = frozenset(s.worker.id for s in here)
            # a guest's room keeps its one shard: only the owner links shards
            found = self.pool.least_loaded(self._load, exclude=used)
            worker = found if placed.owner is None else None
            if worker is None:  # every worker holds a shard already: the emptiest takes it
                if not live:
                    raise NoRunningShard(f"room {placed.settings.name!r} has no running shard")
                return min(live, key=lambda s: s.load)
            return await self._grow(placed, worker)

    async def _grow(
        self, placed: PlacedRoom, worker: ShardWorker, node: str | None = None
    ) -> Shard:
        name = placed.settings.name
        # a shard of this node ticks apart from the room's others (the clocks of other nodes
        # are not this one's: their shards take any phase)
        base = placed.home.phase
        taken = [s.phase for s in placed.shards if s.phase is not None]
        phase = (
            None if node or base is None else next_shard_phase(base, taken, placed.settings.period)
        )
        settings = asdict(placed.settings)
        opened = await _ask(worker, "room.open", settings=settings, home=False, phase=phase)
        shard = Shard(worker, home=False, node=node, phase=None if node else _phase(opened))
        try:
            await self._link(placed, shard)
        except BaseException:
            with contextlib.suppress(Exception):
                await _ask(worker, "room.close", room=name, reason="not-linked")
            raise
        placed.shards.append(shard)
        await self._sync_floor(placed)
        await self._tell_whispers(placed, shard)
        log.info("room grew a shard", extra={"room": name, "worker": worker.id})
        return shard

    async def _link(self, placed: PlacedRoom, new: Shard) -> None:
        """Join `new` to every other shard of the room with a cascade link each way."""
        name = placed.settings.name
        ours = await _ask(new.worker, "cascade.bind", room=name)
        for shard in list(placed.shards):
            if shard is new or shard.worker.state != "running":
                continue
            theirs = await _ask(shard.worker, "cascade.bind", room=name)
            for near, far, where in ((shard, new, ours), (new, shard, theirs)):
                # all that bind said (its address, port, and whatever else the link needs)
                await _ask(near.worker, "cascade.connect", room=name, link=_link_name(far), **where)

    async def _tell_whispers(self, placed: PlacedRoom, shard: Shard) -> None:
        audiences = self.whisper_book.audiences(placed.settings.name)
        if audiences:
            room = placed.settings.name
            await _ask(shard.worker, "room.whispers", room=room, audiences=_plain(audiences))

    # -- the floor ------------------------------------------------------------------------

    async def floor(self, room: str) -> dict[str, Any]:
        result: dict[str, Any] = await _ask(self.placed(room).home.worker, "floor.get", room=room)
        return result

    async def floor_action(
        self,
        room: str,
        participant: str,
        action: FloorAction,
        priority: int | None,
        by: str,
        source: str = "api",
    ) -> dict[str, Any]:
        placed = self.placed(room)
        shard = self._shard(room, participant)
        if shard.home:
            return dict(
                await _ask(
                    shard.worker,
                    "floor.action",
                    room=room,
                    participant=participant,
                    action=action,
                    priority=priority,
                    by=by,
                    source=source,
                )
            )
        if action == "request" and priority is None:
            entry = await _ask(shard.worker, "participant.get", room=room, participant=participant)
            priority = int(entry["priority"])
        return dict(
            await _ask(
                placed.home.worker,
                "floor.decide",
                room=room,
                action=action,
                participant=participant,
                priority=priority,
                source="admin" if action == "revoke" else source,
                hang=False,
                by=by,
            )
        )

    async def _sync_floor(self, placed: PlacedRoom) -> None:
        """Tell every other shard what the home shard's floor is now."""
        if len(placed.shards) < 2:
            return
        name = placed.settings.name
        state = await _ask(placed.home.worker, "floor.get", room=name)
        for shard in placed.shards[1:]:
            if shard.worker.state == "running":
                await _ask(shard.worker, "floor.apply", room=name, state=state)

    # -- what workers tell ----------------------------------------------------------------

    def _notified(self, worker: WorkerProcess, message: Notification) -> None:
        data = message.data
        if message.event == "event":
            self._event(worker, data)
        elif message.event == "leg.pin":
            leg = self.remote_legs.get(data["leg"])
            if leg is not None and leg.pin is not None:
                leg.pin.decided(data["result"])
        elif message.event == "leg.closed":
            self.remote_legs.pop(data["leg"], None)
        elif message.event == "floor.forward":
            placed = self.rooms.get(data["room"])
            if placed is not None and placed.owner is not None and self.nodes is not None:
                self.nodes.tell_owner(placed.owner, data["room"], "floor.forward", data)
            elif placed is not None:
                asyncio.get_running_loop().create_task(self._forward_floor(placed, data))
        elif message.event in self.notification_listeners:
            self.notification_listeners[message.event](worker, data)

    def _event(self, worker: WorkerProcess, data: dict[str, Any]) -> None:
        room, kind = data["room"], data["type"]
        placed = self.rooms.get(room) if room is not None else None
        payload = data["data"]
        if placed is not None:
            shard = next((s for s in placed.shards if s.worker is worker), None)
            if shard is not None:
                payload = self._account(placed, shard, kind, payload)
            if placed.owner is not None and self.nodes is not None:
                self.nodes.tell_owner(placed.owner, room, "event", data)  # the owner publishes it
                return
            self._floor_changed(placed, kind)
        self._deliver(worker, Event(kind, room, payload, _at(data)))

    def _account(
        self, placed: PlacedRoom, shard: Shard, kind: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Keep a shard's participants as its events say; the payload as it is published."""
        if kind == "participant.joined":
            shard.participants.add(payload["participant"]["id"])
            return {**payload, "participant": {**payload["participant"], **self._where(shard)}}
        if kind == "participant.left":
            shard.participants.discard(payload["participant"])
            view = self.call_rooms.get(placed.settings.name)
            if payload.get("reason") != MOVED:
                self._standing.pop(payload["participant"], None)
                if view is not None:
                    view.left(payload["participant"], payload.get("reason", "left"))
        return payload

    def _floor_changed(self, placed: PlacedRoom, kind: str) -> None:
        if kind.startswith("floor.") and len(placed.shards) > 1:
            asyncio.get_running_loop().create_task(self._sync_floor_quietly(placed))

    def _deliver(self, worker: WorkerProcess, event: Event) -> None:
        """Publish an event of `worker`'s (or said for it) here, then tell the observers."""
        self.bus.deliver(event)
        for observer in self.event_observers:
            observer(worker, event)

    async def _forward_floor(self, placed: PlacedRoom, data: dict[str, Any]) -> None:
        try:
            await _ask(
                placed.home.worker,
                "floor.decide",
                room=placed.settings.name,
                action=data["action"],
                participant=data["participant"],
                priority=data["priority"],
                source=data["source"],
                hang=data["hang"],
            )
        except ConnectionError:  # the home shard's worker stops or restarts: its floor is gone
            log.debug("forwarding a floor request failed", exc_info=True)
        except Exception:
            log.exception("forwarding a floor request failed", extra={"room": placed.settings.name})

    async def _sync_floor_quietly(self, placed: PlacedRoom) -> None:
        try:
            await self._sync_floor(placed)
        except Exception:  # a shard going away: its restart syncs again
            log.debug("floor sync failed", exc_info=True)

    # -- rooms spanning nodes: the owner's side ----------------------------------------------

    async def grow_on_node(self, room: str, node: str) -> dict[str, Any]:
        """Grow a shard of this node's `room` on node `node`, linked to its other shards; that
        node takes the room's new legs from now on. Raises NoSuchRoom, NotClustered,
        UnknownNode, AlreadySpanned, and what the guest's worker raises."""
        placed = self.placed(room)
        if placed.owner is not None:
            raise NoSuchRoom(f"room {room!r} is node {placed.owner!r}'s")
        if self.nodes is None:
            raise NotClustered("only a clustered node's rooms span nodes")
        nodes = self.nodes
        async with placed.growing:
            if node == nodes.name or any(s.node == node for s in placed.shards):
                raise AlreadySpanned(f"room {room!r} has a shard on node {node!r}")
            await self._grow(placed, nodes.worker(node, room), node)
        await nodes.write_intake(room, node)
        return await self.summary(room)

    async def grow_for_leg(self, room: str, node: str, source: RoomSettings | None) -> None:
        """A leg of node `node` comes into this node's `room`: moved from its room `source`
        (the move's checks first: format; capacity across the room's shards), or as a relay
        (source None: its worker checks it as for a room of its own node). The room grows onto
        that node unless it is there already. Raises NoSuchRoom, OtherFormat, RoomFull, and
        what grow_on_node raises."""
        placed = self.placed(room)
        if placed.owner is not None:
            raise NoSuchRoom(f"room {room!r} is node {placed.owner!r}'s")
        if source is not None:
            check_move(source, placed.settings)
            self._check_capacity(placed)
        with contextlib.suppress(AlreadySpanned):
            await self.grow_on_node(room, node)

    def _maybe_span(self, placed: PlacedRoom) -> None:
        """When the node taking the room's new legs (its intake: the newest node it grew
        onto, else this one) holds `[cluster] max_legs_per_node` of them, the room grows onto
        the least-loaded live node it is not on yet, which takes its new legs from then on."""
        nodes, name = self.nodes, placed.settings.name
        if nodes is None or placed.owner is not None or name in self._spanning:
            return
        limit = nodes.max_legs_per_node
        intake = _intake_node(placed)
        if not limit or sum(s.load for s in placed.shards if s.node == intake) < limit:
            return
        node = nodes.spare(frozenset(s.node for s in placed.shards if s.node is not None))
        if node is None:
            return
        self._spanning.add(name)

        async def span() -> None:
            try:
                await self.grow_on_node(name, node)
                log.info("room grew onto another node", extra={"room": name, "node": node})
            except Exception as error:
                log.warning("room did not grow onto node %s: %s", node, error)
            finally:
                self._spanning.discard(name)

        self._spawn(span())

    def heard_from_guest(self, node: str, room: str, event: str, data: dict[str, Any]) -> None:
        """A notice of `room`'s shard on node `node`: as if a worker here had said it."""
        placed = self.rooms.get(room)
        if placed is None or placed.owner is not None:
            return
        shard = next((s for s in placed.shards if s.node == node), None)
        if shard is None:
            return
        if event == "event":
            kind = data["type"]
            payload = self._account(placed, shard, kind, data["data"])
            self._floor_changed(placed, kind)
            self.bus.deliver(Event(kind, room, payload, _at(data)))
            if kind == "participant.joined":
                self._maybe_span(placed)
        elif event == "floor.forward":
            self._spawn(self._forward_floor(placed, data))
        elif event == "shard.lost":
            self._drop_shard(placed, shard)

    def _drop_shard(self, placed: PlacedRoom, shard: Shard) -> None:
        """A shard on another node is gone (the node died, or its worker): its legs left."""
        if shard not in placed.shards:
            return
        name = placed.settings.name
        placed.shards.remove(shard)
        for participant in sorted(shard.participants):
            left = {"participant": participant, "reason": WORKER_LOST}
            self.bus.deliver(Event("participant.left", name, left))
        shard.participants.clear()
        log.warning("room lost its shard on node %s", shard.node, extra={"room": name})
        if self.nodes is not None:
            self.nodes.intake(name, _intake_node(placed))

    def _check_nodes(self, nodes: ShardNodes) -> None:
        """Shards on nodes that died are dropped; a guest's room whose owner died is closed
        (its legs told), the failover reopening the room elsewhere without it."""
        for name, placed in list(self.rooms.items()):
            if placed.owner is not None and not nodes.alive(placed.owner):
                log.warning("room's owner node %s died: its shard here closes", placed.owner)
                self._spawn(self.close_quietly(name, OWNER_GONE))
                continue
            for shard in list(placed.shards):
                if shard.node is not None and not nodes.alive(shard.node):
                    self._drop_shard(placed, shard)

    async def close_quietly(self, room: str, reason: str) -> None:
        """`close`, for a room that may have closed meanwhile."""
        with contextlib.suppress(NoSuchRoom, RoomClosed):
            await self.close(room, reason)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- a worker that died ---------------------------------------------------------------

    def _lost(self, worker: WorkerProcess) -> None:
        """Its legs are gone: say so for each, as their shard would have."""
        for name, placed in list(self.rooms.items()):
            for shard in placed.shards:
                if shard.worker is not worker:
                    continue
                if placed.owner is not None:  # another node's room: guestshards.py
                    continue
                view = self.call_rooms.get(name)
                if view is not None:
                    view.suspend(worker)  # its SIP calls wait for the worker to return
                for participant in sorted(shard.participants):
                    left = {"participant": participant, "reason": WORKER_LOST}
                    self._deliver(worker, Event("participant.left", name, left))
                    if view is not None:
                        view.left(participant, WORKER_LOST)
                shard.participants.clear()
        for listener in self.lost_listeners:
            listener(worker)

    async def _restore(self, worker: WorkerProcess) -> None:
        """Open the restarted worker's shards again, and link them to their rooms."""
        reopened: list[str] = []
        for name, placed in list(self.rooms.items()):
            for shard in list(placed.shards):
                if shard.worker is not worker:
                    continue
                try:
                    settings = asdict(placed.settings)
                    await _ask(
                        worker, "room.open", settings=settings, home=shard.home, phase=shard.phase
                    )
                    if len(placed.shards) > 1:
                        await self._link(placed, shard)
                        await self._sync_floor(placed)
                    await self._tell_whispers(placed, shard)
                except Exception:
                    log.exception("restoring a room failed", extra={"room": name})
                    continue
                self.bus.publish("room.restored", name, worker=worker.id)
                reopened.append(name)
        # Calls come back once every room of the worker is open: their changes may reach
        # other rooms (a monitor's relay) on the same worker.
        resumed: list[tuple[str, list[str]]] = []
        for name in reopened:
            view = self.call_rooms.get(name)
            if view is not None:
                resumed.append((name, await view.resume(worker)))
        for name, participants in resumed:
            await self._reapply(name, participants)

    async def _reapply(self, room: str, participants: list[str]) -> None:
        """The changes the resumed calls had before their worker died: a phone that
        monitored other rooms monitors them again."""
        for participant in participants:
            changes = self._standing.get(participant)
            if not changes:
                continue
            try:
                await self.update(room, participant, dict(changes))
            except Exception as error:  # a monitored room closed meanwhile, and the like
                log.info(
                    "changes not restored",
                    extra={"room": room, "participant": participant, "error": str(error)},
                )

    async def snapshots(self) -> list[RoomSnapshot]:
        """Every worker's rooms for /metrics."""
        snapshots: list[RoomSnapshot] = []
        for worker in self.pool.running():
            try:
                rooms = await worker.request("worker.metrics")
            except Exception:
                continue
            snapshots += [RoomSnapshot.from_json(room, worker.id) for room in rooms]
        return snapshots


def _at(data: dict[str, Any]) -> datetime:
    """When a worker's event happened."""
    return datetime.fromisoformat(data["at"].replace("Z", "+00:00"))


def _intake_node(placed: PlacedRoom) -> str | None:
    """The node taking a room's new legs: the newest other node it grew onto (None: its own)."""
    return next((s.node for s in reversed(placed.shards) if s.node is not None), None)


def local_worker(shard: Shard) -> WorkerProcess:
    """The worker of one of this node's shards."""
    worker = shard.local
    assert worker is not None, "a leg joins a shard on this node"
    return worker


def _link_name(shard: Shard) -> str:
    """The name a shard's link to `shard` goes by (unique among the room's shards)."""
    where = "" if shard.node is None else f"{shard.node}-"
    return f"{where}worker-{shard.worker.id}"


def _plain(audiences: Audiences) -> dict[str, list[str]]:
    return {speaker: sorted(listeners) for speaker, listeners in audiences.items()}


def _merged_summary(
    shards: list[Shard], found: list[Any], where: Callable[[Shard], dict[str, Any]]
) -> dict[str, Any]:
    """One room's summary from its shards' (home first; None for a restarting shard, which
    counts as empty): participants and clocks add up."""
    base = next(part for part in found if part is not None)
    empty = {"participants": 0, "talking": [], "clock": _IDLE_CLOCK}
    parts = [part if part is not None else {**base, **empty} for part in found]
    summary: dict[str, Any] = dict(parts[0])
    summary["participants"] = sum(p["participants"] for p in parts)
    summary["talking"] = [pid for p in parts for pid in p["talking"]]
    summary["clock"] = {
        "ticks": max(p["clock"]["ticks"] for p in parts),
        "late_ticks": sum(p["clock"]["late_ticks"] for p in parts),
        "skipped_ticks": sum(p["clock"]["skipped_ticks"] for p in parts),
        "max_lateness_ms": max(p["clock"]["max_lateness_ms"] for p in parts),
        "phase_ms": parts[0]["clock"].get("phase_ms"),
    }
    summary["shards"] = [
        {**where(s), "legs": p["participants"], "phase_ms": p["clock"].get("phase_ms")}
        for s, p in zip(shards, parts, strict=True)
    ]
    return summary


_IDLE_CLOCK = {"ticks": 0, "late_ticks": 0, "skipped_ticks": 0, "max_lateness_ms": 0.0}


def _phase(opened: Any) -> float | None:
    """The phase of the room a worker opened, from its summary (seconds)."""
    phase_ms = opened.get("clock", {}).get("phase_ms") if isinstance(opened, dict) else None
    return None if phase_ms is None else float(phase_ms) / 1000


async def _ask_running(worker: ShardWorker, method: str, **data: Any) -> Any:
    """`_ask`, or None while the worker is restarting (its shards hold nothing then)."""
    try:
        return await _ask(worker, method, **data)
    except ConnectionError:
        return None


async def _ask(worker: ShardWorker, method: str, **data: Any) -> Any:
    """A request to a worker, its failures raised as the room failures they stand for."""
    try:
        return await worker.request(method, **data)
    except RequestFailed as error:
        kind, _, reason = error.kind.partition(":")
        if kind == "OfferAnswerError":
            raise OfferAnswerError(reason, error.detail) from None  # type: ignore[arg-type]
        failure = ROOM_FAILURES.get(kind)
        if failure is not None:
            raise failure(error.detail) from None
        raise
