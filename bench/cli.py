"""`bench latency` and `bench capacity`: run, print progress, write JSON and a PNG plot."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import scenario as runs
from bench.plots import capacity_plot, latency_plot
from bench.serverproc import TOKEN, ServerProcess


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description="mediacore benchmarks")
    parser.add_argument("--out", default="bench/results", help="folder for JSON and PNG")
    parser.add_argument("--url", help="benchmark a running server instead of starting one")
    parser.add_argument("--token", default=os.environ.get("MEDIACORE_TOKEN", ""))
    parser.add_argument(
        "--exchange",
        help="command that reads an SDP offer on stdin and prints "
        "the answer (LEG_NAME, LEG_ROOM in its environment): drives other servers",
    )
    parser.add_argument("--room-prefix", default="bench")
    commands = parser.add_subparsers(dest="command", required=True)
    latency = commands.add_parser("latency", help="server-added latency, two legs, clean network")
    latency.add_argument("--duration", type=float, default=60.0)
    latency.add_argument("--ptime", type=int, default=20, help="room tick in ms")
    capacity = commands.add_parser("capacity", help="legs per room against CPU, memory, latency")
    capacity.add_argument("--sizes", default="50,100,200,300,500")
    capacity.add_argument("--talkers", type=int, default=4)
    capacity.add_argument("--duration", type=float, default=20.0)
    capacity.add_argument("--workers", type=int, default=2)
    capacity.add_argument("--rooms", default="50x10", help="ROOMSxLEGS many-room run ('' skips)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with _target(args) as target:
        if args.command == "latency":
            return _latency(args, target, out)
        return _capacity(args, target, out)


class _target:
    """The server under test: started here (with CPU and memory readings) or given by --url."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.server: ServerProcess | None = None

    def __enter__(self) -> runs.Target:
        if self.args.url:
            return runs.Target(
                self.args.url,
                self.args.token,
                exchange=self.args.exchange,
                create_rooms=self.args.exchange is None,
            )
        data = Path(tempfile.mkdtemp(prefix="mediacore-bench-"))
        self.server = ServerProcess(data, rtp_ports=4000, MEDIACORE_SERVER_LOG_LEVEL="warning")
        return runs.Target(self.server.url, TOKEN, self.server)

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.stop()


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _write(out: Path, name: str, report: dict[str, Any]) -> Path:
    path = out / f"{name}.json"
    path.write_text(json.dumps(report, indent=2))
    return path


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _latency(args: argparse.Namespace, target: runs.Target, out: Path) -> int:
    _progress(f"bench latency: 2 PCMU legs, one talker, {args.duration:.0f} s, ptime {args.ptime}")
    scenario = runs.Scenario(
        rooms=1,
        legs_per_room=2,
        talkers_per_room=1,
        duration=args.duration,
        workers=1,
        ptime=args.ptime,
        room_prefix=f"{args.room_prefix}-latency",
    )
    result = runs.run(scenario, target, _progress)
    summary = result.summary()
    report = {
        "benchmark": "latency",
        "machine": _machine(),
        "targets_ms": {"p50": 30, "p99": 45},
        "result": summary,
        "latencies_ms": [round(x * 1000, 3) for x in result.latencies],
    }
    path = _write(out, "latency", report)
    latency_plot(
        report["latencies_ms"],
        "mediacore server-added latency, PCMU, clean loopback",
        {"p50": 30, "p99": 45},
        out / "latency.png",
    )
    print(json.dumps(summary, indent=2))
    _progress(f"wrote {path} and {out / 'latency.png'}")
    return 0


def _capacity(args: argparse.Namespace, target: runs.Target, out: Path) -> int:
    sizes = [int(size) for size in args.sizes.split(",") if size]
    rows = []
    for size in sizes:
        _progress(f"bench capacity: one room, {size} PCMU legs, {args.talkers} talkers")
        scenario = runs.Scenario(
            rooms=1,
            legs_per_room=size,
            talkers_per_room=args.talkers,
            probes_per_room=min(8, max(1, size - args.talkers)),
            duration=args.duration,
            workers=args.workers,
            room_prefix=f"{args.room_prefix}-{size}",
        )
        rows.append(runs.run(scenario, target, _progress).summary())
        _progress(f"  -> {json.dumps(rows[-1])}")
    many = None
    if args.rooms:
        count, legs = (int(x) for x in args.rooms.split("x"))
        _progress(f"bench capacity: {count} rooms of {legs} legs, 2 talkers each")
        scenario = runs.Scenario(
            rooms=count,
            legs_per_room=legs,
            talkers_per_room=2,
            duration=args.duration,
            workers=args.workers,
            room_prefix=f"{args.room_prefix}-many",
        )
        many = runs.run(scenario, target, _progress).summary()
        _progress(f"  -> {json.dumps(many)}")
    report = {
        "benchmark": "capacity",
        "machine": _machine(),
        "targets": {
            "legs": 500,
            "cpu_cores": 1.0,
            "late_ticks_over_5ms": 0,
            "latency_p99_ms": 60,
            "rss_mb": 400,
        },
        "one_room": rows,
        "many_rooms": many,
    }
    path = _write(out, "capacity", report)
    if rows:
        capacity_plot(
            rows, "mediacore capacity: one room of PCMU legs, 4 talkers", out / "capacity.png"
        )
    _progress(f"wrote {path} and {out / 'capacity.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
