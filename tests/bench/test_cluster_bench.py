"""`bench cluster`: its figures (placement per node, the extra latency across nodes against one
tick + RTT/2, the tone back after a kill, the failover gaps), a phone's answer to a re-INVITE's
offer, and a short run end to end (root, redis-server and kamailio needed)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.clusterstats import (
    extra_latency,
    failover_summary,
    percentiles_ms,
    placement,
    tone_back,
)
from bench.clusterup import unavailable
from bench.rtppeer import RtpPeer
from mediacore.codecs import PCMU


def test_placement_rows_follow_the_node_list_the_directory_and_the_cpu_readings() -> None:
    nodes = [
        {"name": "n2", "state": "up", "rooms": 1, "legs": 40},
        {"name": "n1", "state": "up", "rooms": 2, "legs": 80},
        {"name": "n3", "state": "dead", "rooms": 0, "legs": 0},
    ]
    directory = {"a": "n1", "b": "n1", "c": "n2"}
    rows = placement(nodes, directory, {"n1": 0.4, "n2": 0.2})
    assert [row["node"] for row in rows] == ["n1", "n2", "n3"]
    assert rows[0] == {
        "node": "n1", "state": "up", "rooms": 2, "legs": 80, "directory_rooms": ["a", "b"],
        "cpu_cores": 0.4,
    }  # fmt: skip
    assert rows[2]["directory_rooms"] == [] and rows[2]["cpu_cores"] is None


def test_the_extra_latency_is_judged_against_one_tick_plus_half_the_round_trip() -> None:
    same = [0.030 + i * 0.0001 for i in range(100)]  # 30-40 ms
    near = [value + 0.012 for value in same]  # 12 ms more
    result = extra_latency(same, near, tick_ms=20.0, rtt_ms=0.2)
    assert result["target_ms"] == 20.1
    assert result["extra_ms"] == {"p50": 12.0, "p95": 12.0, "p99": 12.0}
    assert result["passed"] and all(result["met"].values())
    far = [value + 0.025 for value in same]
    assert not extra_latency(same, far, tick_ms=20.0, rtt_ms=0.2)["passed"]
    nothing = extra_latency(same, [], tick_ms=20.0, rtt_ms=None)
    assert nothing["extra_ms"]["p50"] is None and not nothing["passed"]
    assert "unmeasured" in nothing["target"]
    assert percentiles_ms([]) == {"p50": None, "p95": None, "p99": None}


def test_the_tone_is_back_after_a_silence_not_with_packets_already_on_their_way() -> None:
    times = [i * 0.02 for i in range(100)]  # the tone until 2.0 s
    times += [2.005, 2.01]  # in flight when the node died at 2.0 s
    times += [5.5 + i * 0.02 for i in range(20)]  # back through the survivor
    loud = [True] * len(times)
    assert tone_back(times, loud, killed_at=2.0) == 3.5
    assert tone_back(times[:102], loud[:102], killed_at=2.0) is None  # never back
    quiet_before = [t > 2.0 for t in times]
    assert tone_back(times, quiet_before, killed_at=2.0) is None  # not heard before the kill


def test_the_failover_passes_only_when_every_run_came_back_in_time() -> None:
    assert failover_summary([{"gap_s": 3.2}, {"gap_s": 4.1}]) == {
        "runs": 2, "gaps_s": [3.2, 4.1], "max_s": 4.1, "target_s": 5.0, "passed": True,
    }  # fmt: skip
    assert not failover_summary([{"gap_s": 3.2}, {"gap_s": None}])["passed"]
    assert not failover_summary([{"gap_s": 5.5}])["passed"]
    assert not failover_summary([])["passed"]


def test_a_phone_answers_a_new_offer_and_sends_where_it_says() -> None:
    async def scenario() -> None:
        phone, survivor = RtpPeer(PCMU), RtpPeer(PCMU)
        for peer in (phone, survivor):
            await peer.open()
        phone.make_offer()
        answer = phone.answer(survivor.make_offer(), version=3)
        assert f"m=audio {phone.port} RTP/AVP 0" in answer and " 3 IN IP4 " in answer
        survivor.accept(answer)
        assert phone.negotiation is not None and phone.negotiation.remote_port == survivor.port
        phone.send_payload(b"\xff" * 160)
        await asyncio.sleep(0.2)
        assert survivor.received_count == 1
        phone.close()
        survivor.close()

    asyncio.run(scenario())


@pytest.mark.slow
@pytest.mark.skipif(unavailable() is not None, reason=f"bench cluster: {unavailable()}")
def test_a_short_cluster_run_places_rooms_and_times_a_failover(tmp_path: Path) -> None:
    arguments = ["--nodes", "2", "--rooms", "2", "--legs", "2", "--seconds", "1"]
    arguments += ["--span-seconds", "3", "--span-legs", "0", "--failovers", "1"]
    code = main(["--out", str(tmp_path), "cluster", *arguments])
    report = json.loads((tmp_path / "cluster.json").read_text())
    assert code == (0 if report["passed"] else 1)
    rows = report["placement"]["nodes"]
    assert [row["node"] for row in rows] == ["n1", "n2"]
    assert sum(len(row["directory_rooms"]) for row in rows) == 2
    assert all(row["cpu_cores"] is not None for row in rows)
    span = report["span"]  # measured where rooms can span nodes, else the reason why not
    assert span.get("reason") or span["samples"]["same_node"] > 0
    (run,) = report["failover"]["results"]
    assert run["killed"] == "n2" and run["new_owner"] == "n1"
    assert run["gap_s"] is not None and run["gap_s"] > 0
    assert (tmp_path / "cluster.png").stat().st_size > 10_000
