"""`bench conference`: video participants in one conference, each receiving its composed
picture, measured from outside the server.

1. Cameras: a stamped loop per participant (`bench.wallstamp`, encoded once like an IP
   camera's 720p30 stream by `bench.wallsource`, cached), each sent by a participant process of
   its own (`bench.conferencepeers`: an aiortc peer joined over the signalling socket as a
   browser is, with a microphone of low noise) on a clock of its own.
2. A server (started here) with one room whose `video` setting is a grid at the picture size
   and rate; a few plain RTP audio legs (`bench.loadprocs`, one talker) in the same room, so
   the room's audio clock is loaded and watched.
3. Participants join in steps (`steps`, e.g. 1, 3, 9): at each step the room's encodes per
   second (its `composed.encodes` counter over `step_seconds`) and the server's CPU.
4. At the full count, every participant receives its composed picture (itself left out);
   every receiver times each picture's arrival from RTP (no decoding), and `probes` of them
   decode every picture and read the stamps of the cameras it shows. Measured for
   `seconds`: glass-to-glass (a camera frame's hand-over to aiortc -> arrival of the first
   composed picture showing it, `bench.wallstats.latency`) on the probes, frames on time
   (`bench.wallstats.timing`) on every receiver, the room clock's late ticks, the server's
   CPU (whole process tree), the machine's load.
5. Layout switches: the layout PATCHed `switches` times, alternating between a custom layout
   (participant 0's camera alone in the picture's centre) and the grid; per probe, the time
   from the PATCH to the arrival of the first picture showing the new layout.
6. Pure viewers (peers without a camera, not in the picture) join in steps too: the encodes
   per second stay flat as they share the room's common picture.

Targets: glass-to-glass p99 <= 200 ms, >= 99 % of frames on time, late audio ticks <= 0.1 %,
every layout switch at every probe within 200 ms."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.conferencestats import (
    CENTRE_TILE,
    centre_layout,
    grid_tiles,
    layout_shown,
    switch_latencies,
    tile_sources,
)
from bench.loadprocs import start_load, stop_load
from bench.scenario import machine_busy
from bench.serverproc import TOKEN, ServerProcess, own_cpu_seconds
from bench.wallbench import Child, WallSampler
from bench.wallrecv import READ_RECORD
from bench.wallsend import SEND_RECORD
from bench.wallsource import PRESET, LoopSpec, cache_folder, prepare_loops
from bench.wallstats import latency, percentiles, thin, timing

ROOM = "bench-conference"
LOOP_SECONDS = 4  # far longer than any latency: a stamp names one frame; short to encode
READY_TIMEOUT_S = 60.0
SETTLE_S = 2.0
SWITCH_GAP_S = 1.5
SERIES_POINTS = 400
TARGET_P99_MS = 200.0
TARGET_ON_TIME_PERCENT = 99.0
TARGET_LATE_TICKS_PERCENT = 0.1
TARGET_SWITCH_MS = 200.0

Progress = Callable[[str], None]


@dataclass
class ConferenceBenchmark:
    participants: int = 9
    steps: list[int] = field(default_factory=lambda: [1, 3, 6, 9])
    viewers: list[int] = field(default_factory=lambda: [1, 3])
    probes: int = 3
    source_size: tuple[int, int] = (1280, 720)
    picture_size: tuple[int, int] = (1280, 720)
    fps: int = 30
    seconds: float = 20.0
    step_seconds: float = 4.0
    switches: int = 4
    audio_legs: int = 4
    workers: int | None = None  # the server's default (one media worker per core)


def _check(benchmark: ConferenceBenchmark) -> None:
    if not 1 <= benchmark.participants <= 31:
        raise ValueError("bench conference takes 1 to 31 participants")
    if any(not 1 <= s <= benchmark.participants for s in benchmark.steps):
        raise ValueError("every step is a participant count from 1 to --participants")
    if benchmark.seconds < 1 or benchmark.step_seconds < 0.5:
        raise ValueError("bench conference needs --seconds >= 1 and --step-seconds >= 0.5")


def run(benchmark: ConferenceBenchmark, progress: Progress) -> dict[str, Any]:
    """The whole run on a fresh server; the report's body. Stops every process it started."""
    _check(benchmark)
    steps = sorted({*benchmark.steps, benchmark.participants})
    width, height = benchmark.source_size
    frames = benchmark.fps * LOOP_SECONDS
    specs = [LoopSpec(i, width, height, benchmark.fps, frames) for i in range(max(steps))]
    progress(
        f"bench conference: {benchmark.participants} participants sending {width}x{height}"
        f"@{benchmark.fps}, each receiving {benchmark.picture_size[0]}x"
        f"{benchmark.picture_size[1]}; encoding the camera loops once (cached in "
        f"{cache_folder()})"
    )
    loops = prepare_loops(specs)
    work = Path(tempfile.mkdtemp(prefix="mediacore-bench-conference-"))
    server = ServerProcess(
        work / "data",
        workers=benchmark.workers,
        ready_timeout=READY_TIMEOUT_S,  # a shared, busy machine starts it slowly
        MEDIACORE_SERVER_LOG_LEVEL="warning",
    )
    peers: list[Child] = []
    loaders: list[Any] = []
    try:
        video = _video(benchmark, {"kind": "grid"})
        server.client.post("/api/v1/rooms", json={"name": ROOM, "video": video}).raise_for_status()
        loaders = start_load(
            server, ROOM, benchmark.audio_legs, talkers=1, ptime=20, duration=24 * 3600,
            progress=progress,
        )  # fmt: skip
        body = _conference(benchmark, server, loops, steps, peers, work, progress)
    except BaseException:
        progress(f"  failed; the logs are in {work}")
        _stop_peers(peers)
        stop_load(loaders)
        server.stop()
        raise
    summaries = _stop_peers(peers)
    stop_load(loaders)
    server_exit = server.stop()
    body = _figures(benchmark, body, summaries, work, frames)
    body["server_exit"] = server_exit
    body["logs"] = str(work) if server_exit != 0 else None
    if server_exit == 0 and not os.environ.get("MEDIACORE_BENCH_KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    return body


def _video(benchmark: ConferenceBenchmark, layout: dict[str, Any]) -> dict[str, Any]:
    """The room's whole `video` setting (a PATCH replaces it: what it leaves out is default)."""
    width, height = benchmark.picture_size
    return {"layout": layout, "width": width, "height": height, "fps": benchmark.fps}


def peer_name(index: int, source: int | None) -> str:
    return f"cam-{index:02d}" if source is not None else f"viewer-{index:02d}"


def _spawn(
    server: ServerProcess,
    benchmark: ConferenceBenchmark,
    name: str,
    source: int | None,
    loops: list[Path],
    work: Path,
) -> Child:
    job = {
        "url": server.url,
        "token": TOKEN,
        "room": ROOM,
        "name": name,
        "source": source,
        "loop": str(loops[source]) if source is not None else None,
        "fps": benchmark.fps,
        "sources": benchmark.participants,
        "probe": source is not None and source < benchmark.probes,
        "reads": str(work / f"reads-{name}.bin"),
        "sends": str(work / f"sends-{name}.bin"),
    }
    child = Child([sys.executable, "-m", "bench.conferencepeers"], work / f"{name}.log")
    child.send(json.dumps(job))
    return child


def _join(
    server: ServerProcess,
    benchmark: ConferenceBenchmark,
    sources: list[int | None],
    loops: list[Path],
    peers: list[Child],
    work: Path,
) -> list[str]:
    """Start a peer per entry (a camera's source number, None for a viewer); their ids."""
    started = []
    for source in sources:
        name = peer_name(len(peers), source)
        started.append(_spawn(server, benchmark, name, source, loops, work))
        peers.append(started[-1])
    ids = [json.loads(peer.expect("ready", READY_TIMEOUT_S))["participant"] for peer in started]
    for peer in started:  # the composed picture arrives
        while json.loads(peer.expect("progress", READY_TIMEOUT_S))["units"] == 0:
            pass
    return [str(i) for i in ids]


def _room(server: ServerProcess) -> dict[str, Any]:
    response = server.client.get(f"/api/v1/rooms/{ROOM}", timeout=30)
    response.raise_for_status()
    return dict(response.json())


def _step(
    server: ServerProcess, participants: int, viewers: int, seconds: float, progress: Progress
) -> dict[str, Any]:
    """Encodes per second and server CPU over `seconds`, after SETTLE_S."""
    time.sleep(SETTLE_S)
    before, cpu, began = _room(server), server.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    after, used, elapsed = _room(server), server.cpu_seconds(), time.monotonic() - began
    composed = after.get("composed", {})
    encodes = composed.get("encodes", 0) - before.get("composed", {}).get("encodes", 0)
    row = {
        "participants": participants,
        "viewers": viewers,
        "encodes_per_second": round(encodes / elapsed, 2),
        "encodes_per_second_server": composed.get("encodes_per_second"),
        "variants": len(composed.get("variants", [])),
        "variant_names": composed.get("variants", []),
        "server_cores": round((used - cpu) / elapsed, 3),
    }
    progress(
        f"  {participants} participants + {viewers} viewers: {row['encodes_per_second']} "
        f"encodes/s over {row['variants']} variants, server {row['server_cores']} cores"
    )
    return row


def _conference(
    benchmark: ConferenceBenchmark,
    server: ServerProcess,
    loops: list[Path],
    steps: list[int],
    peers: list[Child],
    work: Path,
    progress: Progress,
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    ids: list[str] = []
    for count in steps:
        progress(f"  joining participants {len(ids)}..{count - 1}")
        ids += _join(server, benchmark, list(range(len(ids), count)), loops, peers, work)
        rows.append(_step(server, count, 0, benchmark.step_seconds, progress))
    cameras = list(peers)
    probes = cameras[: benchmark.probes]
    source_w, source_h = benchmark.source_size
    picture_w, picture_h = benchmark.picture_size
    tiles = grid_tiles(len(cameras) - 1, picture_w, picture_h, source_w, source_h)
    for probe in probes:
        probe.send("tiles " + json.dumps(tiles))
    warmup = min(SETTLE_S, benchmark.seconds)
    progress(f"  {len(probes)} probe(s) reading stamps; warming up {warmup:.0f} s")
    time.sleep(warmup)
    window = _measure(benchmark, server, peers, progress)
    switches = _switch(benchmark, server, ids[0], progress)
    for count in benchmark.viewers:
        have = len(peers) - len(cameras)
        if count > have:
            progress(f"  joining {count - have} pure viewer(s)")
            _join(server, benchmark, [None] * (count - have), loops, peers, work)
        rows.append(_step(server, len(cameras), count, benchmark.step_seconds, progress))
    return {
        "steps": rows,
        "window": window,
        "switches": switches,
        "participant_ids": ids,
        "cameras": len(cameras),
    }


def _measure(
    benchmark: ConferenceBenchmark, server: ServerProcess, peers: list[Child], progress: Progress
) -> dict[str, Any]:
    pids = [peer.process.pid for peer in peers]
    with WallSampler(server.process.pid, pids) as sampler:
        sampler.phase = "measuring"
        room_a, cpu_a, machine_a = _room(server), server.cpu_seconds(), machine_busy()
        clients_a = sum(own_cpu_seconds(pid) for pid in pids)
        load = os.getloadavg()[0]
        start, began = time.time(), time.monotonic()
        progress(f"  measuring {benchmark.seconds:.0f} s (load average {load:.2f})")
        time.sleep(benchmark.seconds)
        end, elapsed = time.time(), time.monotonic() - began
        room_b, cpu_b, machine_b = _room(server), server.cpu_seconds(), machine_busy()
        clients_b = sum(own_cpu_seconds(pid) for pid in pids)
        sampler.phase = "done"
    cpus = os.cpu_count() or 1
    busy = (machine_b[0] - machine_a[0]) / max(1.0, machine_b[1] - machine_a[1]) * cpus
    server_cores = round((cpu_b - cpu_a) / elapsed, 3)
    clients = round((clients_b - clients_a) / elapsed, 3)
    ticks = room_b["clock"]["ticks"] - room_a["clock"]["ticks"]
    late = room_b["clock"]["late_ticks"] - room_a["clock"]["late_ticks"]
    composed_a, composed_b = room_a.get("composed", {}), room_b.get("composed", {})
    rss = [s["rss_mb"] for s in sampler.samples if s["phase"] == "measuring"]
    return {
        "start": start,
        "end": end,
        "server": {"cores": server_cores, "rss_mb_max": max(rss) if rss else None},
        "clients_cores": clients,
        "clock": {
            "ticks": ticks,
            "late_ticks": late,
            "late_percent": round(100 * late / ticks, 3) if ticks else None,
            "skipped_ticks": room_b["clock"]["skipped_ticks"] - room_a["clock"]["skipped_ticks"],
        },
        "encodes_per_second": round(
            (composed_b.get("encodes", 0) - composed_a.get("encodes", 0)) / elapsed, 2
        ),
        "variants": composed_b.get("variants", []),
        "machine": {
            "cpus": cpus,
            "busy_cores": round(busy, 3),
            "other_cores": round(max(0.0, busy - server_cores - clients), 3),
            "load_average_1m": [round(load, 2), round(os.getloadavg()[0], 2)],
        },
        "samples": sampler.samples,
    }


def _switch(
    benchmark: ConferenceBenchmark, server: ServerProcess, first: str, progress: Progress
) -> list[tuple[float, str]]:
    """PATCH the layout `switches` times, centre and grid in turn; (time asked, layout)."""
    picture_w, picture_h = benchmark.picture_size
    asked: list[tuple[float, str]] = []
    for i in range(benchmark.switches):
        kind = "centre" if i % 2 == 0 else "grid"
        grid = {"kind": "grid"}
        layout = centre_layout(first, picture_w, picture_h) if kind == "centre" else grid
        video = _video(benchmark, layout)
        at = time.time()
        response = server.client.patch(f"/api/v1/rooms/{ROOM}", json={"video": video})
        response.raise_for_status()
        asked.append((at, kind))
        time.sleep(SWITCH_GAP_S)
    progress(f"  {len(asked)} layout switch(es) asked")
    return asked


def _stop_peers(peers: list[Child]) -> list[dict[str, Any] | None]:
    summaries: list[dict[str, Any] | None] = []
    for peer in peers:
        if peer.process.stdin is not None:
            try:
                peer.process.stdin.close()
            except OSError:
                pass
    for peer in peers:
        try:
            summaries.append(json.loads(peer.expect("done", 20)))
        except (RuntimeError, ValueError):
            summaries.append(None)
        peer.stop()
    return summaries


def _records(path: Path, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    if not path.exists():
        return np.zeros(0, dtype=dtype)
    data = path.read_bytes()
    return np.frombuffer(data[: len(data) - len(data) % dtype.itemsize], dtype=dtype)


def _figures(
    benchmark: ConferenceBenchmark,
    body: dict[str, Any],
    summaries: list[dict[str, Any] | None],
    work: Path,
    loop_frames: int,
) -> dict[str, Any]:
    window = body.pop("window")
    start, end = window["start"], window["end"]
    asked = body.pop("switches")
    names = [peer_name(i, 0 if i < body["cameras"] else None) for i in range(len(summaries))]
    sends = np.concatenate(
        [_records(p, SEND_RECORD) for p in sorted(work.glob("sends-*.bin"))]
        or [np.zeros(0, dtype=SEND_RECORD)]
    )
    receivers, values, series, switch_rows = [], [], [], []
    for name, summary in zip(names, summaries, strict=True):
        reads = _records(work / f"reads-{name}.bin", READ_RECORD)
        frames = timing(reads, fps=benchmark.fps, start=start, end=end)
        row: dict[str, Any] = {
            "name": name,
            "camera": name.startswith("cam-"),
            "probe": bool(summary and summary.get("frames_decoded")),
            "frames": {k: v for k, v in frames.items() if k != "series"},
            "client": summary,
        }
        if row["probe"]:
            grid = reads[reads["tile"] != CENTRE_TILE]  # the switches come after the window
            lat = latency(
                grid,
                sends,
                loop_frames=loop_frames,
                tile_sources=tile_sources(grid),
                start=start,
                end=end,
            )
            row["latency"] = {k: v for k, v in lat.items() if k not in ("series", "cdf_ms")}
            values += [ms for _, ms, _ in lat["series"]]
            series += [(t, ms, name) for t, ms, _ in lat["series"]]
            took = switch_latencies(layout_shown(reads), asked)
            row["switch_ms"] = took
            switch_rows.append({"receiver": name, "switch_ms": took})
        receivers.append(row)
    return _verdict(benchmark, body, window, receivers, values, series, switch_rows, asked)


def _verdict(
    benchmark: ConferenceBenchmark,
    body: dict[str, Any],
    window: dict[str, Any],
    receivers: list[dict[str, Any]],
    values: list[float],
    series: list[tuple[float, float, str]],
    switch_rows: list[dict[str, Any]],
    asked: list[tuple[float, str]],
) -> dict[str, Any]:
    glass = percentiles(values)
    measured = [r for r in receivers if r["camera"]]
    expected = sum(r["frames"]["expected_frames"] or 0 for r in measured)
    on_time = sum(
        (r["frames"]["expected_frames"] or 0) * r["frames"]["on_time_percent"] / 100
        for r in measured
    )
    on_time_percent = round(100 * on_time / expected, 3) if expected else 0.0
    worst = min((r["frames"]["on_time_percent"] for r in measured), default=0.0)
    took = [ms for row in switch_rows for ms in row["switch_ms"]]
    switch_max = None if not took or None in took else max(v for v in took if v is not None)
    late = window["clock"]["late_percent"]
    viewers = [r for r in body["steps"] if r["viewers"]]
    # flat: more viewers, no more variants (on a starved machine the rates themselves wander
    # with what the video process gets; the variants say what it is asked to encode)
    flat = len({r["variants"] for r in viewers}) == 1 if len(viewers) > 1 else None
    met = {
        "glass_to_glass_p99": glass["p99"] is not None and glass["p99"] <= TARGET_P99_MS,
        "frames_on_time": on_time_percent >= TARGET_ON_TIME_PERCENT,
        "late_audio_ticks": late is not None and late <= TARGET_LATE_TICKS_PERCENT,
        "layout_switch": switch_max is not None and switch_max <= TARGET_SWITCH_MS,
    }
    width, height = benchmark.source_size
    own = [v for v in window["variants"] if "-p-" in v]
    return {
        **body,
        # every participant sees the others without itself: one variant each, else the
        # server left someone's camera out (a finding, not a bench error)
        "own_variants": {"expected": body["cameras"], "found": len(own)},
        "sources": {
            "codec": "H.264",
            "x264_preset": PRESET,
            "tune": "zerolatency",
            "gop_s": 1,
            "size": [width, height],
            "fps": benchmark.fps,
            "bitrate_target": LoopSpec(0, width, height, benchmark.fps, 1).bitrate,
            "sent_by": "aiortc peers (signalling socket, as browsers), pre-encoded loops packed "
            "by aiortc, one process per participant",
        },
        "receiving": {
            "all": "every receiver times each composed picture's arrival from RTP (marker "
            "packet, taken after SRTP before aiortc's jitter buffer); nothing decoded",
            "probes": f"the first {benchmark.probes} participants also decode every picture "
            "and read the stamps (glass-to-glass, layout switches)",
        },
        "picture": {
            "size": list(benchmark.picture_size),
            "fps": benchmark.fps,
            "variants": window["variants"],
        },
        "seconds": round(window["end"] - window["start"], 2),
        "glass_to_glass_ms": glass,
        "frames_on_time_percent": on_time_percent,
        "frames_on_time_worst_receiver_percent": worst,
        "late_audio_ticks_percent": late,
        "clock": window["clock"],
        "server": window["server"],
        "clients_cores": window["clients_cores"],
        "machine": window["machine"],
        "encodes_per_second": window["encodes_per_second"],
        "encodes_flat_in_viewers": flat,
        "switches": {
            "asked": [kind for _, kind in asked],
            "per_probe": switch_rows,
            "max_ms": switch_max,
        },
        "receivers": receivers,
        "series": {
            "glass_to_glass": thin(sorted(series), SERIES_POINTS),
            "server": window["samples"],
        },
        "targets": {
            "glass_to_glass_p99_ms": TARGET_P99_MS,
            "frames_on_time_percent": TARGET_ON_TIME_PERCENT,
            "late_audio_ticks_percent": TARGET_LATE_TICKS_PERCENT,
            "layout_switch_ms": TARGET_SWITCH_MS,
        },
        "met": met,
        "passed": all(met.values()),
    }
