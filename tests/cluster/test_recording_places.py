"""Where a request about a recording goes: here, the node that made it, the survivor serving a
dead node's recordings (the claim in Redis), or nowhere (503)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import redis.asyncio as aioredis

from mediacore.server import clusterredis as keys
from mediacore.server.clusterrecordings import RECORDINGS_KIND, RecordingPlaces
from mediacore.server.clusterview import ClusterView, NodeRecord

NOW = time.time() * 1000


def view(*alive: str, dead: tuple[str, ...] = ()) -> ClusterView:
    records = [NodeRecord(name, http=f"http://{name}:8080", last_seen=int(NOW)) for name in alive]
    records += [NodeRecord(name, last_seen=int(NOW) - 60_000) for name in dead]
    return ClusterView(3000, lambda: NOW, records)


def places(client: aioredis.Redis, here: set[str], nodes: ClusterView) -> RecordingPlaces:
    node: Any = SimpleNamespace(name="b", view=nodes)
    return RecordingPlaces(node, client, here.__contains__)


async def test_each_recording_goes_where_it_is_served(redis_url: str) -> None:
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        mine = "rec-20261207T101500Z-abcdef-b"
        theirs = "rec-20261207T101500Z-abcdef-a"
        dead = "rec-20261207T101500Z-abcdef-c"
        found = places(client, {"taken-over"}, view("a", "b", "d", dead=("c",)))
        assert (await found.recording("taken-over")).node is None
        assert (await found.recording(mine)).node is None  # ours: this node's answer (404)
        assert (await found.recording("rec-20261207T101500Z-abcdef")).anywhere
        served = await found.recording(theirs)
        assert served.node is not None and served.node.http == "http://a:8080"
        assert (await found.recording(dead)).down == "c"  # nobody serves c's recordings
        await client.set(keys.own_key(RECORDINGS_KIND, "c"), "d")
        by_survivor = await found.recording(dead)
        assert by_survivor.node is not None and by_survivor.node.name == "d"
        assert found.export("exp-0123456789ab-a").node is not None
        assert found.export("exp-0123456789ab-c").down == "c"  # jobs die with their node
        assert found.export("exp-0123456789ab").node is None
    finally:
        await client.aclose()


async def test_unreachable_redis_says_the_node_is_down() -> None:
    client = aioredis.from_url(
        "redis://127.0.0.1:1/0", socket_timeout=0.2, socket_connect_timeout=0.2
    )
    try:
        found = places(client, set(), view("b", dead=("c",)))
        assert (await found.recording("rec-20261207T101500Z-abcdef-c")).down == "c"
    finally:
        await client.aclose()
