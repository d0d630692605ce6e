"""`bench sip`: sipp against the server: registrations, call set-up rate, concurrent calls.

Three phases, each a sipp run against one server (started here with as many SIP users as
registrations are asked for):
1. registrations: N distinct users REGISTER with digest auth (then unregister);
2. set-up rate: calls at R per second, each held briefly, with RTP;
3. concurrency: C calls held at once in one room, each streaming RTP, while we sample the
   server's CPU, memory and mixer clock.
Reported per phase: failed calls (target 0), set-up latency p50/p99 (INVITE or REGISTER to
200, digest round trip included; target p99 <= 50 ms), server CPU (cores) and RSS."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.sampling import PeriodicSampler
from bench.serverproc import ServerProcess
from bench.sipprun import SippResult, numbered_users, run_sipp, write_users_csv

ROOM = "bench-sip"
CALLER = ("bench", "bench-secret")
SETUP_P99_TARGET_MS = 50.0


@dataclass
class SipBenchmark:
    registrations: int = 1000
    registration_rate: float = 100.0
    setup_rate: float = 50.0
    setup_seconds: float = 10.0
    concurrent: int = 200
    hold_seconds: float = 20.0


def server_config(users: list[tuple[str, str]], auth_failure_limit: int | None = 1_000_000) -> str:
    """The server's config: the room, the caller and `users`; `auth_failure_limit` None keeps
    the server's default (what `bench sip --attack` runs against)."""
    lines = [
        "[sip]",
        'digest_algorithms = "MD5,SHA-256"  # sipp answers MD5 only',
        *([] if auth_failure_limit is None else [f"auth_failure_limit = {auth_failure_limit}"]),
        "",
        "[[rooms]]",
        f'name = "{ROOM}"',
        "",
    ]
    for user, password in [CALLER, *users]:
        lines += ["[[sip.users]]", f'user = "{user}"', f'password = "{password}"', ""]
    return "\n".join(lines)


class Sampler(PeriodicSampler):
    """Samples the server's CPU, RSS and participants every half second while a phase runs."""

    def __init__(self, server: ServerProcess) -> None:
        super().__init__()
        self.server = server

    def begin(self) -> None:
        self._start, self._cpu = time.monotonic(), self.server.cpu_seconds()

    def sample(self) -> None:
        now, used = time.monotonic(), self.server.cpu_seconds()
        rooms = self.server.client.get(f"/api/v1/rooms/{ROOM}").json()
        self.samples.append(
            {
                "t": round(now - self._start, 2),
                "cores": round((used - self._cpu) / max(1e-6, now - self._start), 3),
                "rss_mb": round(self.server.rss_bytes() / 2**20, 1),
                "participants": rooms["participants"],
                "late_ticks": rooms["clock"]["late_ticks"],
            }
        )
        self._start, self._cpu = now, used

    def summary(self) -> dict[str, float]:
        busy = [s for s in self.samples if s["participants"] > 0] or self.samples
        if not busy:
            return {}
        return {
            "mean_cores": round(sum(s["cores"] for s in busy) / len(busy), 3),
            "max_rss_mb": max(s["rss_mb"] for s in self.samples),
            "max_participants": max(s["participants"] for s in self.samples),
        }


def phase_report(result: SippResult, sampler: Sampler, wall: float) -> dict[str, Any]:
    return {
        "successful": result.successful,
        "failed": result.failed,
        "retransmissions": result.retransmissions,
        "setup_ms_p50": result.percentile_ms(0.5),
        "setup_ms_p99": result.percentile_ms(0.99),
        "setup_ms_max": max(result.response_times_ms, default=None),
        "wall_seconds": round(wall, 1),
        **sampler.summary(),
        "samples": sampler.samples,
        "sipp_exit": result.returncode,
    }


def run(benchmark: SipBenchmark, out: Path, progress: Callable[[str], None]) -> dict[str, Any]:
    users = numbered_users(benchmark.registrations)
    data = Path(tempfile.mkdtemp(prefix="mediacore-bench-sip-"))
    server = ServerProcess(
        data,
        rtp_ports=max(2000, benchmark.concurrent * 4),
        config=server_config(users),
        MEDIACORE_SERVER_LOG_LEVEL="warning",
    )
    target = f"127.0.0.1:{server.sip_port}"
    report: dict[str, Any] = {"phases": {}}
    try:
        work = data / "sipp"
        work.mkdir()

        def phase(name: str, description: str, **options: Any) -> dict[str, Any]:
            progress(f"bench sip: {description}")
            folder = work / name
            folder.mkdir()
            started = time.monotonic()
            with Sampler(server) as sampler:
                result = run_sipp(target=target, workdir=folder, **options)
            entry = phase_report(result, sampler, time.monotonic() - started)
            progress(
                f"  {name}: {entry['successful']} ok, {entry['failed']} failed, set-up p50 "
                f"{entry['setup_ms_p50']:.1f} ms p99 {entry['setup_ms_p99']:.1f} ms, "
                f"{entry.get('mean_cores', 0):.2f} cores, {entry.get('max_rss_mb', 0):.0f} MB"
            )
            report["phases"][name] = entry
            return entry

        phase(
            "registrations",
            f"{benchmark.registrations} users register at {benchmark.registration_rate:.0f}/s",
            scenario="uac_auth_register",
            calls=benchmark.registrations,
            rate=benchmark.registration_rate,
            injection=write_users_csv(data / "users.csv", users),
            timeout=benchmark.registrations / benchmark.registration_rate + 60,
        )
        calls = int(benchmark.setup_rate * benchmark.setup_seconds)
        phase(
            "setup_rate",
            f"{calls} calls at {benchmark.setup_rate:.0f}/s, 2 s each, with RTP",
            scenario="uac_auth_call",
            service=ROOM,
            user=CALLER[0],
            password=CALLER[1],
            calls=calls,
            rate=benchmark.setup_rate,
            duration_ms=2000,
            timeout=benchmark.setup_seconds + 60,
        )
        phase(
            "concurrent",
            f"{benchmark.concurrent} calls at once in one room for {benchmark.hold_seconds:.0f} s",
            scenario="uac_auth_call",
            service=ROOM,
            user=CALLER[0],
            password=CALLER[1],
            calls=benchmark.concurrent,
            concurrent=benchmark.concurrent,
            rate=benchmark.setup_rate,
            duration_ms=int(benchmark.hold_seconds * 1000),
            timeout=benchmark.hold_seconds + benchmark.concurrent / benchmark.setup_rate + 60,
        )
        report["late_ticks_total"] = _late_ticks(server.metrics())
    finally:
        report["server_exit"] = server.stop()
    return report


def _late_ticks(metrics: str) -> float:
    match = re.search(rf'mediacore_late_ticks_total{{room="{ROOM}"}} ([0-9.e+]+)', metrics)
    return float(match.group(1)) if match else 0.0
