"""Intake routing: which node serves a request about a clustered room.

The decision (mediacore/server/clusterintake.py) is tested as a table; then the forwarder runs
it on real ASGI requests, with the room's directory entry in a stand-in for Redis and each
node's answers caught by an httpx mock transport: a new leg goes to the intake node, a node
holding a shard serves new legs itself and passes everything else to the owner."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.types import Receive, Scope, Send

from mediacore.server.clusterforward import ClusterForwarder
from mediacore.server.clusterintake import HERE, RoomEntry, Route, adds_leg, route

OWNER = RoomEntry("n1", "http://n1")
WITH_INTAKE = RoomEntry("n1", "http://n1", "n3", "http://n3")


def everyone(node: str) -> bool:
    return True


@pytest.mark.parametrize(
    ("kind", "method", "path", "expected"),
    [
        ("http", "POST", "/api/v1/rooms/r/rtp", True),
        ("http", "POST", "/api/v1/rooms/r/whip", True),
        ("http", "POST", "/api/v1/rooms/r/whep", True),
        ("websocket", "GET", "/api/v1/rooms/r/webrtc", True),
        ("http", "GET", "/api/v1/rooms/r/rtp", False),
        ("http", "DELETE", "/api/v1/rooms/r/whip/p-1", False),
        ("http", "POST", "/api/v1/rooms/r/dial", False),
        ("http", "PATCH", "/api/v1/rooms/r", False),
        ("http", "POST", "/api/v1/rooms/r/participants/rtp", False),
        ("websocket", "GET", "/api/v1/rooms/r/events", False),
        ("http", "POST", "/api/v1/rooms", False),
    ],
)
def test_which_requests_add_a_leg(kind: str, method: str, path: str, expected: bool) -> None:
    assert adds_leg(kind, method, path) is expected


@pytest.mark.parametrize(
    ("entry", "here", "hosted", "leg", "expected"),
    [
        (None, "n2", False, True, HERE),  # not placed: this node's 404
        (OWNER, "n2", False, False, Route("n1", "http://n1")),
        (OWNER, "n2", False, True, Route("n1", "http://n1")),  # no intake: the owner
        (OWNER, "n1", True, True, HERE),
        (WITH_INTAKE, "n2", False, True, Route("n3", "http://n3")),
        (WITH_INTAKE, "n2", False, False, Route("n1", "http://n1")),  # the rest: the owner
        (WITH_INTAKE, "n1", True, True, HERE),  # the owner holds shards too
        (WITH_INTAKE, "n3", True, True, HERE),
        (WITH_INTAKE, "n3", True, False, Route("n1", "http://n1")),
        (WITH_INTAKE, "n4", True, True, HERE),  # any node holding a shard
        (WITH_INTAKE, "n3", False, True, Route("n1", "http://n1")),  # its shard not open yet
    ],
)
def test_where_a_request_goes(
    entry: RoomEntry | None, here: str, hosted: bool, leg: bool, expected: Route
) -> None:
    assert route(entry, here=here, hosted=hosted, leg=leg, alive=everyone) == expected


def test_a_dead_intake_leaves_new_legs_to_the_owner_and_a_dead_owner_is_down() -> None:
    assert route(
        WITH_INTAKE, here="n2", hosted=False, leg=True, alive=lambda node: node != "n3"
    ) == Route("n1", "http://n1")
    assert route(
        WITH_INTAKE, here="n2", hosted=False, leg=False, alive=lambda node: node != "n1"
    ) == Route("n1", "http://n1", down=True)


def test_an_entry_reads_its_hash_and_half_an_intake_is_none() -> None:
    fields = {"node": "n1", "http": "http://n1", "sip": "10.0.0.1:5060", "created": "1"}
    assert RoomEntry.from_fields(fields) == OWNER
    intake = {"intake": "n3", "intake_sip": "10.0.0.3:5060", "intake_http": "http://n3"}
    assert RoomEntry.from_fields({**fields, **intake}) == WITH_INTAKE
    assert RoomEntry.from_fields({**fields, "intake": "n3"}) == OWNER
    assert RoomEntry.from_fields({}) is None


# -- the forwarder -------------------------------------------------------------------------


@dataclass
class View:
    dead: set[str] = field(default_factory=set)

    def alive(self, node: str) -> bool:
        return node not in self.dead


@dataclass
class Node:
    name: str = "n2"
    view: View = field(default_factory=View)

    def clock(self) -> float:
        return 1_700_000_000_000.0


class Directory:
    """What the forwarder reads of ClusterRooms: entries in "Redis", owners as last read."""

    def __init__(self, entries: dict[str, dict[str, str]], reachable: bool = True) -> None:
        self.entries = entries
        self.reachable = reachable
        self.owners = {room.removeprefix("mc:room:"): e["node"] for room, e in entries.items()}
        self.redis = self

    async def hgetall(self, key: str) -> dict[str, str]:
        if not self.reachable:
            raise RedisConnectionError("away")
        return self.entries.get(key, {})


class Forwarding:
    """A forwarder on node n2 in front of an app that answers "here"; other nodes answer with
    their own name."""

    def __init__(self, entry: dict[str, str], local: list[str], reachable: bool = True) -> None:
        self.sent: list[str] = []
        self.forwarder = ClusterForwarder(
            self.app,
            node=Node(),  # type: ignore[arg-type]
            directory=Directory({"mc:room:r": entry}, reachable),  # type: ignore[arg-type]
            secret=lambda: b"s" * 32,
            local=lambda: local,
            client=self.client,
            tls=lambda node: None,
        )

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _reply(send, 200, "here")

    def client(self, node: str) -> httpx.AsyncClient:
        def answer(request: httpx.Request) -> httpx.Response:
            self.sent.append(f"{request.method} {request.url}")
            return httpx.Response(201, json={"served": node})

        return httpx.AsyncClient(transport=httpx.MockTransport(answer))

    def request(self, method: str, path: str) -> tuple[int, str]:
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(b"content-type", b"application/sdp")],
        }
        replies: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"v=0\r\n", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            replies.append(message)

        asyncio.run(self.forwarder(scope, receive, send))
        body = json.loads(replies[1]["body"])
        return replies[0]["status"], body.get("served") or body.get("error")


ENTRY = {"node": "n1", "http": "http://n1", "sip": "a:1"}
INTAKE = {**ENTRY, "intake": "n3", "intake_sip": "c:1", "intake_http": "http://n3"}


async def _reply(send: Send, status: int, served: str) -> None:
    body = json.dumps({"served": served}).encode()
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_a_new_leg_goes_to_the_intake_and_everything_else_to_the_owner() -> None:
    forwarding = Forwarding(INTAKE, local=[])
    assert forwarding.request("POST", "/api/v1/rooms/r/rtp") == (201, "n3")
    assert forwarding.request("POST", "/api/v1/rooms/r/whip") == (201, "n3")
    assert forwarding.request("GET", "/api/v1/rooms/r") == (201, "n1")
    assert forwarding.request("POST", "/api/v1/rooms/r/dial") == (201, "n1")
    assert forwarding.sent[0] == "POST http://n3/api/v1/rooms/r/rtp"


def test_without_an_intake_a_new_leg_goes_to_the_owner() -> None:
    assert Forwarding(ENTRY, local=[]).request("POST", "/api/v1/rooms/r/rtp") == (201, "n1")


def test_a_node_holding_a_shard_takes_new_legs_and_passes_the_rest_to_the_owner() -> None:
    forwarding = Forwarding(INTAKE, local=["r"])  # n2 holds a shard of n1's room
    assert forwarding.request("POST", "/api/v1/rooms/r/rtp") == (200, "here")
    assert forwarding.request("POST", "/api/v1/rooms/r/whep") == (200, "here")
    assert forwarding.request("PATCH", "/api/v1/rooms/r") == (201, "n1")
    assert forwarding.request("DELETE", "/api/v1/rooms/r/participants/p-1") == (201, "n1")


def test_a_shard_here_of_a_room_not_read_yet_is_the_directory_s_to_place() -> None:
    """The owner's room opened a moment ago (the owners as last read lack it): n2, holding a
    shard, passes the roster to the owner, never answers it with its own shard's legs."""
    forwarding = Forwarding(INTAKE, local=["r"])
    forwarding.forwarder.directory.owners.clear()
    assert forwarding.request("GET", "/api/v1/rooms/r/participants") == (201, "n1")
    assert forwarding.request("POST", "/api/v1/rooms/r/rtp") == (200, "here")


def test_the_owner_serves_its_room_without_asking_redis() -> None:
    forwarding = Forwarding({**INTAKE, "node": "n2"}, local=["r"], reachable=False)
    assert forwarding.request("POST", "/api/v1/rooms/r/rtp") == (200, "here")
    assert forwarding.request("GET", "/api/v1/rooms/r") == (200, "here")


def test_redis_away_a_shard_here_still_serves_and_a_stranger_answers_503() -> None:
    assert Forwarding(INTAKE, local=["r"], reachable=False).request(
        "POST", "/api/v1/rooms/r/rtp"
    ) == (200, "here")
    assert Forwarding(INTAKE, local=[], reachable=False).request("POST", "/api/v1/rooms/r/rtp") == (
        503,
        "cluster-unreachable",
    )


def test_a_dead_owner_is_503_for_the_rest_but_new_legs_still_reach_the_intake() -> None:
    forwarding = Forwarding(INTAKE, local=[])
    forwarding.forwarder.node.view.dead.add("n1")  # type: ignore[attr-defined]
    assert forwarding.request("GET", "/api/v1/rooms/r") == (503, "node-down")
    assert forwarding.request("POST", "/api/v1/rooms/r/rtp") == (201, "n3")
