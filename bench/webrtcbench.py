"""`bench webrtc`: N WebRTC audio peers in one room against the server's CPU, memory and the
latency it adds.

For each N in `sizes`: a fresh server (started here) with one room, and N aiortc peers from
`bench.webrtcpeers` processes of at most `per_process` peers each, every peer joined over the
signalling WebSocket and sending an audio track. A few talkers send tone bursts; probes (in
the talkers' process, so one clock times both ends) time their arrival; everyone else sends
low noise. Once every peer is connected, the bursts run for `seconds`, during which:

1. Latency per onset: the talker's track hands aiortc a burst's first frame -> the probe
   receives the RTP packet of the frame where the burst is detected (decoded, 10 ms blocks).
   Nothing is subtracted. `delivered` is the same onset when aiortc hands the probe the
   decoded frame (aiortc holds 4 packets first: a client delay, reported apart).
2. The server's CPU (cores, from /proc over the window) and RSS (peak), and the same for the
   client processes, which share the machine's CPUs with the server; the machine's busy and
   steal time from /proc/stat.
3. The room clock's late and skipped ticks, and the mixer's encodes per tick (/metrics).

Before the sizes, a loopback run (one aiortc talker sending straight to one aiortc probe, no
server) gives the client's own share of both figures.

Target: at N = TARGET_PEERS, latency p99 <= TARGET_P99_MS."""

from __future__ import annotations

import json
import math
import re
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.loadprocs import spawn_worker, stop_load
from bench.sampling import PeriodicSampler
from bench.serverproc import TOKEN, ServerProcess, cpu_seconds, rss_bytes

ROOM = "bench-webrtc"
PTIME = 20
TARGET_PEERS = 50
TARGET_P99_MS = 80.0
SETTLE = 1.0  # seconds between "all connected" and the first burst
JOIN_TIMEOUT_BASE = 30.0  # plus JOIN_TIMEOUT_PER_PEER per peer of the biggest process
JOIN_TIMEOUT_PER_PEER = 2.0
RESULT_MARGIN = 60.0  # after the bursts, for the clients' analysis and goodbyes

Progress = Callable[[str], None]


@dataclass
class WebRtcBenchmark:
    sizes: list[int] = field(default_factory=lambda: [10, 25, 50])
    seconds: float = 20.0
    talkers: int = 2
    probes: int = 4
    per_process: int = 25
    baseline_seconds: float = 10.0  # the loopback run without a server; 0 skips it


def peer_specs(peers: int, talkers: int, probes: int) -> list[dict[str, Any]]:
    """Talkers first, then probes, then listeners; at least one talker and one probe."""
    talkers = max(1, min(talkers, peers - 1))
    probes = max(1, min(probes, peers - talkers))
    return [
        {
            "name": f"peer-{i}",
            "talker": i if i < talkers else None,
            "probe": talkers <= i < talkers + probes,
        }
        for i in range(peers)
    ]


def split(specs: list[dict[str, Any]], per_process: int) -> list[list[dict[str, Any]]]:
    """Contiguous, even shares of at most `per_process`: the talkers and probes (first) land
    together in the first share."""
    count = max(1, math.ceil(len(specs) / per_process))
    size = math.ceil(len(specs) / count)
    return [specs[i : i + size] for i in range(0, len(specs), size)]


def drift_ppm(seconds: float) -> float:
    """Send-clock drift that moves the talkers' frames through one whole mixer tick during the
    bursts (at least 500 ppm), as bench.scenario does for RTP legs."""
    return max(500.0, PTIME / 1000 / max(1.0, seconds) * 1e6)


def summary(values_ms: Sequence[float]) -> dict[str, float | None]:
    """p50, p90, p99 and max, rounded to 0.01 ms (None without samples)."""
    if not values_ms:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    array = np.asarray(values_ms)
    return {
        f"{name}_ms": round(float(np.percentile(array, q)), 2)
        for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
    }


