"""GET /api/v1/nodes alone and clustered, a node whose Redis is gone, forged forwarding marks
(in process, against a real Redis where one is needed)."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import replace
from pathlib import Path

import redis

from mediacore.server.clustertrust import HEADER
from mediacore.server.config import ClusterSection
from tests.cluster.redisserver import free_port
from tests.server.test_api import assert_error, make_config, running
from tests.waiting import wait_for


def clustered(tmp_path: Path, redis_url: str, name: str = "solo"):
    config = make_config(tmp_path)
    cluster = ClusterSection(redis=redis_url, node=name, advertise="127.0.0.1")
    return replace(config, cluster=cluster)


async def test_a_server_alone_lists_itself(tmp_path: Path) -> None:
    async with running(make_config(tmp_path)) as api:
        response = await api.admin("GET", "/api/v1/nodes")
        assert response.status_code == 200, response.text
        [node] = response.json()
        assert node["name"] == socket.gethostname().split(".")[0]
        assert (node["state"], node["rooms"], node["legs"]) == ("up", 1, 0)
        assert_error(await api.as_role("reviewer", "GET", "/api/v1/nodes"), 403)
        assert_error(await api.as_role(None, "GET", "/api/v1/nodes"), 401)


async def test_a_clustered_node_announces_itself_and_claims_its_rooms(
    tmp_path: Path, redis_url: str
) -> None:
    async with running(clustered(tmp_path, redis_url)) as api:
        [node] = (await api.admin("GET", "/api/v1/nodes")).json()
        assert (node["name"], node["address"], node["state"]) == ("solo", "127.0.0.1", "up")
        assert node["sip"].startswith("127.0.0.1:") and node["http"].startswith("https://")
        response = await api.admin("POST", "/api/v1/rooms", json={"name": "extra"})
        assert response.status_code == 201, response.text
        listed = (await api.admin("GET", "/api/v1/rooms")).json()
        assert {(room["name"], room["node"]) for room in listed} == {
            ("command", "solo"),
            ("extra", "solo"),
        }
        store = redis.Redis.from_url(redis_url, decode_responses=True)
        await wait_for(lambda: store.hget("mc:room:extra", "node") == "solo", 5)  # claimed
        assert "extra" in store.smembers("mc:rooms") and store.get("mc:least") == node["sip"]
        assert (await api.admin("DELETE", "/api/v1/rooms/extra")).status_code == 204
        await wait_for(lambda: not store.exists("mc:room:extra", "mc:roomdef:extra"), 5)
        forged = await api.admin("GET", "/api/v1/rooms/command", headers={HEADER: "x;1;00"})
        assert_error(forged, 403, "forged-forward")
    assert not store.exists("mc:node:solo")  # withdrawn at a clean stop
    assert store.hget("mc:room:command", "node") == "solo"  # left for a survivor


async def test_a_node_without_its_redis_serves_on(tmp_path: Path) -> None:
    gone = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    async with running(clustered(tmp_path, gone)) as api:
        assert_error(await api.admin("GET", "/api/v1/nodes"), 503, "cluster-unreachable")
        assert (await api.admin("GET", "/api/v1/rooms/command")).status_code == 200
        assert (await api.admin("GET", "/api/v1/rooms")).status_code == 200


async def test_a_node_agrees_with_the_directory_again(tmp_path: Path, redis_url: str) -> None:
    """What changed while a node was cut off from Redis: a room the directory lost is claimed
    again; one another live node now owns is closed here."""
    async with running(clustered(tmp_path, redis_url)) as api:
        assert (await api.admin("POST", "/api/v1/rooms", json={"name": "extra"})).status_code == 201
        store = redis.Redis.from_url(redis_url, decode_responses=True)
        await wait_for(lambda: store.hget("mc:room:extra", "node") == "solo", 5)
        store.delete("mc:room:extra")
        store.srem("mc:rooms", "extra")
        other = {"name": "other", "address": "127.0.0.9", "http": "http://127.0.0.9:1"}
        store.hset("mc:node:other", mapping={**other, "last_seen": str(int(time.time() * 1000))})
        store.sadd("mc:nodes", "other")
        store.hset("mc:room:command", "node", "other")
        await wait_for(lambda: store.hget("mc:room:extra", "node") == "solo", 5)
        await wait_for(lambda: "command" not in api.server.rooms.names(), 5)
        assert store.hget("mc:room:command", "node") == "other"  # not released by the close
        unreachable = await api.admin("GET", "/api/v1/rooms/command")
        assert_error(unreachable, 503, "node-unreachable")
        store.sadd("mc:nodes", "gone")  # a node that was never heard of again
        store.hset("mc:room:ghost", mapping={"node": "gone", "http": "http://127.0.0.9:1"})
        assert_error(await api.admin("GET", "/api/v1/rooms/ghost"), 503, "node-down")
        assert_error(await api.admin("GET", "/api/v1/rooms/nowhere"), 404, "room-not-found")


async def test_a_restarted_node_reopens_the_rooms_it_had(tmp_path: Path, redis_url: str) -> None:
    async with running(clustered(tmp_path, redis_url)) as api:
        assert (
            await api.admin("POST", "/api/v1/rooms", json={"name": "extra", "pin": "4321"})
        ).status_code == 201
        store = redis.Redis.from_url(redis_url, decode_responses=True)
        await wait_for(lambda: store.hget("mc:room:extra", "node") == "solo", 5)
    async with running(clustered(tmp_path, redis_url)) as api:
        await wait_for(lambda: "extra" in api.server.rooms.names(), 5)
        assert api.server.settings_of("extra").pin == "4321"  # type: ignore[union-attr]
        assert (await api.admin("DELETE", "/api/v1/rooms/extra")).status_code == 204
        await wait_for(lambda: not store.exists("mc:room:extra"), 5)
        await asyncio.sleep(1.5)  # heartbeats: the closed room is not reopened
        assert "extra" not in api.server.rooms.names()
