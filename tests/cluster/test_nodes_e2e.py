"""Several `mediacore serve` nodes on their own loopback addresses, joined through one Redis:
the node list, one API on every node, every room's events on every node's stream, a new leg
sent to the room's intake node, and a node killed outright whose room comes back on a
survivor."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import websockets

from mediacore.server.clusterredis import room_key
from mediacore.server.clustertrust import HEADER
from tests.cluster.nodes import start_node
from tests.e2e.server import TOKEN, ServerProcess
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def two_nodes(tmp_path: Path, redis_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """n1 runs its rooms in a media worker, n2 in its own process: both modes take part."""
    first = start_node(tmp_path, redis_url, "n1", "127.0.0.2", workers=1)
    try:
        second = start_node(tmp_path, redis_url, "n2", "127.0.0.3")
    except BaseException:
        first.stop()
        raise
    yield first, second
    second.stop()
    first.stop()


def nodes(server: ServerProcess) -> dict[str, dict[str, Any]]:
    response = server.client.get("/api/v1/nodes")
    assert response.status_code == 200, response.text
    return {node["name"]: node for node in response.json()}


def rooms(server: ServerProcess) -> dict[str, str]:
    """{room: node} as `GET /api/v1/rooms` on `server` lists them."""
    response = server.client.get("/api/v1/rooms")
    assert response.status_code == 200, response.text
    return {room["name"]: room["node"] for room in response.json()}


def test_every_node_serves_every_room(two_nodes: tuple[ServerProcess, ServerProcess]) -> None:
    first, second = two_nodes
    listed = wait_until(lambda: len(nodes(second)) == 2 and nodes(second), 10, "both nodes up")
    assert {name: node["state"] for name, node in listed.items()} == {"n1": "up", "n2": "up"}
    assert listed["n1"]["address"] == "127.0.0.2" and listed["n2"]["address"] == "127.0.0.3"
    # The config room is n1's (it started first); n2 did not open one of its own.
    assert rooms(first) == rooms(second) == {"command": "n1"}

    created = first.client.post("/api/v1/rooms", json={"name": "incident"})
    assert created.status_code == 201, created.text
    owner = wait_until(lambda: rooms(first).get("incident"), 10, "the room in the directory")
    for server in two_nodes:  # whichever node it was placed on, both serve it
        assert server.client.get("/api/v1/rooms/incident").status_code == 200
        assert rooms(server) == {"command": "n1", "incident": owner}
    again = second.client.post("/api/v1/rooms", json={"name": "incident"})
    assert again.status_code == 409, again.text

    changed = second.client.patch("/api/v1/rooms/command", json={"max_talkers": 2})
    assert changed.status_code == 200, changed.text
    assert first.client.get("/api/v1/rooms/command").json()["max_talkers"] == 2
    missing = second.client.get("/api/v1/rooms/nowhere")
    assert missing.status_code == 404 and missing.json()["error"] == "room-not-found"
    bad = second.client.patch("/api/v1/rooms/command", json={"max_talkers": 99})
    assert bad.status_code == 400, bad.text  # the owner's own answer, as it is
    anonymous = httpx.get(f"{second.url}/api/v1/rooms/command")
    assert anonymous.status_code == 401


def test_a_room_s_events_reach_every_node_s_stream(
    two_nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = two_nodes
    wait_until(lambda: len(nodes(second)) == 2, 10, "both nodes up")

    async def watch() -> dict[str, Any]:
        async with websockets.connect(second.events_url("command")) as stream:
            await asyncio.sleep(0.5)
            changed = first.client.patch("/api/v1/rooms/command", json={"max_talkers": 3})
            assert changed.status_code == 200, changed.text
            while True:
                event = json.loads(await asyncio.wait_for(stream.recv(), 10))
                if event["type"] == "room.updated":
                    return dict(event)

    event = asyncio.run(watch())
    assert event["room"] == "command" and event["settings"]["max_talkers"] == 3


def test_nodes_forward_over_https_trusting_each_other_s_certificate(
    tmp_path: Path, redis_url: str
) -> None:
    first = start_node(tmp_path, redis_url, "n1", "127.0.0.2", tls=True)
    try:
        second = start_node(tmp_path, redis_url, "n2", "127.0.0.3", tls=True)
        try:
            assert nodes(second)["n1"]["http"].startswith("https://127.0.0.2:")
            assert "cert" not in nodes(second)["n1"]
            changed = second.client.patch("/api/v1/rooms/command", json={"max_talkers": 5})
            assert changed.status_code == 200, changed.text
            assert rooms(second) == {"command": "n1"}
        finally:
            second.stop()
    finally:
        first.stop()


def test_a_room_s_signalling_socket_on_another_node(
    two_nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    """n2 joins the socket to n1's, which has the room: messages pass both ways, closes too."""
    _, second = two_nodes
    base = second.url.replace("http", "ws", 1) + "/api/v1/rooms"

    async def talk() -> None:
        async with websockets.connect(f"{base}/command/webrtc?token={TOKEN}") as signalling:
            await signalling.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(signalling.recv(), 10))["type"] == "pong"
        async with websockets.connect(f"{base}/nowhere/webrtc?token={TOKEN}") as unknown:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(unknown.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404
        forged = {HEADER: "n1;1;00"}
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(
                f"{base}/command/webrtc?token={TOKEN}", additional_headers=forged
            )

    asyncio.run(talk())


def test_a_killed_node_is_dead_and_its_room_moves(tmp_path: Path, redis_url: str) -> None:
    started: list[ServerProcess] = []
    try:
        for name, address in (("n1", "127.0.0.2"), ("n2", "127.0.0.3"), ("n3", "127.0.0.4")):
            started.append(start_node(tmp_path, redis_url, name, address))
        first, second, third = started
        wait_until(lambda: len(nodes(third)) == 3, 10, "three nodes up")
        assert first.client.post("/api/v1/rooms", json={"name": "fire"}).status_code == 201
        owner = wait_until(lambda: rooms(second).get("fire"), 10, "the room placed")
        victim = started[int(owner[1]) - 1]
        survivor = next(server for server in started if server is not victim)

        async def kill_and_watch() -> dict[str, Any]:
            async with websockets.connect(survivor.events_url("fire")) as stream:
                await asyncio.sleep(0.3)
                victim.process.send_signal(signal.SIGKILL)
                victim.process.wait()
                while True:
                    event = json.loads(await asyncio.wait_for(stream.recv(), 30))
                    if event["type"] == "room.moved" and event["room"] == "fire":
                        return dict(event)

        announced = asyncio.run(kill_and_watch())
        assert nodes(survivor)[owner]["state"] == "dead"
        moved = rooms(survivor)["fire"]
        assert (announced["from"], announced["to"]) == (owner, moved) and moved != owner
        for server in started:
            if server is not victim:
                assert server.client.get("/api/v1/rooms/fire").status_code == 200
                assert rooms(server)["fire"] == moved
    finally:
        for server in started:
            server.stop()


OFFER = [
    "v=0",
    "o=- 1 1 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 40000 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
]


def test_a_new_leg_goes_to_the_room_s_intake_node(tmp_path: Path, redis_url: str) -> None:
    """n1 owns the config room; with n2 written as its intake (as the owner writes it when the
    room grows a shard there), a leg added through n3 is n2's to take: n2, holding no shard
    here, refuses it (404), where n1 would have added it. The rest still goes to n1, and with
    the intake gone so does a new leg."""
    started: list[ServerProcess] = []
    try:
        for name, address in (("n1", "127.0.0.2"), ("n2", "127.0.0.3"), ("n3", "127.0.0.4")):
            started.append(start_node(tmp_path, redis_url, name, address))
        first, second, third = started
        wait_until(lambda: len(nodes(third)) == 3, 10, "three nodes up")
        directory = redis.Redis.from_url(redis_url, decode_responses=True)
        intake = {"intake": "n2", "intake_sip": "127.0.0.3:5060", "intake_http": second.url}
        directory.hset(room_key("command"), mapping=intake)
        offer = "\r\n".join(OFFER) + "\r\n"

        def add_leg() -> httpx.Response:
            headers = {"Content-Type": "application/sdp"}
            return third.client.post("/api/v1/rooms/command/rtp", content=offer, headers=headers)

        refused = add_leg()
        assert refused.status_code == 404 and refused.json()["error"] == "room-not-found"
        assert third.client.get("/api/v1/rooms/command").status_code == 200  # the owner's
        directory.hdel(room_key("command"), *intake)
        directory.close()
        added = add_leg()
        assert added.status_code == 201, added.text
        assert len(first.roster("command")) == 1  # on the owner
    finally:
        for server in reversed(started):
            server.stop()