def machine_jiffies() -> tuple[float, float, float]:
    """(busy, steal, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    tick = 100.0  # USER_HZ
    busy = user + nice + system + irq + softirq
    return busy / tick, steal / tick, (busy + idle + iowait + steal) / tick


class Sampler(PeriodicSampler):
    """Server and client CPU (cores) and RSS every half second, tagged by phase."""

    def __init__(self, server: int, clients: Sequence[int]) -> None:
        super().__init__()
        self.server = server
        self.clients = list(clients)
        self.phase = "join"

    def _read(self) -> tuple[float, float, float]:
        clients = 0.0
        for pid in self.clients:
            try:
                clients += cpu_seconds(pid)
            except OSError:  # exited
                pass
        return time.monotonic(), cpu_seconds(self.server), clients

    def begin(self) -> None:
        self._began = time.monotonic()
        self._last = self._read()

    def sample(self) -> None:
        now = self._read()
        elapsed = max(1e-6, now[0] - self._last[0])
        rss = 0
        for pid in self.clients:
            try:
                rss += rss_bytes(pid)
            except OSError:
                pass
        self.samples.append(
            {
                "t": round(now[0] - self._began, 2),
                "phase": self.phase,
                "server_cores": round((now[1] - self._last[1]) / elapsed, 3),
                "clients_cores": round((now[2] - self._last[2]) / elapsed, 3),
                "server_rss_mb": round(rss_bytes(self.server) / 2**20, 1),
                "clients_rss_mb": round(rss / 2**20, 1),
            }
        )
        self._last = now

    def peak(self, key: str, phase: str) -> float | None:
        return max((s[key] for s in self.samples if s["phase"] == phase), default=None)


@dataclass
class Mark:
    """The server and clients at one instant: CPU seconds, the machine's, the room clock."""

    time: float
    server_cpu: float
    clients_cpu: float
    machine: tuple[float, float, float]
    clock: dict[str, Any]
    encodes: float


