"""The pure parts of a room spanning nodes: the proxy's reading of a guest's answers, the
nodes' internal routes (mark first, methods whitelisted), and ShardedRooms as owner and as
guest with a fake cluster (no processes: the workers' requests are answered here)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import pytest

from mediacore.channel import Notification
from mediacore.channelio import RequestFailed
from mediacore.events import Event, EventBus
from mediacore.room import RoomError, RoomFull, RoomSettings
from mediacore.server import clustertrust
from mediacore.server.clustershards import ClusterShards
from mediacore.server.clusterview import ClusterView, NodeRecord
from mediacore.server.config import ClusterSection, Config, ServerSection
from mediacore.server.guestshards import GuestShards
from mediacore.server.remoteshard import (
    SHARDS,
    RemoteShardWorker,
    UnknownNode,
    read_reply,
    shard_path,
)
from mediacore.server.rooms import (
    WORKER_LOST,
    NodeDown,
    NoSuchRoom,
    NotMovable,
    NotReachable,
    OtherFormat,
)
from mediacore.server.shardedrooms import OWNER_GONE, ShardedRooms
from mediacore.server.shardnodes import ShardNodes
from mediacore.server.worker import WorkerSettings
from mediacore.server.workers import WorkerProcess, _link_host

SECRET = b"s" * 32
NOW_MS = 1_800_000_000_000


# -- the proxy ----------------------------------------------------------------------------------


def test_a_guest_s_answer_is_the_result_or_the_failure_its_worker_raised() -> None:
    assert read_reply(200, {"result": {"port": 4}, "worker": 1}) == ({"port": 4}, 1)
    assert read_reply(200, {"result": None}) == (None, None)
    with pytest.raises(RequestFailed) as failed:
        read_reply(200, {"error": "NoSuchParticipant", "detail": "no p1"})
    assert failed.value.kind == "NoSuchParticipant" and failed.value.detail == "no p1"
    with pytest.raises(RequestFailed) as refused:
        read_reply(400, {"error": "bad-method", "detail": "not a shard's method"})
    assert refused.value.kind == "RoomError"
    for status, body in [
        (200, {"error": "ConnectionError", "detail": "restarting"}),
        (403, {"error": "forbidden"}),
        (503, {}),
        (200, ["not", "an", "object"]),
    ]:
        with pytest.raises(ConnectionError):
            read_reply(status, body)


async def test_a_dead_or_unreachable_guest_is_a_lost_worker() -> None:
    alive = {"b": True}

    async def unreachable(node: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        raise OSError("connection refused")

    proxy = RemoteShardWorker("b", "r", unreachable, lambda node: alive[node])
    assert proxy.state == "running"
    with pytest.raises(ConnectionError):
        await proxy.request("room.summary", room="r")
    alive["b"] = False
    assert proxy.state != "running"
    with pytest.raises(ConnectionError, match="down"):
        await proxy.request("room.summary", room="r")


def test_cascade_links_listen_on_the_advertised_address_in_a_cluster() -> None:
    assert _link_host(Config()) == "127.0.0.1"
    clustered = ClusterSection(redis="redis://r:6379/0", advertise="10.0.0.5")
    assert _link_host(Config(cluster=clustered)) == "10.0.0.5"
    plain = ClusterSection(redis="redis://r:6379/0")
    assert _link_host(Config(server=ServerSection(host="10.0.0.6"), cluster=plain)) == "10.0.0.6"


def test_a_room_grows_onto_the_least_loaded_node_it_is_not_on() -> None:
    records = {
        name: NodeRecord(name, last_seen=NOW_MS, legs=legs)
        for name, legs in (("a", 0), ("b", 5), ("c", 9))
    }
    view = ClusterView(3000, lambda: NOW_MS, records.values())
    least = view.least_loaded(frozenset({"a"}))
    assert least is not None and least.name == "b"
    last = view.least_loaded(frozenset({"a", "b"}))
    assert last is not None and last.name == "c"
    assert view.least_loaded(frozenset(records)) is None


# -- the internal routes ----------------------------------------------------------------------


class Asgi:
    """One request through ClusterShards; `served`/`heard` what reached ShardedRooms."""

    def __init__(self, serve_raises: BaseException | None = None) -> None:
        self.served: list[tuple[str, str, str, dict[str, Any]]] = []
        self.heard: list[tuple[str, str, str, dict[str, Any]]] = []
        self.raises = serve_raises
        self.app = ClusterShards(
            self._inner,
            secret=lambda: SECRET,
            clock=lambda: NOW_MS,
            serve=lambda: self._serve,
            heard=lambda: lambda *notice: self.heard.append(notice),
            find=lambda: self._find,
            max_body=1000,
        )

    async def _inner(self, scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app behind is not reached")

    async def _find(self, participant: str) -> dict[str, Any] | None:
        return {"room": "home", "rate": 8000, "ptime": 20} if participant == "p-1" else None

    async def _serve(
        self, owner: str, room: str, method: str, data: dict[str, Any]
    ) -> tuple[Any, int]:
        self.served.append((owner, room, method, data))
        if self.raises is not None:
            raise self.raises
        return {"ok": True}, 3

    async def post(
        self, path: str, body: Any, mark: str | None = "node", read: bool = True
    ) -> tuple[int, Any]:
        headers = []
        if mark == "node":
            mark = clustertrust.mark(SECRET, "a", NOW_MS, "POST", path)
        if mark is not None:
            headers.append((clustertrust.HEADER.encode(), mark.encode()))
        scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            assert read, "the body was read before the mark was checked"
            return {"type": "http.request", "body": json.dumps(body).encode()}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        content = sent[1]["body"]
        return sent[0]["status"], json.loads(content) if content else None


async def test_the_internal_route_refuses_a_request_without_a_node_s_mark_unread() -> None:
    asgi = Asgi()
    body = {"method": "room.summary", "data": {"room": "r"}}
    assert (await asgi.post(shard_path("r"), body, mark=None, read=False))[0] == 403
    forged = clustertrust.mark(b"x" * 32, "a", NOW_MS, "POST", shard_path("r"))
    assert (await asgi.post(shard_path("r"), body, mark=forged, read=False))[0] == 403
    other = clustertrust.mark(SECRET, "a", NOW_MS, "POST", shard_path("q"))  # another room's
    assert (await asgi.post(shard_path("r"), body, mark=other, read=False))[0] == 403
    assert asgi.served == []


async def test_the_internal_route_passes_only_a_shard_s_methods() -> None:
    asgi = Asgi()
    status, answer = await asgi.post(shard_path("r"), {"method": "room.roster", "data": {}})
    assert (status, answer) == (200, {"result": {"ok": True}, "worker": 3})
    assert asgi.served == [("a", "r", "room.roster", {})]
    for method in ("worker.stop", "leg.rtp", "recording.start", None):
        status, answer = await asgi.post(shard_path("r"), {"method": method, "data": {}})
        assert status == 400 and answer["error"] == "bad-method"
    status, answer = await asgi.post(shard_path("r"), ["garbage"])
    assert status == 400
    status, answer = await asgi.post(shard_path("r"), {"method": "room.roster", "data": "x" * 2000})
    assert status == 413


@pytest.mark.parametrize(
    ("raised", "kind"),
    [
        (RequestFailed("RoomFull", "full"), "RoomFull"),
        (NoSuchRoom("no room"), "NoSuchRoom"),
        (ConnectionError("restarting"), "ConnectionError"),
    ],
)
async def test_the_guest_s_failures_go_back_by_kind(raised: BaseException, kind: str) -> None:
    asgi = Asgi(serve_raises=raised)
    status, answer = await asgi.post(shard_path("r"), {"method": "room.roster", "data": {}})
    assert status == 200 and answer["error"] == kind


async def test_a_notice_is_heard_from_the_node_that_signed_it() -> None:
    asgi = Asgi()
    path = shard_path("r") + "/notify"
    notice = {"node": "a", "event": "floor.forward", "data": {"room": "r"}}
    assert (await asgi.post(path, notice))[0] == 204
    assert asgi.heard == [("a", "r", "floor.forward", {"room": "r"})]
    posing = {**notice, "node": "c"}  # signed by a, claiming to be c
    assert (await asgi.post(path, posing))[0] == 400
    unknown = {**notice, "event": "leg.pin"}
    assert (await asgi.post(path, unknown))[0] == 400
    assert len(asgi.heard) == 1


# -- ShardedRooms as owner and as guest -------------------------------------------------------


class FakePool:
    def __init__(self, workers: list[WorkerProcess]) -> None:
        self.workers = workers

    def running(self) -> list[WorkerProcess]:
        return list(self.workers)

    def least_loaded(self, load: Any, exclude: frozenset[int] = frozenset()) -> Any:
        return next((w for w in self.workers if w.id not in exclude), None)


class FakeNodes:
    """The cluster: nodes a (this one), b and c; guests answer through `answer`."""

    max_legs_per_node = 2

    def __init__(self, name: str) -> None:
        self.name = name
        self.dead: set[str] = set()
        self.told: list[tuple[str, str, str, dict[str, Any]]] = []
        self.intakes: list[tuple[str, str | None]] = []
        self.asked: list[tuple[str, str, dict[str, Any]]] = []

    def alive(self, node: str) -> bool:
        return node not in self.dead

    def worker(self, node: str, room: str) -> RemoteShardWorker:
        if not self.alive(node):
            raise UnknownNode(f"no live node named {node!r}")
        return RemoteShardWorker(node, room, self._post, self.alive)

    async def owner(self, room: str) -> str | None:
        return None

    async def sent(self, owner: str, timeout: float) -> None:
        pass

    def spare(self, exclude: frozenset[str]) -> str | None:
        return next((n for n in ("b", "c") if n not in exclude | self.dead), None)

    def tell_owner(self, owner: str, room: str, event: str, data: dict[str, Any]) -> None:
        self.told.append((owner, room, event, data))

    def intake(self, room: str, node: str | None) -> None:
        self.intakes.append((room, node))

    async def write_intake(self, room: str, node: str | None) -> None:
        self.intake(room, node)

    async def _post(self, node: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        method, data = body["method"], body["data"]
        self.asked.append((node, method, data))
        return 200, {"result": _answer(method, f"10.0.0.{ord(node) - 96}"), "worker": 0}


def _answer(method: str, address: str) -> Any:
    if method == "cascade.bind":
        return {"address": address, "port": 4000, "key": f"key-of-{address}"}
    if method in ("room.summary", "room.open"):
        clock = {"ticks": 1, "late_ticks": 0, "skipped_ticks": 0, "max_lateness_ms": 0.0}
        return {"name": "r", "participants": 0, "talking": [], "clock": clock}
    if method == "floor.get":
        return {"holder": None}
    return None


def local_worker(
    tmp_path: Path, asked: list[tuple[str, dict[str, Any]]], number: int = 0
) -> WorkerProcess:
    """A worker of this node that is never started: its requests are answered here."""
    settings = WorkerSettings(number, "127.0.0.1", 20000, 20099, 3.0, data_dir=str(tmp_path))
    worker = WorkerProcess(settings, "info", "text")
    worker.child.state = "running"

    async def request(method: str, **data: Any) -> Any:
        asked.append((method, data))
        if method in ("participant.move", "participant.get", "participant.update"):
            return {"id": data["participant"], "worker": number}
        return _answer(method, "10.0.0.1")

    worker.request = request  # type: ignore[method-assign]
    return worker


def sharded(tmp_path: Path, name: str) -> tuple[ShardedRooms, FakeNodes, list[Any], list[Event]]:
    asked: list[tuple[str, dict[str, Any]]] = []
    bus = EventBus()
    published: list[Event] = []
    bus.listen(published.append)
    rooms = ShardedRooms(FakePool([local_worker(tmp_path, asked)]), bus, 200)  # type: ignore[arg-type]
    nodes = FakeNodes(name)
    rooms.nodes = nodes
    return rooms, nodes, asked, published


def joined(room: str, participant: str) -> Notification:
    entry = {"id": participant, "name": participant}
    data = {"participant": entry}
    at = "2026-12-07T10:00:00.000Z"
    return Notification(
        "event", {"room": room, "type": "participant.joined", "data": data, "at": at}
    )


async def test_the_owner_links_a_shard_on_another_node_and_drops_it_when_that_node_dies(
    tmp_path: Path,
) -> None:
    rooms, nodes, asked, published = sharded(tmp_path, "a")
    await rooms.open(RoomSettings("r"))
    summary = await rooms.grow_on_node("r", "b")
    assert [(s["node"], s["worker"]) for s in summary["shards"]] == [("a", 0), ("b", 0)]
    assert nodes.intakes == [("r", "b")]
    # Each side connects with all that the other's bind said (the key too).
    to_b = next(data for method, data in asked if method == "cascade.connect")
    assert to_b["link"] == "b-worker-0" and to_b["key"] == "key-of-10.0.0.2"
    to_a = next(d for node, m, d in nodes.asked if m == "cascade.connect")
    assert to_a["link"] == "worker-0" and to_a["address"] == "10.0.0.1"
    assert to_a["key"] == "key-of-10.0.0.1"

    rooms.heard_from_guest("b", "r", "event", joined("r", "p9").data)
    assert published[-1].type == "participant.joined"
    assert published[-1].data["participant"] == {"id": "p9", "name": "p9", "worker": 0, "node": "b"}
    assert rooms.legs_in("r") == 1 and rooms.local_legs() == 0

    nodes.dead.add("b")
    rooms._check_nodes(nodes)
    assert [s.node for s in rooms.placed("r").shards] == [None]
    left = published[-1]
    assert left.type == "participant.left" and left.data["reason"] == WORKER_LOST
    assert nodes.intakes[-1] == ("r", None)


async def test_a_room_grows_onto_another_node_when_its_legs_reach_the_limit(
    tmp_path: Path,
) -> None:
    rooms, nodes, asked, _ = sharded(tmp_path, "a")
    await rooms.open(RoomSettings("r"))
    worker = rooms.placed("r").home_worker
    for participant in ("p1", "p2"):
        asked.clear()
        rooms.placed("r").home.participants.add(participant)
        rooms._maybe_span(rooms.placed("r"))
    await asyncio.sleep(0.05)
    assert [s.node for s in rooms.placed("r").shards] == [None, "b"]
    assert worker.id == 0 and nodes.intakes == [("r", "b")]
    # b's share reaching the limit too, the room grows onto c
    for participant in ("q1", "q2"):
        rooms.heard_from_guest("b", "r", "event", joined("r", participant).data)
    await asyncio.sleep(0.05)
    assert [s.node for s in rooms.placed("r").shards] == [None, "b", "c"]


async def test_a_guest_tells_the_owner_and_closes_its_shard_when_the_owner_dies(
    tmp_path: Path,
) -> None:
    rooms, nodes, asked, published = sharded(tmp_path, "b")
    guests = GuestShards(rooms)
    settings = asdict(RoomSettings("r"))
    await guests.serve("a", "r", "room.open", {"settings": settings})
    assert rooms.names() == [] and rooms.takes_legs("r") and rooms.open_here() == ["r"]
    assert rooms.call_room("r") is not None  # SIP calls to this node join its shard
    assert ("room.open", {"settings": settings, "home": False}) in asked
    with pytest.raises(NoSuchRoom):
        await guests.serve("c", "r", "room.roster", {"room": "r"})

    worker = rooms.placed("r").home_worker
    rooms._notified(worker, joined("r", "p1"))  # the owner publishes it, not the guest
    assert published == [] and nodes.told[-1][:3] == ("a", "r", "event")
    rooms._notified(worker, Notification("floor.forward", {"room": "r", "action": "request"}))
    assert nodes.told[-1][:3] == ("a", "r", "floor.forward")

    nodes.dead.add("a")
    rooms._check_nodes(nodes)
    await asyncio.sleep(0.05)
    assert "r" not in rooms.rooms
    assert ("room.close", {"room": "r", "reason": OWNER_GONE}) in asked


async def test_a_guest_whose_worker_died_tells_the_owner_its_legs_left(tmp_path: Path) -> None:
    rooms, nodes, _, published = sharded(tmp_path, "b")
    await GuestShards(rooms).serve("a", "r", "room.open", {"settings": asdict(RoomSettings("r"))})
    worker = rooms.placed("r").home_worker
    rooms._notified(worker, joined("r", "p1"))
    rooms._lost(worker)
    events = [(event, data.get("type"), data.get("data")) for _, _, event, data in nodes.told]
    assert events[-2:] == [
        ("event", "participant.left", {"participant": "p1", "reason": WORKER_LOST}),
        ("shard.lost", None, None),
    ]
    assert "r" not in rooms.rooms and published == []


# -- a participant moved into a room of another node --------------------------------------------


class LinkedNodes(FakeNodes):
    """Node `name` of a cluster of ShardedRooms in this process: requests to a node go to its
    GuestShards.serve as the internal route passes them (failures by kind), notices to its
    heard_from_guest; `owners` is the directory."""

    def __init__(self, name: str, cluster: dict[str, Node], owners: dict[str, str]) -> None:
        super().__init__(name)
        self.cluster = cluster
        self.owners = owners

    async def owner(self, room: str) -> str | None:
        return self.owners.get(room)

    def tell_owner(self, owner: str, room: str, event: str, data: dict[str, Any]) -> None:
        super().tell_owner(owner, room, event, data)
        self.cluster[owner].rooms.heard_from_guest(self.name, room, event, data)

    async def _post(self, node: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        method, data, room = body["method"], body["data"], unquote(path.removeprefix(SHARDS))
        self.asked.append((node, method, data))
        try:
            result, worker = await self.cluster[node].guests.serve(self.name, room, method, data)
        except RequestFailed as failed:
            return 200, {"error": failed.kind, "detail": failed.detail}
        except (LookupError, RoomError) as error:
            return 200, {"error": type(error).__name__, "detail": str(error)}
        return 200, {"result": result, "worker": worker}


@dataclass
class Node:
    rooms: ShardedRooms
    guests: GuestShards
    nodes: LinkedNodes
    workers: list[WorkerProcess]
    asked: list[tuple[str, dict[str, Any]]]


def cluster(tmp_path: Path) -> tuple[Node, Node, dict[str, str]]:
    """Nodes a and b, two workers each; the first is the one a new shard goes to."""
    found: dict[str, Node] = {}
    owners: dict[str, str] = {}
    for name in "ab":
        asked: list[tuple[str, dict[str, Any]]] = []
        workers = [local_worker(tmp_path / name, asked, number) for number in (0, 1)]
        rooms = ShardedRooms(FakePool(workers), EventBus(), 200)  # type: ignore[arg-type]
        rooms.nodes = nodes = LinkedNodes(name, found, owners)
        found[name] = Node(rooms, GuestShards(rooms), nodes, workers, asked)
    return found["a"], found["b"], owners


async def opened(node: Node, owners: dict[str, str], settings: RoomSettings) -> None:
    await node.rooms.open(settings)
    owners[settings.name] = node.nodes.name


def moved_in(node: Node, worker: WorkerProcess, room: str, participant: str) -> None:
    """What the worker says of a participant moved into `room`."""
    node.rooms._notified(worker, joined(room, participant))


async def test_a_leg_moves_into_another_node_s_room_through_a_shard_on_its_own_worker(
    tmp_path: Path,
) -> None:
    a, b, owners = cluster(tmp_path)
    await opened(a, owners, RoomSettings("desk"))
    await opened(b, owners, RoomSettings("field"))
    desk = a.rooms.placed("desk")
    shard = await a.rooms._grow(desk, a.workers[1])  # the leg is on a's second worker
    shard.participants.add("p1")

    entry = await a.rooms.move("desk", "p1", "field")
    assert (entry["id"], entry["node"], entry["worker"]) == ("p1", "a", 1)
    # b grew the room onto a, and a's shard of it opened on the leg's worker (not the first)
    assert [s.node for s in b.rooms.placed("field").shards] == [None, "a"]
    guest = a.rooms.placed("field")
    assert guest.owner == "b" and guest.home_worker is a.workers[1]
    assert ("participant.move", {"room": "desk", "participant": "p1", "to": "field"}) in a.asked
    assert desk.shard_of("p1") is None and guest.shard_of("p1") is not None
    # the worker's word reaches b, which drives the leg through its shard on a from then on
    moved_in(a, a.workers[1], "field", "p1")
    assert b.rooms.placed("field").shard_of("p1") is not None
    shard.participants.add("p3")  # the next one finds the room here already
    assert (await a.rooms.move("desk", "p3", "field"))["worker"] == 1
    assert [s.node for s in b.rooms.placed("field").shards] == [None, "a"]
    await b.rooms.remove("field", "p1", "kicked")
    assert ("participant.remove", {"room": "field", "participant": "p1", "reason": "kicked"}) in (
        a.asked
    )


async def test_a_move_into_another_node_s_room_is_refused_clearly(tmp_path: Path) -> None:
    a, b, owners = cluster(tmp_path)
    await opened(a, owners, RoomSettings("desk"))
    a.rooms.placed("desk").home.participants.add("p1")
    await opened(b, owners, RoomSettings("full", max_participants=1))
    b.rooms.placed("full").home.participants.add("q1")
    await opened(b, owners, RoomSettings("wide", rate=16000))
    with pytest.raises(NoSuchRoom):
        await a.rooms.move("desk", "p1", "nowhere")
    with pytest.raises(RoomFull):  # counted across the room's shards, by its owner
        await a.rooms.move("desk", "p1", "full")
    with pytest.raises(OtherFormat):
        await a.rooms.move("desk", "p1", "wide")
    assert a.rooms.open_here() == ["desk"]  # no shard grown for a refused move
    await opened(b, owners, RoomSettings("field"))
    b.nodes.dead.add("a")  # b does not see a: it cannot grow its room there
    with pytest.raises(NotMovable, match="did not grow"):
        await a.rooms.move("desk", "p1", "field")
    a.nodes.dead.add("b")
    with pytest.raises(NodeDown):
        await a.rooms.move("desk", "p1", "full")


async def test_a_leg_cannot_move_into_a_shard_on_another_worker(tmp_path: Path) -> None:
    a, b, owners = cluster(tmp_path)
    await opened(a, owners, RoomSettings("desk"))
    await opened(b, owners, RoomSettings("field"))
    await b.rooms.grow_on_node("field", "a")  # on a's first worker
    desk = a.rooms.placed("desk")
    (await a.rooms._grow(desk, a.workers[1])).participants.add("p1")
    with pytest.raises(NotMovable, match="cannot change workers"):
        await a.rooms.move("desk", "p1", "field")
    assert desk.shard_of("p1") is not None


async def test_a_leg_on_another_node_s_shard_is_moved_by_that_node(tmp_path: Path) -> None:
    a, b, owners = cluster(tmp_path)
    await opened(a, owners, RoomSettings("desk"))
    await a.rooms.grow_on_node("desk", "b")
    await opened(b, owners, RoomSettings("yard"))
    guest = b.rooms.placed("desk")
    moved_in(b, guest.home_worker, "desk", "p2")  # a leg joined desk on b
    assert a.rooms.placed("desk").shard_of("p2") is not None

    entry = await a.rooms.move("desk", "p2", "yard")  # asked of desk's owner
    assert (entry["id"], entry["node"]) == ("p2", "b")
    assert ("participant.move", {"room": "desk", "participant": "p2", "to": "yard"}) in b.asked
    assert a.rooms.placed("desk").shard_of("p2") is None
    assert b.rooms.placed("yard").shard_of("p2") is not None


async def test_a_move_waits_until_the_owner_was_sent_the_notices_told_before_it() -> None:
    nodes = ShardNodes(SimpleNamespace(node=SimpleNamespace(name="b")), 0)  # type: ignore[arg-type]
    answering = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def post(node: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        await answering.wait()
        sent.append(body["data"])
        return 204, None

    nodes.post = post  # type: ignore[method-assign]
    await asyncio.wait_for(nodes.sent("a", 5.0), 0.1)  # nothing told: at once
    nodes.tell_owner("a", "r", "event", {"n": 1})
    waiting = asyncio.ensure_future(nodes.sent("a", 5.0))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    answering.set()
    await asyncio.wait_for(waiting, 1.0)
    assert sent == [{"n": 1}]
    answering.clear()  # an owner that lags holds a move back `timeout` at most
    nodes.tell_owner("a", "r", "event", {"n": 2})
    await asyncio.wait_for(nodes.sent("a", 0.1), 1.0)
    await nodes.stop()


async def test_a_participant_of_another_node_s_room_is_moved_by_that_room_s_owner(
    tmp_path: Path,
) -> None:
    """A one-to-one call of a brings b's participant into a's room: asked of a, b (the room's
    owner) moves it, its leg staying on b, and back again through a's shard on b."""
    a, b, owners = cluster(tmp_path)
    await opened(a, owners, RoomSettings("call-1"))
    await opened(b, owners, RoomSettings("yard"))
    b.rooms.placed("yard").home.participants.add("p5")

    entry = await a.rooms.move("yard", "p5", "call-1")
    assert (entry["id"], entry["node"]) == ("p5", "b")
    assert ("b", "participant.move", {"participant": "p5", "to": "call-1"}) in [
        (node, method, {k: v for k, v in data.items() if k != "room"})
        for node, method, data in a.nodes.asked
    ]
    assert [s.node for s in a.rooms.placed("call-1").shards] == [None, "b"]
    guest = b.rooms.placed("call-1")
    assert guest.owner == "a" and guest.shard_of("p5") is not None
    moved_in(b, guest.home_worker, "call-1", "p5")
    assert a.rooms.placed("call-1").shard_of("p5") is not None

    back = await a.rooms.move("call-1", "p5", "yard")  # the call's owner: b moves it
    assert back["id"] == "p5" and b.rooms.placed("yard").shard_of("p5") is not None
    with pytest.raises(NoSuchRoom):  # a room no node has
        await a.rooms.move("nowhere", "p5", "call-1")
    a.nodes.dead.add("b")
    with pytest.raises(NodeDown):
        await a.rooms.move("yard", "p5", "call-1")


