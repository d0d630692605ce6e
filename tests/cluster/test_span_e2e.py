"""A room across two nodes (跨节点房间): `mediacore serve` nodes a and b on their own loopback
addresses, each with a media worker, joined through one Redis. A room of a grows a shard on b
through the API; plain RTP legs join on both, each through its own node's API, and by
measurement each hears the others and never itself, the floor is one, the roster says where
every leg is, a leg joined on b is the owner's to change as soon as b answered, a leg (plain
RTP, or a phone's call) moved into a room of the other node keeps its node and is heard
there, a console monitoring (and transmitting into) a room of the other node hears it, and a
guest node killed outright leaves the owner's legs going on.

The two nodes are shared by the module's tests (each test its own room); the last test kills b."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import websockets

from bench.rtppeer import RtpPeer
from bench.sipprun import run_sipp, sipp_available
from mediacore.audio import tone_levels_by_block
from mediacore.codecs import PCMU
from tests.cluster.nodes import start_node
from tests.cluster.redisserver import redis_server
from tests.e2e.server import SIPP_PASSWORD, SIPP_USER, ServerProcess, sipp_config
from tests.e2e.test_dispatch_audio import patch, play_all
from tests.e2e.test_rtp_legs import LEVEL, SILENT, heard, joined, tone_payloads
from tests.e2e.test_sipp_interop import in_background
from tests.e2e.test_workers import silence
from tests.waiting import wait_for, wait_until

pytestmark = pytest.mark.slow

Nodes = tuple[ServerProcess, ServerProcess, str]  # owner a, guest b, the Redis URL


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    directory = tmp_path_factory.mktemp("span")
    with redis_server(directory) as url:
        # a SIP account for the phone calling the guest node; rooms grow at 3 legs a node
        config = sipp_config() + "\n[cluster]\nmax_legs_per_node = 3\n"
        a = start_node(directory, url, "a", "127.0.0.2", workers=1, config=config)
        try:
            b = start_node(directory, url, "b", "127.0.0.3", workers=1, config=config)
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


def span(owner: ServerProcess, guest: ServerProcess, room: str, nodes: str = "ab") -> None:
    """Open `room` on node nodes[0] and grow it onto nodes[1] (asked through the guest's API:
    forwarded to the owner)."""
    body = {"name": room, "node": nodes[0], "max_talkers": 8}
    created = owner.client.post("/api/v1/rooms", json=body)
    assert created.status_code == 201, created.text
    # POST /rooms answers before the directory has the room: the guest asks once it has
    wait_until(lambda: guest.client.get(f"/api/v1/rooms/{room}").status_code == 200, 10, room)
    grown = guest.client.post(f"/api/v1/rooms/{room}/shards", json={"node": nodes[1]})
    assert grown.status_code == 201, grown.text
    assert {shard["node"] for shard in grown.json()["shards"]} == set(nodes)


def level(listener: RtpPeer, frequency: float, since: float) -> float:
    """The tone's level in what `listener` heard since `since`, block by block, the median:
    a few 20 ms blocks lost when this shared machine runs a tick late (`late_ticks`) leave
    it as it is, where the level of the whole would dip."""
    return float(np.median(tone_levels_by_block(listener.decoded(since), frequency, 8000)))


async def hear_each_other(tones: dict[str, tuple[RtpPeer, float]]) -> None:
    """The peers (name: (peer, its tone's frequency)) play their tones for 2 s at once: each
    hears the other's at LEVEL and never its own."""
    steady = time.monotonic() + 0.6
    await asyncio.gather(*(peer.play(tone_payloads(peer, f, 2.0)) for peer, f in tones.values()))
    for name, (listener, own) in tones.items():
        assert heard(listener, own, steady) < SILENT, f"{name} hears itself"
        other = next(f for n, (_, f) in tones.items() if n != name)
        found = level(listener, other, steady)
        assert found == pytest.approx(LEVEL, abs=2.5), (name, found)


def by_name(server: ServerProcess, room: str) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in server.roster(room)}


async def test_a_room_across_two_nodes_hears_everyone_but_never_itself(nodes: Nodes) -> None:
    a, b, url = nodes
    span(a, b, "across")
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
                found = level(listener, tone, steady)
                assert found == pytest.approx(LEVEL, abs=2.5), (name, other, found)

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


async def test_a_leg_joined_at_the_guest_is_the_owner_s_to_change_at_once(nodes: Nodes) -> None:
    """b answers a join once a, the room's owner, has heard of the leg: asked of a right away
    (a few times over: the owner used to hear of one leg in six or so too late), a knows it."""
    a, b, _ = nodes
    span(a, b, "prompt")
    peers = []
    for n in range(8):
        peer, participant = await joined(b, "prompt", PCMU, f"leg{n}")
        peers.append(peer)
        muted = a.client.patch(
            f"/api/v1/rooms/prompt/participants/{participant}", json={"muted": True}
        )
        assert muted.status_code == 200 and muted.json()["node"] == "b", muted.text
    assert a.client.delete("/api/v1/rooms/prompt").status_code == 204
    for peer in peers:
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
    # the home shard decided; b's shard, whose roster entry says so, is told in the background
    await wait_for(lambda: by_name(a, "radio")["ptt"]["has_floor"] is True, 10)
    assert by_name(a, "radio")["ptt"]["node"] == "b"
    steady = time.monotonic() + 0.6
    await asyncio.gather(
        ptt.play(tone_payloads(ptt, 700.0, 2.0)),
        phone.play(tone_payloads(phone, 1500.0, 2.0)),
        gateway.play(silence(gateway, 2.0)),
        listener.play(silence(listener, 2.0)),
    )
    assert level(listener, 700.0, steady) == pytest.approx(LEVEL, abs=2.5)  # the holder
    assert heard(listener, 1500.0, steady) < SILENT  # a radio hears only the floor holder
    assert level(phone, 700.0, steady) == pytest.approx(LEVEL, abs=2.5)
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


async def test_a_room_grows_onto_the_other_node_on_its_own(nodes: Nodes) -> None:
    a, _, url = nodes
    created = a.client.post("/api/v1/rooms", json={"name": "auto", "node": "a"})
    assert created.status_code == 201, created.text
    peers = [(await joined(a, "auto", PCMU, f"leg{n}"))[0] for n in range(3)]

    def nodes_of_room() -> list[str]:
        return sorted(s["node"] for s in a.client.get("/api/v1/rooms/auto").json()["shards"])

    await wait_for(lambda: nodes_of_room() == ["a", "b"], 10)  # max_legs_per_node = 3
    directory = redis.Redis.from_url(url, decode_responses=True)
    assert directory.hget("mc:room:auto", "intake") == "b"
    assert a.client.delete("/api/v1/rooms/auto").status_code == 204
    for peer in peers:
        peer.close()


async def test_a_participant_moves_into_a_room_of_the_other_node(nodes: Nodes) -> None:
    """A leg of a's room `desk` moved into b's room `field` keeps its socket on a: `field`
    grows a shard on a's worker holding it, and by measurement it hears b's leg and b's leg
    hears it, neither itself."""
    a, b, _ = nodes
    for room, node, rate in (("desk", "a", 8000), ("field", "b", 8000), ("wide", "b", 16000)):
        created = a.client.post("/api/v1/rooms", json={"name": room, "node": node, "rate": rate})
        assert created.status_code == 201, created.text
        wait_until(lambda r=room: a.client.get(f"/api/v1/rooms/{r}").status_code == 200, 10, room)
    mover, mover_id = await joined(a, "desk", PCMU, "mover")
    stay, _ = await joined(b, "field", PCMU, "stay")

    def move(to: str) -> Any:  # asked of b: forwarded to a, desk's owner
        path = f"/api/v1/rooms/desk/participants/{mover_id}/move"
        return b.client.post(path, json={"to": to})

    for to, status, error in (
        ("nowhere", 404, "room-not-found"),
        ("desk", 409, "same-room"),
        ("wide", 409, "room-format"),
    ):
        refused = move(to)
        assert (refused.status_code, refused.json()["error"]) == (status, error), refused.text
    moved = move("field")
    assert moved.status_code == 200, moved.text
    assert (moved.json()["id"], moved.json()["room"], moved.json()["node"]) == (
        mover_id,
        "field",
        "a",
    )
    for server in (a, b):  # the roster, asked of either node, has it on a
        assert {n: e["node"] for n, e in by_name(server, "field").items()} == {
            "mover": "a",
            "stay": "b",
        }
        assert server.roster("desk") == []
    shards = b.client.get("/api/v1/rooms/field").json()["shards"]
    assert sorted((s["node"], s["legs"]) for s in shards) == [("a", 1), ("b", 1)]

    await hear_each_other({"mover": (mover, 600.0), "stay": (stay, 1400.0)})

    held = a.client.post(f"/api/v1/rooms/field/participants/{mover_id}/hold")  # to b, to a
    assert held.status_code == 200, held.text
    assert (held.json()["held"], held.json()["node"]) == (True, "a")
    assert by_name(b, "field")["mover"]["held"] is True
    kicked = b.client.delete(f"/api/v1/rooms/field/participants/{mover_id}")  # b drives a
    assert kicked.status_code == 204, kicked.text
    wait_until(lambda: set(by_name(a, "field")) == {"stay"}, 10, "the moved leg gone")
    for room in ("desk", "field", "wide"):
        assert a.client.delete(f"/api/v1/rooms/{room}").status_code == 204
    for peer in (mover, stay):
        peer.close()


@pytest.mark.skipif(not sipp_available(), reason="sipp (Debian sip-tester) is not installed")
def test_a_phone_calling_the_guest_node_joins_its_shard(nodes: Nodes, tmp_path: Path) -> None:
    a, b, _ = nodes
    span(a, b, "phones")
    thread, results = in_background(
        lambda: run_sipp(
            "uac_auth_call",
            f"127.0.0.3:{b.sip_port}",
            service="phones",
            user=SIPP_USER,
            password=SIPP_PASSWORD,
            workdir=tmp_path,
            duration_ms=3000,
            timeout=30.0,
        )
    )
    roster = wait_until(lambda: a.roster("phones"), 15, "the phone joined")
    assert [(entry["node"], entry["kind"]) for entry in roster] == [("b", "sip")], roster
    thread.join(40)
    assert results and results[0].ok, results[0].describe() if results else "sipp hung"
    wait_until(lambda: a.roster("phones") == [], 10, "the phone's leg gone after its BYE")


async def test_a_leg_on_the_guest_s_shard_is_moved_by_the_guest(nodes: Nodes) -> None:
    """A leg that joined a's room `hall` on b's shard, moved (asked of a) into a's room
    `yard`: b moves it, `yard` growing a shard on b; it hears `yard` and is heard there."""
    a, b, _ = nodes
    span(a, b, "hall")
    created = a.client.post("/api/v1/rooms", json={"name": "yard", "node": "a"})
    assert created.status_code == 201, created.text
    # b finds the room it moves the leg into in the directory, which has it a moment later
    wait_until(lambda: b.client.get("/api/v1/rooms/yard").status_code == 200, 10, "yard")
    guest, guest_id = await joined(b, "hall", PCMU, "guest")
    ear, _ = await joined(a, "yard", PCMU, "ear")
    moved = a.client.post(f"/api/v1/rooms/hall/participants/{guest_id}/move", json={"to": "yard"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["room"], moved.json()["node"]) == ("yard", "b")
    for server in (a, b):
        assert {n: e["node"] for n, e in by_name(server, "yard").items()} == {
            "guest": "b",
            "ear": "a",
        }
        assert server.roster("hall") == []

    await hear_each_other({"guest": (guest, 800.0), "ear": (ear, 1600.0)})
    for room in ("hall", "yard"):
        assert a.client.delete(f"/api/v1/rooms/{room}").status_code == 204
    for peer in (guest, ear):
        peer.close()


@pytest.mark.skipif(not sipp_available(), reason="sipp (Debian sip-tester) is not installed")
def test_a_phone_moved_into_a_room_of_the_other_node_hangs_up_there(
    nodes: Nodes, tmp_path: Path
) -> None:
    """The call's dialog stays on a and follows the move: its BYE ends it in b's room."""
    a, b, _ = nodes
    for room, node in (("office", "a"), ("site", "b")):
        created = a.client.post("/api/v1/rooms", json={"name": room, "node": node})
        assert created.status_code == 201, created.text
        wait_until(lambda r=room: b.client.get(f"/api/v1/rooms/{r}").status_code == 200, 10, room)
    thread, results = in_background(
        lambda: run_sipp(
            "uac_auth_call",
            f"127.0.0.2:{a.sip_port}",
            service="office",
            user=SIPP_USER,
            password=SIPP_PASSWORD,
            workdir=tmp_path,
            duration_ms=4000,
            timeout=30.0,
        )
    )
    phone = wait_until(lambda: a.roster("office"), 15, "the phone joined")[0]["id"]
    moved = b.client.post(f"/api/v1/rooms/office/participants/{phone}/move", json={"to": "site"})
    assert moved.status_code == 200, moved.text
    roster = b.roster("site")
    assert [(e["id"], e["node"], e["kind"]) for e in roster] == [(phone, "a", "sip")], roster
    thread.join(40)
    assert results and results[0].ok, results[0].describe() if results else "sipp hung"
    wait_until(lambda: b.roster("site") == [], 5, "the phone's leg gone after its BYE")
    assert a.roster("office") == []
    for room in ("office", "site"):
        assert a.client.delete(f"/api/v1/rooms/{room}").status_code == 204


async def test_a_console_monitors_and_transmits_into_a_room_of_the_other_node(
    nodes: Nodes,
) -> None:
    """A console of a's room `desk` monitors b's room `group` (at another rate): `group` grows
    a shard on a's worker holding the console, where its relay joins. By measurement the
    console hears `group` and its own room, never itself; `group` hears it only while it
    transmits there; `monitor: []` stops it hearing `group`."""
    a, b, _ = nodes
    for room, node, rate in (("desk", "a", 8000), ("group", "b", 16000)):
        created = a.client.post("/api/v1/rooms", json={"name": room, "node": node, "rate": rate})
        assert created.status_code == 201, created.text
        wait_until(lambda r=room: a.client.get(f"/api/v1/rooms/{r}").status_code == 200, 10, room)
    console, console_id = await joined(a, "desk", PCMU, "console")
    mate, _ = await joined(a, "desk", PCMU, "mate")
    talker, _ = await joined(b, "group", PCMU, "talker")
    ear, _ = await joined(b, "group", PCMU, "ear")

    refused = patch(a, "desk", console_id, monitor=[{"room": "nowhere"}])
    assert (refused.status_code, refused.json()["error"]) == (404, "room-not-found"), refused.text
    changed = patch(a, "desk", console_id, monitor=[{"room": "group", "gain_db": 0}])
    assert changed.status_code == 200, changed.text
    assert changed.json()["monitor"] == [{"room": "group", "gain_db": 0.0}]
    relays = [e for e in b.roster("group") if e["kind"] == "monitor"]  # its owner lists it
    assert [(e["monitor_of"], e["node"]) for e in relays] == [(console_id, "a")], relays
    shards = b.client.get("/api/v1/rooms/group").json()["shards"]
    assert sorted((s["node"], s["legs"]) for s in shards) == [("a", 1), ("b", 2)]

    plan = [(console, 900.0), (mate, 500.0), (talker, 1300.0), (ear, None)]
    steady = await play_all(plan, 1.5)
    assert level(console, 1300.0, steady) == pytest.approx(LEVEL, abs=2.5)  # monitored
    assert level(console, 500.0, steady) == pytest.approx(LEVEL, abs=2.5)  # its own room
    assert heard(console, 900.0, steady) < SILENT  # never itself
    assert level(mate, 900.0, steady) == pytest.approx(LEVEL, abs=2.5)
    assert level(ear, 1300.0, steady) == pytest.approx(LEVEL, abs=2.5)
    assert heard(ear, 900.0, steady) < SILENT  # a monitor is not heard where it listens
    assert heard(talker, 900.0, steady) < SILENT

    selected = patch(b, "desk", console_id, transmit=["group"])  # asked of b: to a
    assert selected.status_code == 200 and selected.json()["transmit"] == ["group"], selected.text
    steady = await play_all(plan, 1.5)
    assert level(ear, 900.0, steady) == pytest.approx(LEVEL, abs=2.5)
    assert level(talker, 900.0, steady) == pytest.approx(LEVEL, abs=2.5)
    assert heard(console, 900.0, steady) < SILENT

    cleared = patch(a, "desk", console_id, monitor=[])
    assert cleared.status_code == 200 and cleared.json()["monitor"] == [], cleared.text
    steady = await play_all(plan, 1.5)
    assert heard(console, 1300.0, steady) < SILENT
    assert level(ear, 900.0, steady) == pytest.approx(LEVEL, abs=2.5)  # it still transmits
    for room in ("desk", "group"):
        assert a.client.delete(f"/api/v1/rooms/{room}").status_code == 204
    for peer in (console, mate, talker, ear):
        peer.close()


async def test_a_node_killed_leaves_its_guests_legs_going_on_and_closes_its_rooms_shards(
    nodes: Nodes,
) -> None:
    """b is the guest of a's room `survive` and the owner of `flip`, which has a shard on a."""
    a, b, url = nodes
    span(a, b, "survive")
    talker, _ = await joined(a, "survive", PCMU, "talker")
    ear, _ = await joined(a, "survive", PCMU, "ear")
    guest, _ = await joined(b, "survive", PCMU, "guest")
    assert by_name(a, "survive")["guest"]["node"] == "b"
    span(b, a, "flip", "ba")
    stranded, stranded_id = await joined(a, "flip", PCMU, "stranded")
    assert by_name(b, "flip")["stranded"]["node"] == "a"

    async with websockets.connect(a.events_url("flip")) as events:
        b.process.send_signal(signal.SIGKILL)
        b.process.wait(10)
        while True:  # a's shard of b's room closed: its leg is told
            event = json.loads(await asyncio.wait_for(events.recv(), 20))
            if event["type"] == "participant.left" and event["participant"] == stranded_id:
                assert event["reason"] == "owner-gone", event
                break

    def shards(room: str) -> list[str]:
        return [s["node"] for s in a.client.get(f"/api/v1/rooms/{room}").json()["shards"]]

    wait_until(lambda: shards("survive") == ["a"], 15, "the dead node's shard dropped")
    assert set(by_name(a, "survive")) == {"talker", "ear"}
    directory = redis.Redis.from_url(url, decode_responses=True)
    wait_until(lambda: "intake" not in directory.hgetall("mc:room:survive"), 5, "intake gone")
    started = time.monotonic()
    await asyncio.gather(
        talker.play(tone_payloads(talker, 800.0, 2.0)), ear.play(silence(ear, 2.0))
    )
    assert level(ear, 800.0, started + 0.6) == pytest.approx(LEVEL, abs=2.5)
    # b's room comes back on a, the only survivor, without its old shard's leg
    wait_until(lambda: a.client.get("/api/v1/rooms/flip").status_code == 200, 20, "flip moved")
    assert shards("flip") == ["a"] and a.roster("flip") == []
    for peer in (talker, ear, guest, stranded):
        peer.close()
