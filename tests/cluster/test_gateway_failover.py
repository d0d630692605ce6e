"""A radio gateway (sipp as an ED-137 ground station) configured on two nodes is called by one
of them only, the holder of its claim; after `kill -9` of that node the survivor takes the
claim, reopens the gateway's room and calls the gateway into it again. A trunk both nodes
register to (sipp as the registrar) is registered by one node at a time the same way."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from bench.serverproc import ServerProcess
from bench.sipprun import free_sip_port, sipp_available, start_sipp, write_users_csv
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sipp_available(), reason="sipp (Debian sip-tester) is not installed"),
]

ROOM = "tower"


def _gateway_in_room(server: ServerProcess) -> dict[str, Any] | None:
    response = server.client.get(f"/api/v1/rooms/{ROOM}/participants")
    if response.status_code != 200:
        return None
    return next((p for p in response.json() if p.get("call_state") == "confirmed"), None)


def test_the_survivor_claims_a_dead_nodes_radio_gateway_and_calls_it_again(
    redis_url: str, tmp_path: Path
) -> None:
    radio = start_sipp(
        "uas_radio_answer", workdir=tmp_path / "sipp", calls=2, concurrent=2, timeout=60.0
    )
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    nodes: list[ServerProcess] = []
    try:
        for name in ("n1", "n2"):
            config = f"""
[cluster]
redis = "{redis_url}"
node = "{name}"
advertise = "127.0.0.1"

[[rooms]]
name = "{ROOM}"

[[radio.gateways]]
name = "grs-1"
uri = "sip:radio@127.0.0.1:{radio.local_port}"
room = "{ROOM}"
mode = "txrx"
"""
            nodes.append(ServerProcess(tmp_path / name, config=config, workers=0))
        first, survivor = nodes
        entry = wait_until(lambda: _gateway_in_room(first), 15.0, "the gateway in n1's room")
        assert entry["kind"] == "radio" and entry["name"] == "grs-1"
        assert client.get("mc:own:gateway:grs-1") == "n1"
        status = survivor.client.get("/api/v1/registrations").json()["radio_gateways"]
        assert status[0]["attempts"] == 0  # n2 holds no claim: it never called
        killed = time.monotonic()
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
        entry = wait_until(lambda: _gateway_in_room(survivor), 30.0, "the gateway in n2's room")
        print(f"\nkill -9 to the gateway back in its room: {time.monotonic() - killed:.1f} s")
        assert entry["kind"] == "radio" and entry["name"] == "grs-1"
        assert client.get("mc:own:gateway:grs-1") == "n2"
    finally:
        for node in nodes:
            node.stop()
        radio.stop()


def _trunk(server: ServerProcess) -> dict[str, Any]:
    return dict(server.client.get("/api/v1/registrations").json()["trunks"][0])


def test_one_node_registers_a_trunk_and_the_survivor_takes_it_over(
    redis_url: str, tmp_path: Path
) -> None:
    users = write_users_csv(tmp_path / "users.csv", [("mediacore", "trunk-secret")])
    registrar = start_sipp(
        "uas_registrar_auth", workdir=tmp_path / "registrar", local_port=free_sip_port(),
        calls=2, injection=users, injection_index=0, timeout=60.0,
    )  # fmt: skip
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    nodes: list[ServerProcess] = []
    try:
        for name in ("n1", "n2"):
            config = f"""
[cluster]
redis = "{redis_url}"
node = "{name}"
advertise = "127.0.0.1"

[[sip.trunks]]
name = "upstream"
proxy = "sip:127.0.0.1:{registrar.local_port}"
username = "mediacore"
password = "trunk-secret"
register = true
expires = 300
"""
            nodes.append(ServerProcess(tmp_path / name, config=config, workers=0))
        first, survivor = nodes
        wait_until(lambda: _trunk(first)["state"] == "registered", 10.0, "n1 registered")
        assert client.get("mc:own:trunk:upstream") == "n1"
        assert _trunk(survivor)["state"] == "standby"
        killed = time.monotonic()
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
        wait_until(lambda: _trunk(survivor)["state"] == "registered", 15.0, "n2 registered")
        print(f"\nkill -9 to the trunk registered again: {time.monotonic() - killed:.1f} s")
        assert client.get("mc:own:trunk:upstream") == "n2"
    finally:
        for node in nodes:
            node.stop()
        registrar.stop()