# -- a participant monitoring (and transmitting into) rooms of another node ---------------------


def grows(node: Node) -> list[dict[str, Any]]:
    """What node `node` asked of other nodes' rooms to grow onto it."""
    return [data for _, method, data in node.nodes.asked if method == "room.grow"]


async def test_a_leg_s_relays_reach_another_node_s_room_through_a_shard_on_its_own_worker(
    tmp_path: Path,
) -> None:
    a, b, owners = cluster(tmp_path)
    await opened(a, owners, RoomSettings("desk"))
    # a relay is no move: another rate, and a room whose owner counts it full, are fine
    await opened(b, owners, RoomSettings("field", rate=16000, max_participants=1))
    b.rooms.placed("field").home.participants.add("q1")
    desk = a.rooms.placed("desk")
    (await a.rooms._grow(desk, a.workers[1])).participants.add("p1")  # on a's second worker

    monitor = {"monitor": [{"room": "field", "gain_db": -6.0}], "transmit": ["field"]}
    entry = await a.rooms.update("desk", "p1", monitor)
    assert (entry["id"], entry["node"], entry["worker"]) == ("p1", "a", 1)
    assert grows(a) == [{}]  # the owner grew it, no move's checks asked for
    assert [s.node for s in b.rooms.placed("field").shards] == [None, "a"]
    guest = a.rooms.placed("field")
    assert guest.owner == "b" and guest.home_worker is a.workers[1]
    asked = ("participant.update", {"room": "desk", "participant": "p1", "changes": monitor})
    assert asked in a.asked
    # changing the list reaches the room where it is; clearing it leaves the shard, as here
    await a.rooms.update("desk", "p1", {"monitor": [{"room": "field", "gain_db": 0.0}]})
    await a.rooms.update("desk", "p1", {"monitor": [], "transmit": []})
    assert [s.node for s in b.rooms.placed("field").shards] == [None, "a"]
    assert a.rooms.open_here() == ["desk", "field"]
    assert a.asked[-1][1]["changes"] == {"monitor": [], "transmit": []}


