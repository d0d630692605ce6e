"""`bench failover`: `kill -9` of one media worker under load, timed from outside.

Each run starts a fresh server with `workers` media workers, opens two rooms that land on two
different workers ("calm" and "doomed"), and loads each with `legs` plain RTP legs from
bench.loadgen processes (`talkers` sending tone bursts, the others silence, 50 packets/s
each). After `before` seconds it sends SIGKILL to the doomed room's worker and measures:

- the calm room's ticks over the next `after` seconds: the tick lateness histogram of /metrics
  for that room between a scrape just before the kill and one at the end (target: no tick
  more than 20 ms late), beside the same figures over the seconds before the kill (the same
  load without a kill), and its clock's max_lateness_ms before and after (since the room
  opened, so it shows any earlier spike too);
- the gap from the kill to `GET /api/v1/workers` showing the worker running again (a new pid)
  with the doomed room on it, polled every POLL seconds (target: within 5 s);
- the gap from the kill to a new leg, joined to the doomed room as soon as it is back,
  hearing a tone from another new leg (first packet with the tone at ON_DBFS or louder).

The killed worker's legs are lost, as the server documents. Their load generators keep
sending to the ports those legs had, as phones would until they notice; the restarted worker
binds the same port range, so a new leg may be given a port a stale sender still sends to.
The run reports the new legs whose remote address is not their own (`hijacked`: the server
latched onto a stale sender). With `stop_stale` the doomed room's load generators are stopped
just before the kill instead, as if those phones had hung up."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from bench import scenario as runs
from bench.figures import cpu_split, lateness_between, lateness_buckets
from bench.loadprocs import start_load, stop_load
from bench.onsets import ON_DBFS, levels_by_packet
from bench.rtppeer import RtpPeer
from bench.serverproc import ServerProcess, tree_stats
from mediacore.audio import tone
from mediacore.codecs import PCMU

Progress = Callable[[str], None]

POLL = 0.02  # seconds between GET /api/v1/workers while the worker restarts
GIVE_UP = 30.0  # seconds after the kill: not back by then counts as never
PROBE_HZ = 1000.0
TARGETS = {"calm_ticks_over_20ms": 0, "back_s": 5.0, "heard_s": 5.0}


@dataclass
class FailoverBenchmark:
    legs: int = 100  # per room
    talkers: int = 2  # per room
    runs: int = 3
    before: float = 5.0  # seconds of load before the kill
    after: float = 8.0  # seconds the calm room is watched after the kill
    workers: int = 2
    stop_stale: bool = False  # stop the doomed room's senders at the kill


def run(benchmark: FailoverBenchmark, progress: Progress) -> dict[str, Any]:
    if benchmark.workers < 2:
        raise ValueError("bench failover needs at least 2 media workers")
    results = []
    for number in range(benchmark.runs):
        progress(f"bench failover: run {number + 1} of {benchmark.runs}")
        with runs.started_server(workers=benchmark.workers, progress=progress) as target:
            assert target.server is not None
            results.append(_one_run(benchmark, target.server, progress))
    return {"targets": TARGETS, "runs": results, "summary": summary(results)}


def _one_run(
    benchmark: FailoverBenchmark, server: ServerProcess, progress: Progress
) -> dict[str, Any]:
    for name in ("calm", "doomed"):
        response = server.client.post("/api/v1/rooms", json={"name": name})
        assert response.status_code == 201, response.text
    homes = {
        name: server.client.get(f"/api/v1/rooms/{name}").json()["shards"][0]["worker"]
        for name in ("calm", "doomed")
    }
    if homes["calm"] == homes["doomed"]:
        raise RuntimeError(f"both rooms landed on worker {homes['calm']}")
    seconds = benchmark.before + benchmark.after + GIVE_UP
    load: dict[str, list[subprocess.Popen[str]]] = {}
    try:
        for room in ("calm", "doomed"):
            load[room] = start_load(
                server,
                room,
                benchmark.legs,
                talkers=benchmark.talkers,
                ptime=20,
                duration=seconds,
                progress=progress,
            )
        progress(f"  {2 * benchmark.legs} legs sending; kill in {benchmark.before:.0f} s")
        settle = min(1.0, benchmark.before / 2)
        time.sleep(settle)
        quiet_from, metrics = time.monotonic(), server.metrics()
        time.sleep(benchmark.before - settle)
        stale = load["doomed"] if benchmark.stop_stale else []
        return _kill_and_watch(benchmark, server, homes, stale, (quiet_from, metrics), progress)
    finally:
        stop_load([process for processes in load.values() for process in processes])


def _kill_and_watch(
    benchmark: FailoverBenchmark,
    server: ServerProcess,
    homes: dict[str, int],
    stale: list[subprocess.Popen[str]],
    quiet: tuple[float, str],
    progress: Progress,
) -> dict[str, Any]:
    """Kill the doomed room's worker; `quiet` is (when, /metrics) from before the kill, so the
    calm room's lateness under the same load without a kill is known too."""
    victim = next(w for w in server.workers_status() if w["id"] == homes["doomed"])
    calm_before = server.client.get("/api/v1/rooms/calm").json()["clock"]
    metrics_before = server.metrics()
    pid = server.process.pid
    stats_before = tree_stats(pid)
    for process in stale:  # their phones hang up: nothing sends to the old ports
        process.send_signal(signal.SIGTERM)
    killed_at = time.monotonic()
    os.kill(victim["pid"], signal.SIGKILL)
    progress(f"  killed worker {victim['id']} (pid {victim['pid']}, rooms {victim['rooms']})")
    seen = _watch_restart(server, victim, killed_at)
    heard: dict[str, Any] = {}
    if seen["back_s"] is not None:
        heard = asyncio.run(_new_legs_hear(server, "doomed", killed_at))
    left = killed_at + benchmark.after - time.monotonic()
    if left > 0:
        time.sleep(left)
    elapsed = time.monotonic() - killed_at
    stats_after = tree_stats(pid)
    metrics_after = server.metrics()
    calm_after = server.client.get("/api/v1/rooms/calm").json()
    restarted = next(w for w in server.workers_status() if w["id"] == homes["doomed"])
    calm = lateness_between(
        lateness_buckets(metrics_before, "calm"), lateness_buckets(metrics_after, "calm")
    )
    calm_quiet = lateness_between(
        lateness_buckets(quiet[1], "calm"), lateness_buckets(metrics_before, "calm")
    )
    result = {
        "victim": {"worker": victim["id"], "pid": victim["pid"], "rooms": victim["rooms"]},
        "calm": {
            "worker": homes["calm"],
            "window_s": round(elapsed, 2),
            "lateness": calm,
            # The same room under the same load over the seconds before the kill: how late
            # its ticks ran anyway.
            "before_kill": {"window_s": round(killed_at - quiet[0], 2), "lateness": calm_quiet},
            "max_lateness_ms_before": calm_before["max_lateness_ms"],
            "max_lateness_ms_after": calm_after["clock"]["max_lateness_ms"],
            "participants": calm_after["participants"],
        },
        **seen,
        **heard,
        "restarted": {
            "pid": restarted["pid"],
            "state": restarted["state"],
            "rooms": restarted["rooms"],
            "restarts": restarted["restarts"],
        },
        "server_cpu": cpu_split(stats_before, stats_after, pid, elapsed),
    }
    progress(
        f"  -> back in {result['back_s']} s, a new leg heard a tone {result.get('heard_s')} s "
        f"after the kill; calm room: {calm['over_20ms']:.0f} of {calm['ticks']:.0f} ticks over "
        f"20 ms, {calm['over_5ms']:.0f} over 5 ms, max lateness "
        f"{result['calm']['max_lateness_ms_after']} ms (before the kill, "
        f"{calm_quiet['over_20ms']:.0f} of {calm_quiet['ticks']:.0f} over 20 ms)"
    )
    return result