def _metric(text: str, name: str, room: str) -> float:
    found = re.search(rf'^{name}{{room="{re.escape(room)}"}} ([0-9.e+-]+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _buffered_ms(text: str) -> float | None:
    """Mean audio waiting in the WebRTC legs' jitter buffers (those of RTP legs), in ms."""
    values = [
        float(m.group(1))
        for m in re.finditer(
            r'^mediacore_leg_buffer_delay_seconds{[^}]*kind="webrtc"[^}]*} ([0-9.e+-]+)$',
            text,
            re.MULTILINE,
        )
    ]
    return round(sum(values) / len(values) * 1000, 2) if values else None


def _mark(server: ServerProcess, clients: Sequence[subprocess.Popen[str]]) -> Mark:
    room = server.client.get(f"/api/v1/rooms/{ROOM}").json()
    metrics = server.metrics()
    used = 0.0
    for process in clients:
        try:
            used += cpu_seconds(process.pid)
        except OSError:
            pass
    return Mark(
        time.monotonic(),
        server.cpu_seconds(),
        used,
        machine_jiffies(),
        room["clock"],
        _metric(metrics, "mediacore_encodes_total", ROOM),
    )


def _between(a: Mark, b: Mark) -> dict[str, Any]:
    seconds = max(1e-6, b.time - a.time)
    ticks = b.clock["ticks"] - a.clock["ticks"]
    busy, steal, _ = (y - x for x, y in zip(a.machine, b.machine, strict=True))
    return {
        "window_seconds": round(seconds, 3),
        "server_cores": round((b.server_cpu - a.server_cpu) / seconds, 3),
        "clients_cores": round((b.clients_cpu - a.clients_cpu) / seconds, 3),
        "machine_busy_cores": round(busy / seconds, 3),
        "machine_steal_cores": round(steal / seconds, 3),
        "ticks": ticks,
        "late_ticks": b.clock["late_ticks"] - a.clock["late_ticks"],
        "skipped_ticks": b.clock["skipped_ticks"] - a.clock["skipped_ticks"],
        "max_lateness_ms_so_far": b.clock["max_lateness_ms"],
        "encodes_per_tick": round((b.encodes - a.encodes) / ticks, 3) if ticks else None,
    }


def start_clients(
    server: ServerProcess, specs: list[dict[str, Any]], benchmark: WebRtcBenchmark
) -> list[subprocess.Popen[str]]:
    """One `bench.webrtcpeers` process per share of the peers, its job written; not waited."""
    processes: list[subprocess.Popen[str]] = []
    try:
        for share in split(specs, benchmark.per_process):
            job = {
                "url": server.url,
                "token": TOKEN,
                "room": ROOM,
                "peers": share,
                "seconds": benchmark.seconds,
                "drift_ppm": drift_ppm(benchmark.seconds),
            }
            processes.append(spawn_worker("bench.webrtcpeers", job))
    except BaseException:
        stop_clients(processes)
        raise
    return processes


def read_line(process: subprocess.Popen[str], deadline: float) -> str:
    """The process's next stdout line, or RuntimeError once `deadline` passes or it exits."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if selector.select(min(left, 1.0)):
                line = process.stdout.readline()
                if not line:
                    raise RuntimeError(f"peer process {process.pid} exited ({process.poll()})")
                return line.strip()
    raise RuntimeError(f"peer process {process.pid} timed out")


def stop_clients(processes: Sequence[subprocess.Popen[str]]) -> None:
    """SIGTERM, then kill after 5 s; pipes closed (as for the load generators)."""
    stop_load(list(processes))


def baseline(seconds: float, progress: Progress) -> dict[str, Any]:
    """The loopback run: one aiortc talker straight to one probe, no server."""
    progress(f"bench webrtc: client baseline, aiortc -> aiortc over loopback, {seconds:.0f} s")
    job = {"loopback": True, "seconds": seconds}
    done = subprocess.run(
        [sys.executable, "-m", "bench.webrtcpeers"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=seconds + RESULT_MARGIN,
    )
    if done.returncode != 0:
        raise RuntimeError(f"loopback run failed: {done.stderr[-2000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    onsets = found.pop("onsets")
    result = {
        **found,
        "samples": len(onsets),
        "arrival": summary([o["arrival_ms"] for o in onsets]),
        "delivered": summary([o["delivered_ms"] for o in onsets]),
    }
    progress(
        f"  arrival p50 {result['arrival']['p50_ms']} ms, delivered p50 "
        f"{result['delivered']['p50_ms']} ms ({result['samples']} onsets)"
    )
    return result


def run_size(peers: int, benchmark: WebRtcBenchmark, progress: Progress) -> dict[str, Any]:
    """One server, one room of `peers` WebRTC peers, measured while the talkers burst.
    Stops every process it started, also on errors."""
    specs = peer_specs(peers, benchmark.talkers, benchmark.probes)
    shares = split(specs, benchmark.per_process)
    talkers = sum(s["talker"] is not None for s in specs)
    probes = sum(bool(s["probe"]) for s in specs)
    progress(
        f"bench webrtc: {peers} peers ({talkers} talkers, {probes} probes) in {len(shares)} "
        f"process(es), {benchmark.seconds:.0f} s of bursts"
    )
    data = Path(tempfile.mkdtemp(prefix="mediacore-bench-webrtc-"))
    server = ServerProcess(data, rtp_ports=100, MEDIACORE_SERVER_LOG_LEVEL="warning")
    clients: list[subprocess.Popen[str]] = []
    row: dict[str, Any] = {
        "peers": peers,
        "talkers": talkers,
        "probes": probes,
        "processes": len(shares),
    }
    try:
        server.client.post("/api/v1/rooms", json={"name": ROOM, "ptime": PTIME}).raise_for_status()
        began = time.monotonic()
        clients = start_clients(server, specs, benchmark)
        deadline = began + JOIN_TIMEOUT_BASE + JOIN_TIMEOUT_PER_PEER * len(shares[0])
        with Sampler(server.process.pid, [p.pid for p in clients]) as sampler:
            for process in clients:
                line = read_line(process, deadline)
                if line != "ready":
                    raise RuntimeError(f"peer process could not join its peers: {line!r}")
            row["join_seconds"] = round(time.monotonic() - began, 2)
            row["participants"] = len(server.roster(ROOM))
            progress(f"  {peers} peers connected in {row['join_seconds']:.1f} s")
            sampler.phase = "settle"
            time.sleep(SETTLE)
            sampler.phase = "bursts"
            start = time.monotonic() + 0.2
            for process in clients:
                assert process.stdin is not None
                process.stdin.write(f"start {start}\n")
                process.stdin.flush()
            time.sleep(max(0.0, start - time.monotonic()))
            a = _mark(server, clients)
            buffered = _hold(benchmark.seconds - (time.monotonic() - start), server, a, progress)
            b = _mark(server, clients)
            sampler.phase = "results"
            reports = [json.loads(read_line(p, time.monotonic() + RESULT_MARGIN)) for p in clients]
            row["server_rss_mb_max"] = sampler.peak("server_rss_mb", "bursts")
            row["clients_rss_mb_max"] = sampler.peak("clients_rss_mb", "bursts")
        row |= _between(a, b)
        row["server_input_buffer_ms"] = summary([x for x in buffered if x is not None])
        row["samples"] = sampler.samples
    finally:
        stop_clients(clients)
        row["server_exit"] = server.stop()
        row["server_log"] = str(server.log_path)
    onsets = [o for report in reports for o in report["onsets"]]
    row |= {
        "connected": sum(r["connected"] for r in reports),
        "packets_received_per_peer_per_s": round(
            sum(r["packets_received"] for r in reports) / peers / benchmark.seconds, 2
        ),
        "latency_samples": len(onsets),
        "missed_onsets": sum(r["missed_onsets"] for r in reports),
        "arrival": summary([o["arrival_ms"] for o in onsets]),
        "delivered": summary([o["delivered_ms"] for o in onsets]),
        "client_loop_lag_p99_ms": max((r["loop_lag_p99_ms"] or 0.0) for r in reports),
        "client_loop_lag_max_ms": max(r["loop_lag_max_ms"] for r in reports),
        "talker_lateness_p99_ms": reports[0]["talker_lateness_p99_ms"],
        "latencies_ms": [o["arrival_ms"] for o in onsets],
    }
    progress(
        f"  -> latency p50 {row['arrival']['p50_ms']} p99 {row['arrival']['p99_ms']} ms "
        f"({row['latency_samples']} onsets, {row['missed_onsets']} missed; delivered p99 "
        f"{row['delivered']['p99_ms']} ms); server {row['server_cores']} cores, "
        f"{row['server_rss_mb_max']} MB; clients {row['clients_cores']} cores; machine busy "
        f"{row['machine_busy_cores']} (steal {row['machine_steal_cores']}); "
        f"{row['late_ticks']} late ticks; {row['encodes_per_tick']} encodes/tick"
    )
    return row


def _hold(seconds: float, server: ServerProcess, a: Mark, progress: Progress) -> list[float | None]:
    """Sleep `seconds`, every 5 s reading the legs' input buffers and saying how busy the
    server has been; returns the buffer readings."""
    end = time.monotonic() + seconds
    buffered = []
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(5.0, left))
        buffered.append(_buffered_ms(server.metrics()))
        if end - time.monotonic() > 0.5:
            cores = (server.cpu_seconds() - a.server_cpu) / (time.monotonic() - a.time)
            progress(f"  {end - time.monotonic():.0f} s left, server {cores:.2f} cores")
    return buffered


def run(benchmark: WebRtcBenchmark, progress: Progress) -> dict[str, Any]:
    """The baseline, then every size; the report's `baseline`, `runs`, `targets`, `passed`."""
    if any(size < 2 for size in benchmark.sizes):
        raise ValueError("bench webrtc needs at least two peers (a talker and a probe)")
    report: dict[str, Any] = {
        "baseline": baseline(benchmark.baseline_seconds, progress)
        if benchmark.baseline_seconds > 0
        else None,
        "runs": [run_size(size, benchmark, progress) for size in benchmark.sizes],
        "targets": {"peers": TARGET_PEERS, "latency_p99_ms": TARGET_P99_MS},
    }
    at_target = [row for row in report["runs"] if row["peers"] == TARGET_PEERS]
    report["passed"] = bool(at_target) and all(
        row["connected"] == row["peers"]
        and row["arrival"]["p99_ms"] is not None
        and row["arrival"]["p99_ms"] <= TARGET_P99_MS
        for row in at_target
    )
    return report
