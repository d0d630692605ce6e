"""Load-generator processes for benchmarks that need a busy room: start, join, go, stop.

Each process (bench/loadgen.py) joins its share of the legs, says "ready", then sends from a
common start time until told to stop or its duration ends."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.serverproc import TOKEN, ServerProcess

LEGS_PER_PROCESS = 50


def start_load(
    server: ServerProcess,
    room: str,
    legs: int,
    *,
    talkers: int,
    ptime: int,
    duration: float,
    progress: Callable[[str], None],
) -> list[subprocess.Popen[str]]:
    """`legs` plain RTP legs in `room`, the first `talkers` sending tone bursts and the others
    silence packets, spread over processes of LEGS_PER_PROCESS; all sending once this returns.
    On any failure the processes started so far are stopped."""
    specs = [
        {"name": f"load-{i}", "room": room, "talker": i if i < talkers else None, "probe": False}
        for i in range(legs)
    ]
    return start_legs(server.url, specs, ptime=ptime, duration=duration, progress=progress)


def start_legs(
    url: str,
    specs: list[dict[str, Any]],
    *,
    ptime: int,
    duration: float,
    progress: Callable[[str], None],
    host: str = "127.0.0.1",
) -> list[subprocess.Popen[str]]:
    """Legs as bench/loadgen.py's job describes them (`specs`: name, room, talker, probe),
    joined through the API at `url` from sockets on `host`, spread over processes of
    LEGS_PER_PROCESS; all sending once this returns. On any failure the processes started so
    far are stopped. collect_load() reads what they measured once `duration` is over."""
    if not specs:
        return []
    workers = max(1, math.ceil(len(specs) / LEGS_PER_PROCESS))
    talkers = sum(1 for spec in specs if spec["talker"] is not None)
    processes: list[subprocess.Popen[str]] = []
    try:
        for part in (specs[i::workers] for i in range(workers)):
            job = {"url": url, "token": TOKEN, "legs": part, "ptime": ptime,
                   "duration": duration, "drift_ppm": 500, "host": host}  # fmt: skip
            processes.append(spawn_worker("bench.loadgen", job))
        progress(f"  joining {len(specs)} load legs ({talkers} talkers) in {workers} process(es)")
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"load generator failed to join its legs: {line!r}")
        start = time.monotonic() + 0.2
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(f"start {start}\n")
            process.stdin.flush()
    except BaseException:
        stop_load(processes)
        raise
    return processes


def collect_load(processes: list[subprocess.Popen[str]], timeout: float) -> list[dict[str, Any]]:
    """Each load generator's report (bench/loadgen.py's last line) once it has sent for its
    whole duration; `timeout` seconds at most, then the rest are stopped (RuntimeError)."""
    reports = []
    try:
        for process in processes:
            output, _ = process.communicate(timeout=timeout)
            reports.append(json.loads(output.strip().splitlines()[-1]))
    except (subprocess.TimeoutExpired, IndexError, ValueError) as error:
        raise RuntimeError(f"a load generator gave no report: {error}") from error
    finally:
        stop_load(processes)
    return reports


def spawn_worker(module: str, job: dict[str, object]) -> subprocess.Popen[str]:
    """`python -m module` with `job` as one JSON line on its stdin; it answers on stdout."""
    process = subprocess.Popen(
        [sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(job) + "\n")
    process.stdin.flush()
    return process


def stop_load(processes: list[subprocess.Popen[str]]) -> None:
    """Stop the load generators (SIGTERM, then kill after 5 s) and close their pipes."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()
