"""A room across two nodes (跨节点房间): `mediacore serve` nodes a and b on their own loopback
addresses, each with a media worker, joined through one Redis. A room of a grows a shard on b
through the API; plain RTP legs join on both, each through its own node's API, and by
measurement each hears the others and never itself, the floor is one, the roster says where
every leg is, and a guest node killed outright leaves the owner's legs going on.

The two nodes are shared by the module's tests (each test its own room); the last test kills b."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from mediacore.codecs import PCMU
from tests.cluster.nodes import start_node
from tests.cluster.redisserver import redis_server
from tests.e2e.server import ServerProcess
from tests.e2e.test_rtp_legs import LEVEL, SILENT, heard, joined, tone_payloads
from tests.e2e.test_workers import silence
from tests.waiting import wait_for, wait_until

pytestmark = pytest.mark.slow

Nodes = tuple[ServerProcess, ServerProcess, str]  # owner a, guest b, the Redis URL


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    directory = tmp_path_factory.mktemp("span")
    with redis_server(directory) as url:
        a = start_node(directory, url, "a", "127.0.0.2", workers=1)
        try:
            b = start_node(directory, url, "b", "127.0.0.3", workers=1)
        except BaseException:
            a.stop()
            raise
        try:
            wait_until(lambda: _live(a) == {"a", "b"} == _live(b), 15, "both nodes up")
            yield a, b, url
        finally:
            if b.process.poll() is None:
                b.stop()
            a.stop()


def _live(server: ServerProcess) -> set[str]:
    listed = server.client.get("/api/v1/nodes").json()
    return {node["name"] for node in listed if node["state"] == "up"}


def span(a: ServerProcess, b: ServerProcess, room: str) -> dict[str, Any]:
    """Open `room` on a and grow it onto b (asked through b: forwarded to the owner)."""
    created = a.client.post("/api/v1/rooms", json={"name": room, "node": "a", "max_talkers": 8})
    assert created.status_code == 201, created.text
    grown = b.client.post(f"/api/v1/rooms/{room}/shards", json={"node": "b"})
    assert grown.status_code == 201, grown.text
    return dict(grown.json())


def by_name(server: ServerProcess, room: str) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in server.roster(room)}


async def test_a_room_across_two_nodes_hears_everyone_but_never_itself(nodes: Nodes) -> None:
    a, b, url = nodes
    summary = span(a, b, "across")
    assert {shard["node"] for shard in summary["shards"]} == {"a", "b"}
    again = a.client.post("/api/v1/rooms/across/shards", json={"node": "b"})
    assert again.status_code == 409 and again.json()["error"] == "already-there"
    nowhere = a.client.post("/api/v1/rooms/across/shards", json={"node": "nowhere"})
    assert nowhere.status_code == 404 and nowhere.json()["error"] == "node-not-found"
    directory = redis.Redis.from_url(url, decode_responses=True)
    entry = directory.hgetall("mc:room:across")
    assert entry["node"] == "a" and entry["intake"] == "b", entry
    assert entry["intake_sip"].startswith("127.0.0.3:") and entry["intake_http"] == b.url

    tones = {"a1": 500.0, "a2": 900.0, "b1": 1300.0, "b2": 1700.0}
    peers = {}
    for name in tones:  # each leg through its own node's API
        peers[name] = (await joined(a if name[0] == "a" else b, "across", PCMU, name))[0]
    for server in (a, b):  # the roster, asked of either node, has every leg and its node
        roster = by_name(server, "across")
        assert {name: entry["node"] for name, entry in roster.items()} == {
            "a1": "a",
            "a2": "a",
            "b1": "b",
            "b2": "b",
        }
    shards = a.client.get("/api/v1/rooms/across").json()["shards"]
    assert sorted((s["node"], s["legs"]) for s in shards) == [("a", 2), ("b", 2)]

    steady = time.monotonic() + 0.6
    await asyncio.gather(*(p.play(tone_payloads(p, tones[n], 2.0)) for n, p in peers.items()))
    for name, listener in peers.items():
        assert heard(listener, tones[name], steady) < SILENT, f"{name} hears itself"
        for other, tone in tones.items():
            if other != name:
                level = heard(listener, tone, steady)
                assert level == pytest.approx(LEVEL, abs=2.5), (name, other, level)

    muted = a.client.patch(
        f"/api/v1/rooms/across/participants/{by_name(a, 'across')['b1']['id']}",
        json={"muted": True},
    )  # a change of a leg on b, asked of the owner
    assert muted.status_code == 200 and muted.json()["muted"] is True, muted.text
    assert muted.json()["node"] == "b"
    kicked = a.client.delete(
        f"/api/v1/rooms/across/participants/{by_name(a, 'across')['b2']['id']}"
    )
    assert kicked.status_code == 204, kicked.text
    wait_until(lambda: "b2" not in by_name(a, "across"), 10, "the kicked leg gone")
    closed = a.client.delete("/api/v1/rooms/across")
    assert closed.status_code in (200, 204), closed.text
    wait_until(lambda: "across" not in b.client.get("/api/v1/rooms").text, 10, "room gone")
    for peer in peers.values():
        peer.close()


async def test_the_floor_is_one_across_nodes(nodes: Nodes) -> None:
    a, b, _ = nodes
    span(a, b, "radio")
    phone, _ = await joined(a, "radio", PCMU, "phone")  # on a
    ptt, ptt_id = await joined(b, "radio", PCMU, "ptt", duplex="half")  # on b
    gateway, gateway_id = await joined(b, "radio", PCMU, "gateway", radio="vox")  # on b
    listener, _ = await joined(a, "radio", PCMU, "radio-a", radio="vox")  # on a

    # The half-duplex leg on b asks for the floor through b's API: the owner's home shard
    # decides, and a's radio hears it, keyed.
    granted = b.client.post(
        "/api/v1/rooms/radio/floor", json={"participant": ptt_id, "action": "request"}
    )
    assert granted.status_code == 200 and granted.json()["result"] == "granted", granted.text
    await asyncio.sleep(0.3)
    roster = by_name(a, "radio")
    assert roster["ptt"]["has_floor"] is True and roster["ptt"]["node"] == "b"
    steady = time.monotonic() + 0.6
    await asyncio.gather(
        ptt.play(tone_payloads(ptt, 700.0, 2.0)),
        phone.play(tone_payloads(phone, 1500.0, 2.0)),
        gateway.play(silence(gateway, 2.0)),
        listener.play(silence(listener, 2.0)),
    )
    assert heard(listener, 700.0, steady) == pytest.approx(LEVEL, abs=2.5)  # the holder
    assert heard(listener, 1500.0, steady) < SILENT  # a radio hears only the floor holder
    assert heard(phone, 700.0, steady) == pytest.approx(LEVEL, abs=2.5)
    released = a.client.post(
        "/api/v1/rooms/radio/floor", json={"participant": ptt_id, "action": "release"}
    )
    assert released.json()["result"] == "released", released.text

    # The gateway on b keys the floor by its level: b's worker asks the owner (a notice).
    keyed = asyncio.ensure_future(gateway.play(tone_payloads(gateway, 1100.0, 2.5)))
    holder = await wait_for(  # the gateway plays meanwhile
        lambda: a.client.get("/api/v1/rooms/radio/floor").json().get("holder"), 10
    )
    assert holder == gateway_id
    await keyed
    for peer in (phone, ptt, gateway, listener):
        peer.close()


async def test_the_owner_s_legs_go_on_when_the_guest_node_dies(nodes: Nodes) -> None:
    a, b, url = nodes
    span(a, b, "survive")
    talker, _ = await joined(a, "survive", PCMU, "talker")
    ear, _ = await joined(a, "survive", PCMU, "ear")
    guest, _ = await joined(b, "survive", PCMU, "guest")
    assert by_name(a, "survive")["guest"]["node"] == "b"

    b.process.send_signal(signal.SIGKILL)
    b.process.wait(10)

    def shards() -> list[str]:
        return [s["node"] for s in a.client.get("/api/v1/rooms/survive").json()["shards"]]

    wait_until(lambda: shards() == ["a"], 15, "the dead node's shard dropped")
    assert set(by_name(a, "survive")) == {"talker", "ear"}
    directory = redis.Redis.from_url(url, decode_responses=True)
    assert "intake" not in directory.hgetall("mc:room:survive")
    started = time.monotonic()
    await asyncio.gather(
        talker.play(tone_payloads(talker, 800.0, 2.0)), ear.play(silence(ear, 2.0))
    )
    assert heard(ear, 800.0, started + 0.6) == pytest.approx(LEVEL, abs=2.5)
    for peer in (talker, ear, guest):
        peer.close()
