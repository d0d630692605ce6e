"""`bench latency` and `bench capacity`: run, print progress, write JSON and a PNG plot."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import (
    clusterbench,
    conferencebench,
    dispatchbench,
    failover,
    fuzzbench,
    radiobench,
    recordbench,
    sipattack,
    sipbench,
    wallbench,
    webrtcbench,
    workersbench,
)
from bench import scenario as runs
from bench.calibration import calibration_ms
from bench.clusterplot import cluster_plot
from bench.clusterup import unavailable as cluster_unavailable
from bench.conferenceplot import conference_plot
from bench.dispatchplot import dispatch_plot
from bench.figures import janus_comparison
from bench.fuzzplot import fuzz_plot
from bench.loadgen import PHASES
from bench.plots import (
    attack_plot,
    capacity_plot,
    latency_plot,
    radio_plot,
    record_plot,
    sip_plot,
    webrtc_plot,
)
from bench.wallplot import wall_plot
from bench.workersplot import failover_plot, janus_modes_plot, workers_plot

PHASES_HELP = (
    "slots of the 20 ms packet time the load legs send at, each leg in one, as independent "
    "phones do (1: every leg of a generator in one burst, a harsher case than phones make)"
)


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
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin the server and the load generators to separate halves of the CPUs",
    )
    parser.add_argument(
        "--server-pid", type=int, help="with --url: read this server process's CPU and memory"
    )
    parser.add_argument(
        "--cleanup", help="with --exchange: command run per room after each run (LEG_ROOM set)"
    )
    parser.add_argument(
        "--label", default="mediacore", help="server name in plot titles; other names prefix files"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    # How the bench starts the server under test (scenario.started_server), for the commands
    # that start it through that one place.
    server = argparse.ArgumentParser(add_help=False)
    server.add_argument(
        "--workers",
        type=int,
        default=0,
        help="media worker processes (mediacore serve --workers); 0: single-process mode",
    )
    server.add_argument(
        "--max-legs-per-shard", type=int, help="[server] max_legs_per_shard (server default 200)"
    )
    # The load of capacity runs, against mediacore or Janus alike.
    load = argparse.ArgumentParser(add_help=False)
    load.add_argument("--sizes", default="50,100,200,300,500")
    load.add_argument("--talkers", type=int, default=4)
    load.add_argument("--duration", type=float, default=20.0, help="each capacity run, s")
    load.add_argument("--loadgens", type=int, default=2, help="load-generator processes")
    load.add_argument("--phases", type=int, default=PHASES, help=PHASES_HELP)
    load.add_argument("--rooms", default="50x10", help="ROOMSxLEGS many-room run ('' skips)")
    latency = commands.add_parser(
        "latency", parents=[server], help="server-added latency, two legs, clean network"
    )
    latency.add_argument("--duration", type=float, default=60.0)
    latency.add_argument("--ptime", type=int, default=20, help="room tick in ms")
    commands.add_parser(
        "capacity", parents=[server, load], help="legs per room against CPU, memory, latency"
    )
    janus = commands.add_parser(
        "compare-janus",
        parents=[load],
        help="start Janus AudioBridge; run latency and capacity against it",
    )
    janus.add_argument("--latency-duration", type=float, default=60.0, help="0 skips")
    janus.add_argument("--sampling-rate", type=int, default=48000, help="AudioBridge mix rate")
    janus.add_argument("--prebuffer", type=int, help="AudioBridge prebuffering, packets (its 6)")
    janus.add_argument("--baseline", default="bench/baseline", help="mediacore results to compare")
    janus.add_argument(
        "--modes",
        default="0,2",
        help="mediacore worker counts run after Janus in the same run, the same sizes and "
        "rooms (0: single-process); '' compares with --baseline only",
    )
    janus.add_argument("--max-legs-per-shard", type=int, help="for the worker modes")
    workers = commands.add_parser(
        "workers",
        help="media workers against single-process mode: idle CPU, one big room, many rooms",
    )
    workers.add_argument("--modes", default="0,2", help="worker counts (0: single-process)")
    workers.add_argument("--legs", type=int, default=500, help="legs in the one room (0 skips)")
    workers.add_argument("--talkers", type=int, default=4)
    workers.add_argument("--probes", type=int, default=8)
    workers.add_argument("--rooms", default="50x10", help="ROOMSxLEGS many-room run ('' skips)")
    workers.add_argument("--seconds", type=float, default=20.0, help="each loaded run, s")
    workers.add_argument("--idle-seconds", type=float, default=20.0, help="0 skips")
    workers.add_argument("--max-legs-per-shard", type=int, default=250)
    workers.add_argument("--loadgens", type=int, default=2, help="load-generator processes")
    workers.add_argument("--phases", type=int, default=PHASES, help=PHASES_HELP)
    workers.add_argument("--repeat", type=int, default=1, help="runs of every mode, alternating")
    fail = commands.add_parser(
        "failover", help="kill -9 a media worker under load: the other worker's ticks, the gap"
    )
    fail.add_argument("--legs", type=int, default=100, help="legs in each of the two rooms")
    fail.add_argument("--talkers", type=int, default=2)
    fail.add_argument("--runs", type=int, default=3, help="kills, each on a fresh server")
    fail.add_argument("--before", type=float, default=5.0, help="load before the kill, s")
    fail.add_argument("--after", type=float, default=8.0, help="watched after the kill, s")
    fail.add_argument("--workers", type=int, default=2)
    fail.add_argument(
        "--stop-stale",
        action="store_true",
        help="stop the killed worker's room's senders at the kill (default: they keep sending "
        "to their old ports, as phones would)",
    )
    cluster = commands.add_parser(
        "cluster",
        help="three nodes in network namespaces: placement, a talker heard across nodes, "
        "failover gap after kill -9 (needs root, redis-server, kamailio)",
    )
    cluster.add_argument("--nodes", type=int, default=3)
    cluster.add_argument("--workers", type=int, default=1, help="media workers per node")
    cluster.add_argument("--rooms", type=int, default=6, help="placement: rooms (0 skips)")
    cluster.add_argument("--legs", type=int, default=20, help="placement: legs in each room")
    cluster.add_argument("--talkers", type=int, default=2, help="placement: talkers per room")
    cluster.add_argument(
        "--room-interval", type=float, default=1.0, help="placement: s between opening rooms"
    )
    cluster.add_argument("--seconds", type=float, default=10.0, help="placement window, s")
    cluster.add_argument(
        "--span-seconds", type=float, default=20.0, help="cross-node talker run, s (0 skips)"
    )
    cluster.add_argument(
        "--span-legs", type=int, default=10, help="more legs on each node in the spanning room"
    )
    cluster.add_argument(
        "--span-talkers", type=int, default=3, help="talkers on n1 in the spanning room"
    )
    cluster.add_argument("--failovers", type=int, default=3, help="kill -9 runs (0 skips)")
    cluster.add_argument("--data-dir", default="", help="the nodes' data and logs (default: temp)")
    sip = commands.add_parser("sip", help="sipp: registrations, call set-up rate, concurrent calls")
    sip.add_argument("--registrations", type=int, default=1000)
    sip.add_argument("--registration-rate", type=float, default=100.0)
    sip.add_argument("--setup-rate", type=float, default=50.0, help="calls per second")
    sip.add_argument("--setup-seconds", type=float, default=10.0)
    sip.add_argument("--concurrent", type=int, default=200)
    sip.add_argument("--hold", type=float, default=20.0, help="seconds the concurrent calls last")
    sip.add_argument(
        "--attack",
        action="store_true",
        help="instead: phones register and call during a spoofed flood from many addresses",
    )
    sip.add_argument("--attack-rate", type=float, default=2000.0, help="spoofed requests/s")
    sip.add_argument("--attack-seconds", type=float, default=40.0)
    sip.add_argument("--attack-processes", type=int, default=4, help="flood generators")
    sip.add_argument("--attack-addresses", type=int, default=200, help="127.0.0.x sources")
    sip.add_argument("--held-calls", type=int, default=10, help="calls held through the attack")
    sip.add_argument("--workers", type=int, help="with --attack: media workers (server default)")
    sip.add_argument(
        "--flood-nice", type=int, default=10, help="with --attack: the generators' niceness"
    )
    radio = commands.add_parser(
        "radio", help="ED-137 key-up latency and API floor grants in a loaded room"
    )
    radio.add_argument("--legs", type=int, default=100, help="plain RTP legs loading the room")
    radio.add_argument("--keyups", type=int, default=100, help="squelch key-ups timed")
    radio.add_argument("--grants", type=int, default=500, help="API floor requests timed")
    record = commands.add_parser(
        "record", help="extra CPU of recording every track of a loaded room, dropped frames"
    )
    record.add_argument("--legs", type=int, default=200, help="RTP legs in the room")
    record.add_argument("--seconds", type=float, default=20.0, help="each phase, s")
    record.add_argument("--data-dir", help="the server's data dir (default: a temporary one)")
    webrtc = commands.add_parser(
        "webrtc", help="N aiortc WebRTC peers in one room: CPU, memory, added latency"
    )
    webrtc.add_argument("--sizes", default="10,25,50", help="peers per run")
    webrtc.add_argument("--seconds", type=float, default=20.0, help="bursts per run, s")
    webrtc.add_argument("--talkers", type=int, default=2)
    webrtc.add_argument("--probes", type=int, default=4, help="peers that time the onsets")
    webrtc.add_argument("--per-process", type=int, default=25, help="aiortc peers per process")
    webrtc.add_argument(
        "--baseline-seconds", type=float, default=10.0, help="aiortc -> aiortc run (0 skips)"
    )
    wall = commands.add_parser(
        "wall", help="LED wall compositor: source-to-output latency, frames on time, CPU"
    )
    wall.add_argument(
        "--scenario",
        default="all",
        help="9x720p-1080p30, 16-2160p25 (16 of 720p), all (those and 16x540p-2160p25), "
        "or any NxHp-Cp<fps>; comma-separated",
    )
    wall.add_argument("--seconds", type=float, default=30.0, help="measured per scenario, s")
    dispatch = commands.add_parser(
        "dispatch", help="a console monitoring 10 rooms of 20 legs: extra CPU, latency to it"
    )
    dispatch.add_argument("--rooms", type=int, default=10)
    dispatch.add_argument("--legs", type=int, default=20, help="legs in each room")
    dispatch.add_argument("--talkers", type=int, default=2, help="talkers in each room")
    dispatch.add_argument("--seconds", type=float, default=20.0, help="each of the two runs, s")
    dispatch.add_argument("--workers", type=int, default=2, help="media workers (0: one process)")
    conference = commands.add_parser(
        "conference",
        help="video participants in one conference, each receiving its composed picture",
    )
    conference.add_argument("--participants", type=int, default=9)
    conference.add_argument("--steps", default="1,3,6", help="participant counts on the way")
    conference.add_argument("--viewers", default="1,3", help="pure viewers added at the end")
    conference.add_argument("--probes", type=int, default=3, help="receivers that decode")
    conference.add_argument("--size", default="1280x720", help="each camera's picture")
    conference.add_argument("--picture", default="1280x720", help="the composed picture")
    conference.add_argument("--fps", type=int, default=30)
    conference.add_argument("--seconds", type=float, default=20.0, help="measured at full count")
    conference.add_argument("--step-seconds", type=float, default=4.0, help="each step, s")
    conference.add_argument("--switches", type=int, default=4, help="layout switches timed")
    conference.add_argument("--audio-legs", type=int, default=4, help="plain RTP audio legs")
    conference.add_argument("--workers", type=int, help="media workers (server default)")
    fuzz = commands.add_parser(
        "fuzz", help="every parser under coverage-guided mutation (atheris): crashes, hangs"
    )
    fuzz.add_argument("--runs", type=int, default=100_000, help="inputs per parser")
    fuzz.add_argument("--targets", default="", help="comma-separated parsers (default: all)")
    fuzz.add_argument("--hang-seconds", type=float, default=1.0, help="an input slower is a hang")
    fuzz.add_argument("--max-seconds", type=int, default=1800, help="time bound per parser, s")
    fuzz.add_argument("--nice", type=int, default=10, help="niceness of the fuzzing processes")
    fuzz.add_argument("--seed", type=int, default=1, help="libFuzzer's seed")
    fuzz.add_argument("--jobs", type=int, default=1, help="parsers fuzzed at once")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = _COMMANDS.get(args.command)
    if command is not None:
        return command(args, out)
    with _target(args) as target:
        if args.command == "latency":
            return _latency(args, target, out)
        return _capacity(args, target, out)


@contextmanager
def _target(args: argparse.Namespace) -> Iterator[runs.Target]:
    """The server under test: started through scenario.started_server (CPU and memory of its
    whole process tree read) or the one given by --url."""
    if args.url:
        yield runs.Target(
            args.url,
            args.token,
            exchange=args.exchange,
            create_rooms=args.exchange is None,
            pid=args.server_pid,
            cleanup=args.cleanup,
        )
        return
    with runs.started_server(
        workers=args.workers,
        max_legs_per_shard=args.max_legs_per_shard,
        pin=args.pin,
        progress=_progress,
    ) as target:
        yield target


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _file(args: argparse.Namespace, name: str) -> str:
    """`latency`, or `janus-latency` for another server (--label janus)."""
    label = getattr(args, "label", "mediacore")
    return name if label == "mediacore" else f"{label}-{name}"


def _write(out: Path, name: str, report: dict[str, Any]) -> Path:
    path = out / f"{name}.json"
    path.write_text(json.dumps(report, indent=2))
    return path


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "calibration_ms": calibration_ms(),  # compare runs only where this is close
    }


def _report_of(name: str, benchmark: Any) -> dict[str, Any]:
    """The head every benchmark report starts with: its name, the machine, its parameters."""
    return {"benchmark": name, "machine": _machine(), "parameters": vars(benchmark)}


def _server_mode(args: argparse.Namespace) -> dict[str, Any]:
    """How the server under test ran, for the report head."""
    if getattr(args, "label", "mediacore") != "mediacore" or getattr(args, "url", None):
        return {"label": getattr(args, "label", None), "started_by_bench": False}
    workers = getattr(args, "workers", 0)
    return {
        "label": "mediacore",
        "mode": runs.mode_name(workers),
        "workers": workers,
        "max_legs_per_shard": getattr(args, "max_legs_per_shard", None),
    }


def _latency(args: argparse.Namespace, target: runs.Target, out: Path) -> int:
    _progress(f"bench latency: 2 PCMU legs, one talker, {args.duration:.0f} s, ptime {args.ptime}")
    scenario = runs.Scenario(
        rooms=1,
        legs_per_room=2,
        talkers_per_room=1,
        duration=args.duration,
        loadgens=1,
        ptime=args.ptime,
        room_prefix=f"{args.room_prefix}-latency",
    )
    result = runs.run(scenario, target, _progress)
    summary = result.summary()
    latencies_ms = [round(x * 1000, 3) for x in result.latencies]
    report = {
        "benchmark": "latency",
        "machine": _machine(),
        "server": _server_mode(args),
        "targets_ms": {"p50": 30, "p99": 45},
        "result": summary,
        "latencies_ms": latencies_ms,
    }
    name = _file(args, "latency")
    path = _write(out, name, report)
    if latencies_ms:
        latency_plot(
            latencies_ms,
            f"{args.label} server-added latency, PCMU, clean loopback",
            {"p50": 30, "p99": 45},
            out / f"{name}.png",
        )
    print(json.dumps(summary, indent=2))
    _progress(f"wrote {path} and {out / name}.png")
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
            loadgens=args.loadgens,
            phases=args.phases,
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
            loadgens=args.loadgens,
            phases=args.phases,
            room_prefix=f"{args.room_prefix}-many",
        )
        many = runs.run(scenario, target, _progress).summary()
        _progress(f"  -> {json.dumps(many)}")
    report = {
        "benchmark": "capacity",
        "machine": _machine(),
        "server": _server_mode(args),
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
    name = _file(args, "capacity")
    path = _write(out, name, report)
    if rows:
        capacity_plot(
            rows,
            f"{args.label} capacity: one room of PCMU legs, {args.talkers} talkers",
            out / f"{name}.png",
        )
    _progress(f"wrote {path} and {out / name}.png")
    return 0


def _compare_janus(args: argparse.Namespace, out: Path) -> int:
    """Janus AudioBridge (plain RTP participants) under the same load generator, legs and
    talkers: writes janus-latency.* and janus-capacity.*, prints a table against --baseline."""
    from bench.janus import JanusProcess

    with JanusProcess() as janus:
        _progress(f"Janus AudioBridge at {janus.url} (pid {janus.pid}, files in {janus.folder})")
        adapter = (
            f"{sys.executable} -m bench.adapters.janus_audiobridge --url {janus.url} "
            f"--sampling-rate {args.sampling_rate} --state {janus.state}"
            + ("" if args.prebuffer is None else f" --prebuffer {args.prebuffer}")
        )
        target = runs.Target(
            janus.url,
            exchange=adapter,
            create_rooms=False,
            pid=janus.pid,
            cleanup=f"{adapter} --destroy",
        )
        common = {
            "label": "janus",
            "room_prefix": args.room_prefix,
            "loadgens": args.loadgens,
            "phases": args.phases,
        }
        try:
            if args.latency_duration > 0:
                latency = argparse.Namespace(**common, duration=args.latency_duration, ptime=20)
                _latency(latency, target, out)
            capacity = argparse.Namespace(
                **common,
                sizes=args.sizes,
                talkers=args.talkers,
                duration=args.duration,
                rooms=args.rooms,
            )
            if args.sizes or args.rooms:
                _capacity(capacity, target, out)
        except Exception:
            errors = janus.state / "errors.log"
            if errors.exists():
                _progress("adapter errors:\n" + errors.read_text()[-2000:])
            _progress(f"Janus log: {janus.log_path}")
            raise
    modes = [int(mode) for mode in args.modes.split(",") if mode]
    if not modes:
        print(_side_by_side(Path(args.baseline), out))
        return 0
    return _janus_modes(args, out, modes)


def _janus_modes(args: argparse.Namespace, out: Path, modes: list[int]) -> int:
    """After Janus, mediacore in each mode on the same sizes and rooms, in the same run: writes
    janus-modes.json/png with the CPU ratios and prints them."""
    found: dict[str, list[dict[str, Any]]] = {}
    for workers in modes:
        mode = runs.mode_name(workers)
        folder = out / f"mediacore-{workers}"
        folder.mkdir(exist_ok=True)
        capacity = argparse.Namespace(
            label="mediacore",
            room_prefix=args.room_prefix,
            loadgens=args.loadgens,
            phases=args.phases,
            sizes=args.sizes,
            talkers=args.talkers,
            duration=args.duration,
            rooms=args.rooms,
            workers=workers,
            max_legs_per_shard=args.max_legs_per_shard if workers else None,
        )
        _progress(f"mediacore, {mode}: the same capacity runs")
        with runs.started_server(
            workers=workers, max_legs_per_shard=capacity.max_legs_per_shard, progress=_progress
        ) as target:
            _capacity(capacity, target, folder)
        report = json.loads((folder / "capacity.json").read_text())
        found[mode] = report["one_room"] + ([report["many_rooms"]] if report["many_rooms"] else [])
    theirs = json.loads((out / "janus-capacity.json").read_text())
    janus_rows = theirs["one_room"] + ([theirs["many_rooms"]] if theirs["many_rooms"] else [])
    comparison = janus_comparison(janus_rows, found)
    local = {"out", "url", "token", "server_pid", "exchange", "cleanup", "command"}
    parameters = {key: value for key, value in vars(args).items() if key not in local}
    report = {"benchmark": "janus-modes", "machine": _machine(), "parameters": parameters}
    report |= comparison
    path = _write(out, "janus-modes", report)
    janus_modes_plot(
        report,
        "Janus AudioBridge and mediacore modes, same run: CPU of each whole server process tree",
        out / "janus-modes.png",
    )
    for ratio in comparison["ratios"]:
        _progress(
            f"{ratio['legs']:>4} legs: mediacore {ratio['mode']} {ratio['mediacore_cores']} "
            f"cores, Janus {ratio['janus_cores']} cores, ratio {ratio['ratio']}"
        )
    _progress(f"wrote {path} and {out / 'janus-modes.png'}")
    return 0


def _side_by_side(baseline: Path, out: Path) -> str:
    """A text table: mediacore's baseline figures next to Janus's, per run."""
    columns = ("latency_p50_ms", "latency_p99_ms", "cpu_cores", "rss_mb", "packets_received")
    lines = [f"{'run':<16}{'server':<11}" + "".join(f"{c:>18}" for c in columns)]

    def rows(folder: Path, prefix: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        try:
            latency = json.loads((folder / f"{prefix}latency.json").read_text())
            found["latency"] = latency["result"]
        except (OSError, ValueError, KeyError):
            pass
        try:
            capacity = json.loads((folder / f"{prefix}capacity.json").read_text())
        except (OSError, ValueError):
            return found
        for row in capacity.get("one_room") or []:
            found[f"one room {row['legs']}"] = row
        if capacity.get("many_rooms"):
            many = capacity["many_rooms"]
            found[f"{many['rooms']}x{many['legs_per_room']} rooms"] = many
        return found

    ours, theirs = rows(baseline, ""), rows(out, "janus-")
    for run in list(dict.fromkeys([*ours, *theirs])):
        for server, table in (("mediacore", ours), ("janus", theirs)):
            row = table.get(run)
            if row is not None:
                cells = "".join(f"{str(row.get(c)):>18}" for c in columns)
                lines.append(f"{run:<16}{server:<11}{cells}")
    return "\n".join(lines)


def _sip(args: argparse.Namespace, out: Path) -> int:
    if args.attack:
        return _sip_attack(args, out)
    benchmark = sipbench.SipBenchmark(
        registrations=args.registrations,
        registration_rate=args.registration_rate,
        setup_rate=args.setup_rate,
        setup_seconds=args.setup_seconds,
        concurrent=args.concurrent,
        hold_seconds=args.hold,
    )
    report = _report_of("sip", benchmark) | sipbench.run(benchmark, out, _progress)
    path = _write(out, "sip", report)
    sip_plot(report, "mediacore SIP (sipp, loopback)", out / "sip.png")
    phases = report["phases"].values()
    failed = sum(phase["failed"] for phase in phases)
    worst_p99 = max((phase["setup_ms_p99"] or 0.0) for phase in phases)
    _progress(f"wrote {path}: {failed} failed calls, worst set-up p99 {worst_p99:.1f} ms")
    return 0 if failed == 0 and report["server_exit"] == 0 else 1


def _sip_attack(args: argparse.Namespace, out: Path) -> int:
    benchmark = sipattack.AttackBenchmark(
        rate=args.attack_rate,
        seconds=args.attack_seconds,
        processes=args.attack_processes,
        addresses=args.attack_addresses,
        held_calls=args.held_calls,
        workers=args.workers,
        flood_nice=args.flood_nice,
    )
    report = _report_of("sip-attack", benchmark) | sipattack.run(benchmark, _progress)
    path = _write(out, "sip-attack", report)
    attack_plot(
        report,
        f"mediacore SIP under a spoofed flood of {benchmark.rate:.0f} requests/s "
        f"from {benchmark.addresses} addresses (loopback)",
        out / "sip-attack.png",
    )
    clock, flood = report["clock"]["attack"], report["flood"]
    failed = sum(phone["failed"] for phone in report["phones"].values())
    _progress(
        f"flood {flood['rate']:.0f}/s ({flood['sent']} sent); phones {failed} failed; late ticks "
        f"{clock['late_ticks']} of {clock['ticks']} ({clock['late_ratio']}); targets "
        f"{'met' if report['passed'] else 'not met'}"
    )
    _progress(f"wrote {path} and {out / 'sip-attack.png'}")
    return 0 if report["passed"] else 1


def _radio(args: argparse.Namespace, out: Path) -> int:
    benchmark = radiobench.RadioBenchmark(legs=args.legs, keyups=args.keyups, grants=args.grants)
    _progress(
        f"bench radio: one room, {benchmark.legs} RTP legs, 2 ED-137 gateways, "
        f"floor hang {radiobench.FLOOR_HANG_MS} ms"
    )
    report = _report_of("radio", benchmark) | radiobench.run(benchmark, _progress)
    path = _write(out, "radio", report)
    radio_plot(
        report,
        f"mediacore radio floor, {benchmark.legs} RTP legs loading the room",
        out / "radio.png",
    )
    keyup, grant = report["keyup"], report["grant"]
    _progress(
        f"key-up p50 {keyup['p50_ms']} p99 {keyup['p99_ms']} max {keyup['max_ms']} ms "
        f"({keyup['missed']} missed; target p99 {keyup['target_p99_ms']:.0f}; A's voice at B "
        f"p50 {keyup['voice']['p50_ms']} ms); API grant p50 "
        f"{grant['p50_ms']} p99 {grant['p99_ms']} max {grant['max_ms']} ms (target p99 "
        f"{grant['target_p99_ms']:.0f}); server {report['server']['mean_cores']} cores, "
        f"{report['server']['max_rss_mb']} MB"
    )
    _progress(f"wrote {path} and {out / 'radio.png'}")
    return 0 if report["passed"] else 1


def _record(args: argparse.Namespace, out: Path) -> int:
    benchmark = recordbench.RecordBenchmark(
        legs=args.legs, seconds=args.seconds, data_dir=args.data_dir
    )
    _progress(
        f"bench record: one room, {benchmark.legs} RTP legs, {benchmark.seconds:.0f} s "
        "baseline then as long recording every track and the mix"
    )
    report = _report_of("record", benchmark) | recordbench.run(benchmark, _progress)
    path = _write(out, "record", report)
    record_plot(
        report,
        f"mediacore recording every track of a room of {benchmark.legs} RTP legs and the mix",
        out / "record.png",
    )
    frames, throughput = report["frames"], report["throughput"]
    _progress(
        f"extra CPU {report['extra_cpu_percent']:.1f} % of a core (target <= "
        f"{report['targets']['extra_cpu_percent']:.0f} %); {frames['dropped_frames']} dropped "
        f"frames of {frames['ticks_recorded']} ticks x {frames['participant_tracks']} tracks; "
        f"{report['recording']['late_ticks']} late ticks while recording; "
        f"{(throughput['audio_bytes_per_s'] or 0) / 1e6:.2f} MB/s of audio; stop "
        f"{report['stop']['call_s']:.1f} s ({report['stop']['twins']} twins); verify "
        f"ok={report['verify']['ok']} in {report['verify']['seconds']:.1f} s"
    )
    _progress(f"wrote {path} and {out / 'record.png'}")
    return 0 if report["passed"] else 1


def _webrtc(args: argparse.Namespace, out: Path) -> int:
    benchmark = webrtcbench.WebRtcBenchmark(
        sizes=[int(size) for size in args.sizes.split(",") if size],
        seconds=args.seconds,
        talkers=args.talkers,
        probes=args.probes,
        per_process=args.per_process,
        baseline_seconds=args.baseline_seconds,
    )
    report = _report_of("webrtc", benchmark) | webrtcbench.run(benchmark, _progress)
    path = _write(out, "webrtc", report)
    webrtc_plot(report, "mediacore WebRTC audio peers (aiortc) in one room", out / "webrtc.png")
    for row in report["runs"]:
        arrival = row["arrival"]
        _progress(
            f"{row['peers']:>4} peers: latency p50 {arrival['p50_ms']} p99 {arrival['p99_ms']} ms"
            f" (delivered p99 {row['delivered']['p99_ms']}), server {row['server_cores']} "
            f"cores {row['server_rss_mb_max']} MB, clients {row['clients_cores']} cores, "
            f"{row['late_ticks']} late ticks, {row['encodes_per_tick']} encodes/tick"
        )
    target = report["targets"]
    _progress(
        f"target: p99 <= {target['latency_p99_ms']:.0f} ms at {target['peers']} peers: "
        f"{'met' if report['passed'] else 'not met'}; wrote {path} and {out / 'webrtc.png'}"
    )
    return 0 if report["passed"] else 1


def _wall(args: argparse.Namespace, out: Path) -> int:
    names = [n for n in args.scenario.split(",") if n and n != "all"]
    if "all" in args.scenario.split(","):
        names = [*wallbench.ALL, *(n for n in names if n not in wallbench.ALL)]
    benchmark = wallbench.WallBenchmark(scenarios=names, seconds=args.seconds)
    report = _report_of("wall", benchmark) | wallbench.run(benchmark, _progress)
    path = _write(out, "wall", report)
    title = "mediacore LED wall compositor (stamped sources, rtp output)"
    wall_plot(report, title, out / "wall.png")
    for row in report["scenarios"]:
        lat, output, server = row["latency"]["latency_ms"], row["output"], row["server"]
        _progress(
            f"{row['scenario']}: latency p50 {lat['p50']} p95 {lat['p95']} p99 {lat['p99']} ms, "
            f"{output['on_time_percent']} % on time at {output['fps']} fps (server's own count "
            f"{row['wall_status']['on_time_percent']} %), server "
            f"{server['cores']} cores {server['rss_mb_max']} MB, bench "
            f"{row['bench_cores']['total']} cores, other processes "
            f"{row['machine']['other_cores']} cores, {row['latency']['unreadable']} unreadable "
            f"stamps; {'met' if row['passed'] else 'not met'}"
        )
    _progress(f"wrote {path} and {out / 'wall.png'}")
    return 0 if report["passed"] else 1


def _workers(args: argparse.Namespace, out: Path) -> int:
    benchmark = workersbench.WorkersBenchmark(
        modes=[int(mode) for mode in args.modes.split(",") if mode],
        legs=args.legs,
        talkers=args.talkers,
        probes=args.probes,
        rooms=args.rooms,
        seconds=args.seconds,
        idle_seconds=args.idle_seconds,
        max_legs_per_shard=args.max_legs_per_shard,
        loadgens=args.loadgens,
        phases=args.phases,
        repeat=args.repeat,
        pin=args.pin,
    )
    report = _report_of("workers", benchmark) | workersbench.run(benchmark, _progress)
    path = _write(out, "workers", report)
    workers_plot(
        report,
        f"mediacore media workers against single-process mode ({benchmark.repeat} run(s) "
        "of each, range over the runs)",
        out / "workers.png",
    )
    for verdict in report["verdicts"]:
        _progress(
            f"{verdict['phase']:<11}{verdict['mode']:<16}{verdict['figure']:<18}"
            f"worst {verdict['worst']} (target {verdict['target']}): "
            f"{'met' if verdict['met'] else 'NOT MET'}"
        )
    _progress(f"wrote {path} and {out / 'workers.png'}")
    return 0 if all(v["met"] for v in report["verdicts"]) else 1


def _failover(args: argparse.Namespace, out: Path) -> int:
    benchmark = failover.FailoverBenchmark(
        legs=args.legs,
        talkers=args.talkers,
        runs=args.runs,
        before=args.before,
        after=args.after,
        workers=args.workers,
        stop_stale=args.stop_stale,
    )
    report = _report_of("failover", benchmark) | failover.run(benchmark, _progress)
    name = "failover-stop-stale" if benchmark.stop_stale else "failover"
    path = _write(out, name, report)
    senders = "stopped at the kill" if benchmark.stop_stale else "still sending"
    failover_plot(
        report,
        f"mediacore: kill -9 of one of {benchmark.workers} media workers, "
        f"{benchmark.legs} legs in each of two rooms (lost legs' senders {senders})",
        out / f"{name}.png",
    )
    summary = report["summary"]
    _progress(
        f"back {summary['back_s']['values']} s, heard {summary['heard_s']['values']} s after "
        f"the kill ({summary['hijacked_runs']} run(s) where a stale sender took a new leg); "
        f"the other worker's room: ticks over 20 ms {summary['calm_ticks_over_20ms']['values']}"
        f"; targets {'met' if summary['passed'] else 'not met'} ({summary['met']})"
    )
    _progress(f"wrote {path} and {out / name}.png")
    return 0 if summary["passed"] else 1


def _cluster(args: argparse.Namespace, out: Path) -> int:
    reason = cluster_unavailable()
    if reason is not None:
        _progress(f"bench cluster cannot run here: {reason}")
        return 2
    benchmark = clusterbench.ClusterBenchmark(
        nodes=args.nodes,
        workers=args.workers,
        rooms=args.rooms,
        legs=args.legs,
        talkers=args.talkers,
        room_interval=args.room_interval,
        seconds=args.seconds,
        span_seconds=args.span_seconds,
        span_legs=args.span_legs,
        span_talkers=args.span_talkers,
        failovers=args.failovers,
        folder=args.data_dir,
    )
    report = _report_of("cluster", benchmark) | clusterbench.run(benchmark, _progress)
    path = _write(out, "cluster", report)
    cluster_plot(
        report,
        f"mediacore cluster: {benchmark.nodes} nodes in network namespaces, "
        f"{benchmark.workers} media worker(s) each",
        out / "cluster.png",
    )
    _progress(
        f"bench cluster {'passed' if report['passed'] else 'NOT passed'} in {report['seconds']} s"
        f"; wrote {path} and {out / 'cluster.png'}"
    )
    return 0 if report["passed"] else 1


def _dispatch(args: argparse.Namespace, out: Path) -> int:
    benchmark = dispatchbench.DispatchBenchmark(
        rooms=args.rooms,
        legs=args.legs,
        talkers=args.talkers,
        seconds=args.seconds,
        workers=args.workers,
    )
    report = _report_of("dispatch", benchmark) | dispatchbench.run(benchmark, _progress)
    path = _write(out, "dispatch", report)
    dispatch_plot(
        report,
        report["console_latencies_ms"],
        f"mediacore: a console monitoring {args.rooms} rooms of {args.legs} PCMU legs "
        f"({runs.mode_name(args.workers)})",
        out / "dispatch.png",
    )
    verdict = report["verdict"]
    _progress(
        f"console latency p99 {verdict['console_latency_p99_ms']} ms (target 60), "
        f"{verdict['console_onsets_lost']} of {verdict['console_onsets_expected']} bursts lost, "
        f"monitoring adds {report['extra_cpu_cores']} cores: "
        f"{'met' if verdict['met'] else 'NOT MET'}"
    )
    _progress(f"wrote {path} and {out / 'dispatch.png'}")
    return 0 if verdict["met"] else 1


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def _conference(args: argparse.Namespace, out: Path) -> int:
    benchmark = conferencebench.ConferenceBenchmark(
        participants=args.participants,
        steps=[int(n) for n in args.steps.split(",") if n],
        viewers=[int(n) for n in args.viewers.split(",") if n],
        probes=args.probes,
        source_size=_size(args.size),
        picture_size=_size(args.picture),
        fps=args.fps,
        seconds=args.seconds,
        step_seconds=args.step_seconds,
        switches=args.switches,
        audio_legs=args.audio_legs,
        workers=args.workers,
    )
    report = _report_of("conference", benchmark) | conferencebench.run(benchmark, _progress)
    path = _write(out, "conference", report)
    conference_plot(
        report,
        f"mediacore conference: {benchmark.participants} participants "
        f"{args.size}@{args.fps} -> composed {args.picture}",
        out / "conference.png",
    )
    met, g = report["met"], report["glass_to_glass_ms"]

    def verdict(key: str) -> str:
        return "met" if met[key] else "NOT MET"

    _progress(
        f"glass-to-glass p50 {g['p50']} p99 {g['p99']} ms (target p99 <= 200: "
        f"{verdict('glass_to_glass_p99')}); {report['frames_on_time_percent']} % of frames on "
        f"time (>= 99: {verdict('frames_on_time')}); late audio ticks "
        f"{report['late_audio_ticks_percent']} % (<= 0.1: {verdict('late_audio_ticks')}); "
        f"layout switch max {report['switches']['max_ms']} ms (<= 200: "
        f"{verdict('layout_switch')}); {report['encodes_per_second']} encodes/s, server "
        f"{report['server']['cores']} cores, other processes "
        f"{report['machine']['other_cores']} cores; own variants "
        f"{report['own_variants']['found']} of {report['own_variants']['expected']}"
    )
    for row in report["steps"]:
        _progress(
            f"  {row['participants']:>2} participants + {row['viewers']} viewers: "
            f"{row['encodes_per_second']} encodes/s ({row['variants']} variants)"
        )
    _progress(f"wrote {path} and {out / 'conference.png'}")
    return 0 if report["passed"] else 1


def _fuzz(args: argparse.Namespace, out: Path) -> int:
    benchmark = fuzzbench.FuzzBenchmark(
        runs=args.runs,
        targets=[name for name in args.targets.split(",") if name],
        hang_seconds=args.hang_seconds,
        max_seconds=args.max_seconds,
        nice=args.nice,
        seed=args.seed,
        jobs=args.jobs,
    )
    report = _report_of("fuzz", benchmark) | fuzzbench.run(benchmark, _progress)
    path = _write(out, "fuzz", report)
    fuzz_plot(
        report,
        f"mediacore parsers under atheris (libFuzzer), {benchmark.runs:,} inputs each",
        out / "fuzz.png",
    )
    print(fuzzbench.table(report))
    _progress(f"wrote {path} and {out / 'fuzz.png'}")
    return 0 if report["passed"] else 1


# The commands that start what they measure themselves (latency and capacity share a target).
_COMMANDS: dict[str, Callable[[argparse.Namespace, Path], int]] = {
    "compare-janus": _compare_janus,
    "sip": _sip,
    "radio": _radio,
    "record": _record,
    "webrtc": _webrtc,
    "wall": _wall,
    "workers": _workers,
    "failover": _failover,
    "cluster": _cluster,
    "fuzz": _fuzz,
    "dispatch": _dispatch,
    "conference": _conference,
}


if __name__ == "__main__":
    sys.exit(main())
