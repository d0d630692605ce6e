"""`bench sip --attack`: legitimate phones register and call while a spoofed flood runs.

One server (its default mode unless --workers says otherwise, default security settings), one
room. While bench/sipflood.py processes send spoofed REGISTER/INVITE/OPTIONS from many loopback
addresses (127.0.0.10 and up) at the asked total rate, sipp phones on 127.0.0.1 with valid
credentials: hold calls with RTP in the room for the whole attack, register users, and place
short calls with RTP. Every phone must succeed (0 failed), and the room's audio clock must stay
on time: late ticks (more than 5 ms late) at most 0.1 % of the ticks during the attack, read
from the room summaries every half second with the bench's admin token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.sampling import PeriodicSampler
from bench.serverproc import ServerProcess, stop_process
from bench.sipbench import CALLER, ROOM, server_config
from bench.sipprun import SippProcess, numbered_users, start_sipp, write_users_csv
from mediacore.server.config import default_worker_count

LATE_TICKS_TARGET = 0.001  # at most 0.1 % of the ticks during the attack
FIRST_ATTACKER = 10  # 127.0.0.10: the flood's first source address


@dataclass
class AttackBenchmark:
    rate: float = 2000.0  # spoofed requests per second, all generators together
    seconds: float = 40.0  # how long the flood lasts
    processes: int = 4  # flood generator processes
    addresses: int = 200  # source addresses, shared out between the generators
    held_calls: int = 10  # calls held in the room through the whole attack
    registrations_per_second: float = 20.0
    calls_per_second: float = 2.0  # short calls placed during the attack
    workers: int | None = None  # None: the server's default, one media worker per core
    # The generators stand for machines elsewhere: niced, they take what the server leaves of
    # the shared CPUs rather than competing with it as equals (0: not niced).
    flood_nice: int = 10


class ClockSampler(PeriodicSampler):
    """The server's CPU and RSS and every room's clock (ticks, late ticks) every half second."""

    def __init__(self, server: ServerProcess) -> None:
        super().__init__()
        self.server = server
        self.phase = "before"

    def begin(self) -> None:
        self._began = self._last = time.monotonic()
        self._cpu = self.server.cpu_seconds()

    def sample(self) -> None:
        now, used = time.monotonic(), self.server.cpu_seconds()
        try:
            rooms = self.server.client.get("/api/v1/rooms").json()
        except Exception as error:  # noqa: BLE001 - a failed read is a sample with the error
            self.samples.append({"t": round(now - self._began, 2), "error": str(error)})
            return
        self.samples.append(
            {
                "t": round(now - self._began, 2),
                "phase": self.phase,
                "cores": round((used - self._cpu) / max(1e-6, now - self._last), 3),
                "rss_mb": round(self.server.rss_bytes() / 2**20, 1),
                "participants": sum(room["participants"] for room in rooms),
                "ticks": sum(room["clock"]["ticks"] for room in rooms),
                "late_ticks": sum(room["clock"]["late_ticks"] for room in rooms),
            }
        )
        self._last, self._cpu = now, used

    def window(self, phase: str) -> dict[str, Any]:
        """Ticks and late ticks from the last sample before `phase` to its last sample."""
        good = [s for s in self.samples if "ticks" in s]
        inside = [i for i, s in enumerate(good) if s["phase"] == phase]
        if not inside:
            return {"ticks": 0, "late_ticks": 0, "late_ratio": None}
        first, last = good[max(0, inside[0] - 1)], good[inside[-1]]
        ticks = last["ticks"] - first["ticks"]
        late = last["late_ticks"] - first["late_ticks"]
        cores = [good[i]["cores"] for i in inside]
        return {
            "ticks": ticks,
            "late_ticks": late,
            "late_ratio": round(late / ticks, 6) if ticks else None,
            "mean_cores": round(sum(cores) / len(cores), 3),
            "max_rss_mb": max(good[i]["rss_mb"] for i in inside),
            "min_participants": min(good[i]["participants"] for i in inside),
        }


def run(benchmark: AttackBenchmark, progress: Callable[[str], None]) -> dict[str, Any]:
    registrations = int(benchmark.registrations_per_second * max(1.0, benchmark.seconds - 10))
    users = numbered_users(registrations)
    data = Path(tempfile.mkdtemp(prefix="mediacore-bench-sip-attack-"))
    workers = default_worker_count() if benchmark.workers is None else benchmark.workers
    server = ServerProcess(
        data,
        rtp_ports=max(2000, benchmark.held_calls * 8 + 400),
        config=server_config(users, auth_failure_limit=None),
        workers=workers,
        MEDIACORE_SERVER_LOG_LEVEL="warning",
    )
    target = f"127.0.0.1:{server.sip_port}"
    work = data / "sipp"
    # Other work on the machine shows here: the server shares its CPUs with the generators,
    # sipp and whatever else runs.
    report: dict[str, Any] = {
        "server": {"workers": server.workers},
        "phones": {},
        "load_average_before": os.getloadavg(),
    }
    floods: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        with ClockSampler(server) as sampler:
            progress(f"bench sip --attack: {benchmark.held_calls} calls held in {ROOM}")
            held = _calls(
                target,
                work / "held",
                calls=benchmark.held_calls,
                rate=5.0,
                hold_seconds=benchmark.seconds + 12,
            )
            time.sleep(max(3.0, benchmark.held_calls / 5.0 + 1))
            progress(
                f"  flood: {benchmark.rate:.0f} spoofed REGISTER/INVITE/OPTIONS a second from "
                f"{benchmark.addresses} addresses, {benchmark.processes} processes, "
                f"{benchmark.seconds:.0f} s"
            )
            sampler.phase = "attack"
            floods = _start_floods(benchmark, server.sip_port, data)
            time.sleep(3.0)
            churn_calls = int(benchmark.calls_per_second * max(1.0, benchmark.seconds - 10))
            progress(
                f"  phones: {registrations} registrations at "
                f"{benchmark.registrations_per_second:.0f}/s and {churn_calls} calls at "
                f"{benchmark.calls_per_second:.0f}/s (3 s each, RTP) during the flood"
            )
            registering = start_sipp(
                "uac_auth_register",
                target,
                workdir=work / "registrations",
                calls=registrations,
                rate=benchmark.registrations_per_second,
                injection=write_users_csv(data / "users.csv", users),
                timeout=benchmark.seconds + 60,
                wait_listening=False,
            )
            churn = _calls(
                target,
                work / "calls",
                calls=churn_calls,
                rate=benchmark.calls_per_second,
                hold_seconds=3.0,
            )
            flood_reports = [_finish_flood(process, path, benchmark) for process, path in floods]
            sampler.phase = "after"
            phones = {
                "registrations": registering.wait(benchmark.seconds + 70),
                "calls": churn.wait(benchmark.seconds + 70),
                "held_calls": held.wait(benchmark.seconds + 90),
            }
            time.sleep(1.0)
        for name, result in phones.items():
            report["phones"][name] = {
                "successful": result.successful,
                "failed": result.failed,
                "retransmissions": result.retransmissions,
                "setup_ms_p50": result.percentile_ms(0.5),
                "setup_ms_p99": result.percentile_ms(0.99),
                "sipp_exit": result.returncode,
                "errors": result.errors[-1500:],
            }
            progress(
                f"  {name}: {result.successful} ok, {result.failed} failed, set-up p99 "
                f"{result.percentile_ms(0.99) or 0:.1f} ms"
            )
        report["flood"] = _flood_summary(flood_reports)
        report["clock"] = {
            "before": sampler.window("before"),
            "attack": sampler.window("attack"),
            "after": sampler.window("after"),
            "target_late_ratio": LATE_TICKS_TARGET,
        }
        report["samples"] = sampler.samples
        report["load_average_after"] = os.getloadavg()
        report["transactions"] = _transactions(server.metrics())
    finally:
        for process, _ in floods:
            stop_process(process, 15, 2)
        report["server_exit"] = server.stop()
    report["passed"] = _passed(report, benchmark)
    return report


def _calls(
    target: str, workdir: Path, *, calls: int, rate: float, hold_seconds: float
) -> SippProcess:
    return start_sipp(
        "uac_auth_call",
        target,
        workdir=workdir,
        service=ROOM,
        user=CALLER[0],
        password=CALLER[1],
        calls=calls,
        rate=rate,
        duration_ms=int(hold_seconds * 1000),
        timeout=calls / rate + hold_seconds + 60,
        wait_listening=False,
        # The server checks a long call with an in-dialog OPTIONS (as phones expect); -aa
        # answers it 200, as a phone does, instead of aborting the scenario.
        extra_args=["-aa"],
    )


def _start_floods(
    benchmark: AttackBenchmark, sip_port: int, data: Path
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    started = []
    per = max(1, benchmark.addresses // benchmark.processes)
    for index in range(benchmark.processes):
        first = FIRST_ATTACKER + index * per
        last = min(254, first + per - 1)
        report = data / f"flood-{index}.json"
        command = [
            sys.executable,
            "-m",
            "bench.sipflood",
            f"--target=127.0.0.1:{sip_port}",
            f"--rate={benchmark.rate / benchmark.processes}",
            f"--seconds={benchmark.seconds}",
            f"--addresses=127.0.0.{first}-127.0.0.{last}",
            f"--room={ROOM}",
            f"--report={report}",
        ]
        if benchmark.flood_nice:
            command = ["nice", "-n", str(benchmark.flood_nice), *command]
        started.append((subprocess.Popen(command), report))
    return started


def _finish_flood(
    process: subprocess.Popen[bytes], report: Path, benchmark: AttackBenchmark
) -> dict[str, Any]:
    try:
        process.wait(benchmark.seconds + 30)
    except subprocess.TimeoutExpired:
        stop_process(process, 15, 2)
    if not report.exists():
        return {"error": f"generator exited {process.returncode} without a report"}
    return dict(json.loads(report.read_text()))


def _flood_summary(reports: list[dict[str, Any]]) -> dict[str, Any]:
    responses: dict[str, int] = {}
    for report in reports:
        for status, count in report.get("responses", {}).items():
            responses[status] = responses.get(status, 0) + count
    seconds = max((report.get("seconds", 0.0) for report in reports), default=0.0)
    sent = sum(report.get("sent_total", 0) for report in reports)
    return {
        "sent": sent,
        "seconds": seconds,
        "rate": round(sent / seconds, 1) if seconds else 0.0,
        "sources": sum(report.get("sources", 0) for report in reports),
        "responses": responses,
        "worst_lag_s": max((report.get("worst_lag_s", 0.0) for report in reports), default=0.0),
        "generators": reports,
    }


def _transactions(metrics: str) -> dict[str, float]:
    """The SIP stack's gauges and counters after the attack (transactions, blocked sources)."""
    found = {}
    for line in metrics.splitlines():
        if line.startswith("mediacore_sip_") and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def _passed(report: dict[str, Any], benchmark: AttackBenchmark) -> bool:
    phones = report["phones"].values()
    ratio = report.get("clock", {}).get("attack", {}).get("late_ratio")
    return (
        bool(phones)
        and all(phone["failed"] == 0 and phone["successful"] > 0 for phone in phones)
        and ratio is not None
        and ratio <= LATE_TICKS_TARGET
        and report["flood"]["rate"] >= 0.95 * benchmark.rate
    )
