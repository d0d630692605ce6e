"""A dead node's folder of the shared store: one survivor claims it (Redis), recovers what was
left open with the recorder's own recovery, serves it, and gives it back when the node returns;
the node waits for its claim and then finds nothing left to recover."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from mediacore.events import Event, EventBus
from mediacore.server import clusterredis as keys
from mediacore.server.clusterstore import SharedStore
from mediacore.server.clusterview import ClusterView, NodeRecord
from mediacore.signing import SigningKey
from recorder.manifest import read_manifest, write_manifest
from recorder.service import RecorderService
from recorder.shelf import RecorderShelf
from recorder.site import LocalSite
from tests.recorder.test_recorder_service import eventually

RECORDING = "rec-20261207T101500Z-abcdef-a"
CLAIM = keys.own_key("recordings", "a")


def view(alive: tuple[str, ...], dead: tuple[str, ...] = ()) -> ClusterView:
    now = time.time() * 1000
    records = [NodeRecord(name, last_seen=int(now)) for name in alive]
    records += [NodeRecord(name, last_seen=int(now) - 60_000) for name in dead]
    return ClusterView(3000, lambda: time.time() * 1000, records)


class Node:
    """What a SharedStore needs of its ClusterNode: a name, the view, the heartbeat's duties."""

    def __init__(self, name: str, nodes: ClusterView) -> None:
        self.name = name
        self.view = nodes
        self.beats: list[Any] = []
        self.heartbeat_ms = 50
        self.reachable = True

    async def beat(self) -> None:
        for duty in self.beats:
            await duty()


def recorder(data_dir: Path, shared: Path, name: str, key: SigningKey, bus: EventBus, index: str):
    return RecorderService(
        data_dir, bus, LocalSite(lambda room: None), key,
        store=shared / name, index=data_dir / index, node=name,
    )  # fmt: skip


async def test_a_survivor_recovers_a_dead_node_s_folder_once_and_gives_it_back(
    redis_url: str, tmp_path: Path
) -> None:
    shared, key = tmp_path / "shared", SigningKey.load_or_create(tmp_path / "keys" / "k.key")
    left_open = shared / "a" / "recordings" / RECORDING
    left_open.mkdir(parents=True)
    write_manifest(left_open, {"id": RECORDING, "room": "ops", "state": "recording",
                               "started_at": "2026-12-07T10:15:00.000Z", "tracks": []})  # fmt: skip
    bus = EventBus()
    events: list[Event] = []
    bus.listen(events.append)
    client = aioredis.from_url(redis_url, decode_responses=True)
    data_b = tmp_path / "b"
    shelf = RecorderShelf(recorder(data_b, shared, "b", key, bus, "recordings.db"))
    b = Node("b", view(("b",), dead=("a",)))
    node: Any = b
    store = SharedStore(
        node, client, shelf, bus, shared,
        lambda name: recorder(data_b, shared, name, key, bus, f"taken-over-{name}.db"), 5000,
    )  # fmt: skip
    try:  # (the claims outlast the test: b renews them only when the test beats)
        await store.claim_own()
        store.follow()
        await b.beat()
        await eventually(lambda: "a" in shelf.adopted)
        assert shelf.holds(RECORDING) and await client.get(CLAIM) == "b"
        assert read_manifest(left_open)["state"] == "recovered"
        (told,) = [e for e in events if e.type == "recording.recovered"]
        assert told.data["id"] == RECORDING
        assert (told.data["recovered_by"], told.data["recorded_by"]) == ("b", "a")
        served = await shelf.holder(RECORDING).manifest(RECORDING)
        assert served["recovered_at"]
        # a returns: it waits for its folder until b gives it back
        a = Node("a", view(("a", "b")))
        a_node: Any = a
        a_shelf = RecorderShelf(recorder(tmp_path / "a", shared, "a", key, bus, "recordings.db"))
        opener = a_shelf.holder  # (a takes nothing over here)
        returning = SharedStore(a_node, client, a_shelf, bus, shared, opener, 300)
        waiting = asyncio.ensure_future(returning.claim_own(wait_s=10))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        b.view = view(("a", "b"))
        await b.beat()
        await asyncio.wait_for(waiting, 5)
        assert await client.get(CLAIM) == "a" and "a" not in shelf.adopted
        await a_shelf.own.open()
        assert a_shelf.own.recovered == []  # sealed by b: nothing to recover again
        assert read_manifest(left_open)["recovered_at"] == served["recovered_at"]
        await a_shelf.own.close()
    finally:
        await store.stop()
        await shelf.own.close()
        await client.aclose()
