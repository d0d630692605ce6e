"""A one-to-one call (单呼) between participants of two nodes: `mediacore serve` nodes a and b
joined through one Redis (test_span_e2e.py's nodes), a plain RTP leg in room x of a and one in
room y of b. `POST /calls` at either node finds the other node's party there and has its room's
owner move it into the call's room; by measurement the two hear each other, never themselves
nor their rooms' others, and after `DELETE /calls/{id}` each is back in its room hearing it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bench.rtppeer import RtpPeer
from mediacore.codecs import PCMU
from tests.cluster.test_span_e2e import Nodes, by_name, level, nodes
from tests.e2e.server import ServerProcess
from tests.e2e.test_rtp_legs import LEVEL, SILENT, heard, joined, tone_payloads
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

__all__ = ["nodes"]  # the module's two nodes (a fixture of their own here)

Peers = dict[str, tuple[RtpPeer, float]]  # name → (peer, its tone)


def open_room(server: ServerProcess, room: str, node: str) -> None:
    created = server.client.post("/api/v1/rooms", json={"name": room, "node": node})
    assert created.status_code == 201, created.text
    wait_until(lambda: server.client.get(f"/api/v1/rooms/{room}").status_code == 200, 10, room)


async def hearing(peers: Peers, seconds: float = 1.6) -> float:
    """Every peer plays its tone; answers when the mix was steady from."""
    steady = time.monotonic() + 0.6
    await asyncio.gather(*(p.play(tone_payloads(p, f, seconds)) for p, f in peers.values()))
    return steady


def hears(peers: Peers, listener: str, steady: float) -> set[str]:
    """The peers `listener` hears at the tone's level; any other is silent to it."""
    peer, _ = peers[listener]
    found = set()
    for name, (_, frequency) in peers.items():
        if level(peer, frequency, steady) > SILENT:
            assert level(peer, frequency, steady) == pytest.approx(LEVEL, abs=2.5), (
                listener,
                name,
            )
            found.add(name)
    return found


async def test_a_call_joins_participants_of_two_nodes_and_moves_them_back(nodes: Nodes) -> None:
    a, b, _ = nodes
    open_room(a, "x", "a")
    open_room(a, "y", "b")
    ids: dict[str, str] = {}
    peers: Peers = {}
    for name, server, room, tone in (
        ("ax", a, "x", 500.0),
        ("ox", a, "x", 900.0),
        ("by", b, "y", 1300.0),
        ("oy", b, "y", 1700.0),
    ):
        peer, ids[name] = await joined(server, room, PCMU, name)
        peers[name] = (peer, tone)

    unknown = b.client.post("/api/v1/calls", json={"a": ids["ax"], "b": "p-0dead"})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown-party"), unknown.text
    started = b.client.post("/api/v1/calls", json={"a": ids["ax"], "b": ids["by"]})
    assert started.status_code == 201, started.text
    call: dict[str, Any] = started.json()
    assert [(p["participant"], p["state"], p["from"]) for p in call["parties"]] == [
        (ids["ax"], "answered", "x"),
        (ids["by"], "answered", "y"),
    ]
    busy = a.client.post("/api/v1/calls", json={"a": ids["ax"], "b": ids["oy"]})
    assert (busy.status_code, busy.json()["error"]) == (409, "busy"), busy.text
    for server in (a, b):  # each party keeps its node
        assert {n: e["node"] for n, e in by_name(server, call["room"]).items()} == {
            "ax": "a",
            "by": "b",
        }
        assert set(by_name(server, "x")) == {"ox"} and set(by_name(server, "y")) == {"oy"}

    steady = await hearing(peers)
    for listener, expected in (("ax", {"by"}), ("by", {"ax"}), ("ox", set()), ("oy", set())):
        assert heard(peers[listener][0], peers[listener][1], steady) < SILENT, listener
        assert hears(peers, listener, steady) == expected, listener

    ended = a.client.delete(f"/api/v1/calls/{call['id']}")  # asked of a: b serves it
    assert ended.status_code == 204, ended.text
    read = b.client.get(f"/api/v1/calls/{call['id']}").json()  # its room closed: b's
    assert read["state"] == "ended"
    assert [p["reason"] for p in read["parties"]] == ["moved-back", "moved-back"], read
    for server in (a, b):
        wait_until(lambda s=server: set(by_name(s, "x")) == {"ax", "ox"}, 10, "ax back in x")
        wait_until(lambda s=server: set(by_name(s, "y")) == {"by", "oy"}, 10, "by back in y")
    steady = await hearing(peers)
    for listener, expected in (("ax", {"ox"}), ("ox", {"ax"}), ("by", {"oy"}), ("oy", {"by"})):
        assert hears(peers, listener, steady) == expected, listener

    # the other way round: asked of a, which serves it; ended when a party leaves
    again = a.client.post("/api/v1/calls", json={"a": ids["by"], "b": ids["ax"]})
    assert again.status_code == 201, again.text
    room = again.json()["room"]
    wait_until(lambda: set(by_name(b, room)) == {"ax", "by"}, 10, "both in the call")
    left = b.client.delete(f"/api/v1/rooms/y/participants/{ids['oy']}")
    assert left.status_code == 204, left.text
    gone = b.client.delete(f"/api/v1/rooms/{room}/participants/{ids['by']}")  # hangs up
    assert gone.status_code == 204, gone.text
    wait_until(lambda: set(by_name(a, "x")) == {"ax", "ox"}, 10, "ax back in x")
    assert a.client.get(f"/api/v1/calls/{again.json()['id']}").json()["state"] == "ended"
    for room_name in ("x", "y"):
        assert a.client.delete(f"/api/v1/rooms/{room_name}").status_code == 204
    for peer, _ in peers.values():
        peer.close()