def _watch_restart(
    server: ServerProcess, victim: dict[str, Any], killed_at: float
) -> dict[str, Any]:
    """Poll the workers until the victim's id runs under a new pid with its rooms again."""
    restarting = running = back = None
    while time.monotonic() - killed_at < GIVE_UP:
        try:
            state = next(w for w in server.workers_status() if w["id"] == victim["id"])
        except (httpx.HTTPError, AssertionError):
            time.sleep(POLL)
            continue
        now = time.monotonic() - killed_at
        if state["state"] != "running" and restarting is None:
            restarting = now
        if state["state"] == "running" and state["pid"] != victim["pid"]:
            running = running if running is not None else now
            if all(room in state["rooms"] for room in victim["rooms"]):
                back = now
                break
        time.sleep(POLL)
    return {
        "restarting_seen_s": _round(restarting),
        "running_s": _round(running),
        "back_s": _round(back),
    }


async def _new_legs_hear(server: ServerProcess, room: str, killed_at: float) -> dict[str, Any]:
    """Join a talker and a listener to `room`; when does the listener first hear the tone?"""
    talker, listener = RtpPeer(PCMU), RtpPeer(PCMU)
    for peer, name in ((talker, "failover-talker"), (listener, "failover-ear")):
        await peer.open()
        offer = peer.make_offer()
        _, answer = await asyncio.to_thread(server.join, room, offer, name=name)
        peer.accept(answer)
    joined = time.monotonic() - killed_at
    silence = listener.packetize(np.zeros(8000 * 2, dtype=np.float32))
    await asyncio.gather(
        talker.play(talker.packetize(tone(PROBE_HZ, 2.0, 8000, -20.0))), listener.play(silence)
    )
    await asyncio.sleep(0.2)
    # Where the server sends each new leg's audio after the tone: not our port means it
    # latched onto a stale sender of a lost leg that had the same server port.
    ours = {peer.port for peer in (talker, listener)}
    roster = await asyncio.to_thread(server.roster, room)
    hijacked = [
        entry["name"]
        for entry in roster
        if entry["name"].startswith("failover-")
        and int(entry["remote"].rsplit(":", 1)[1]) not in ours
    ]
    arrivals = listener.arrivals
    levels = levels_by_packet([a.payload for a in arrivals], PCMU, [PROBE_HZ])
    loud = [a.time for a, level in zip(arrivals, levels[:, 0], strict=True) if level >= ON_DBFS]
    talker.close()
    listener.close()
    return {
        "joined_s": round(joined, 3),
        "heard_s": _round(loud[0] - killed_at if loud else None),
        "new_leg_packets": len(arrivals),
        "hijacked": hijacked,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Over the runs: each gap's values and range, the calm room's worst ticks, and whether
    every run met every target."""

    def spread(values: list[Any]) -> dict[str, Any]:
        numbers = [v for v in values if v is not None]
        return {
            "values": values,
            "min": min(numbers) if numbers else None,
            "max": max(numbers) if numbers else None,
        }

    over_20 = spread([r["calm"]["lateness"]["over_20ms"] for r in results])
    back = spread([r["back_s"] for r in results])
    heard = spread([r.get("heard_s") for r in results])
    met = {
        "calm_ticks_over_20ms": bool(results)
        and all(v is not None for v in over_20["values"])
        and over_20["max"] <= TARGETS["calm_ticks_over_20ms"],
        "back_s": bool(results) and None not in back["values"] and back["max"] <= TARGETS["back_s"],
        "heard_s": bool(results)
        and None not in heard["values"]
        and heard["max"] <= TARGETS["heard_s"],
    }
    return {
        "runs": len(results),
        "back_s": back,
        "joined_s": spread([r.get("joined_s") for r in results]),
        "heard_s": heard,
        "calm_ticks_over_20ms": over_20,
        "calm_ticks_over_5ms": spread([r["calm"]["lateness"]["over_5ms"] for r in results]),
        "calm_before_kill_ticks_over_20ms": spread(
            [r["calm"]["before_kill"]["lateness"]["over_20ms"] for r in results]
        ),
        "calm_before_kill_ticks_over_5ms": spread(
            [r["calm"]["before_kill"]["lateness"]["over_5ms"] for r in results]
        ),
        "calm_max_lateness_ms_after": spread([r["calm"]["max_lateness_ms_after"] for r in results]),
        "hijacked_runs": sum(1 for r in results if r.get("hijacked")),
        "met": met,
        "passed": all(met.values()),
    }