async def test_a_relay_into_another_node_s_room_is_refused_clearly(tmp_path: Path) -> None:
    a, b, owners = cluster(tmp_path)
    await opened(a, owners, RoomSettings("desk"))
    desk = a.rooms.placed("desk")
    (await a.rooms._grow(desk, a.workers[1])).participants.add("p1")
    await opened(b, owners, RoomSettings("field"))
    await opened(b, owners, RoomSettings("yard"))
    await b.rooms.grow_on_node("yard", "a")  # on a's first worker
    with pytest.raises(NoSuchRoom):
        await a.rooms.update("desk", "p1", {"monitor": [{"room": "nowhere"}]})
    with pytest.raises(NotReachable, match="cannot change workers"):
        await a.rooms.update("desk", "p1", {"transmit": ["yard"]})
    a.nodes.dead.add("b")
    with pytest.raises(NodeDown):
        await a.rooms.update("desk", "p1", {"monitor": [{"room": "field"}]})
    assert not [method for method, _ in a.asked if method == "participant.update"]


async def test_a_leg_on_another_node_s_shard_monitors_rooms_from_that_node(
    tmp_path: Path,
) -> None:
    """Asked of desk's owner a, the leg's node b changes it: a's room yard grows onto b."""
    a, b, owners = cluster(tmp_path)
    await opened(a, owners, RoomSettings("desk"))
    await a.rooms.grow_on_node("desk", "b")
    await opened(a, owners, RoomSettings("yard"))
    guest = b.rooms.placed("desk")
    moved_in(b, guest.home_worker, "desk", "p2")  # a leg joined desk on b

    changes = {"monitor": [{"room": "yard", "gain_db": 0.0}]}
    entry = await a.rooms.update("desk", "p2", changes)
    assert (entry["id"], entry["node"]) == ("p2", "b")
    asked = ("participant.update", {"room": "desk", "participant": "p2", "changes": changes})
    assert asked in b.asked
    assert grows(b) == [{}]
    assert [s.node for s in a.rooms.placed("yard").shards] == [None, "b"]
    assert b.rooms.placed("yard").home_worker is guest.home_worker
