"""`bench record`: what recording every track of a loaded room costs the server.

One server (started here), one room loaded with N plain RTP legs from `bench.loadgen`
processes (a few talkers sending tone bursts, the rest sending silence packets: every leg sends
a packet every 20 ms, so every participant track gets a real frame each tick).

1. Baseline: the server's CPU (cores) and RSS over W seconds, not recording.
2. Recording: `POST /rooms/{room}/recordings`, the same W seconds, then
   `POST /recordings/{id}/stop`, timed on its own: the stop closes the tracks and derives the
   48 kHz twins of the 8 kHz tracks, so it is reported apart, not in the extra CPU.
   Extra CPU = recording - baseline, in % of one core.
3. Dropped frames: the mixer tap appends one frame per participant (or a tick of silence) and
   one mix frame every tick it runs, so from the sealed manifest every participant track
   present from the start holds exactly `statistics.ticks_recorded` ticks, and so does the mix.
   Dropped = ticks a track lacks against the tap's ticks + the recording's `ticks_lost` (never
   written) + ticks the room clock skipped while recording (the tap never saw them). The wall
   clock check is reported too: each track's stop - start against its length, less the
   stop's tail common to every track.
4. Write throughput: audio bytes per second from the manifest (track sizes over the recorded
   ticks), and the server's /proc/<pid>/io write_bytes per second during each phase.
5. `GET /recordings/{id}/verify`, timed.

Target: extra CPU <= 15 % of one core, no dropped frame, verify ok."""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.loadprocs import LEGS_PER_PROCESS, start_load, stop_load
from bench.sampling import ProcessSampler, process_io
from bench.serverproc import ServerProcess, cpu_seconds

ROOM = "bench-record"
PTIME = 20
TALKERS = 4
SETTLE = 2.0  # seconds after the legs join: jitter buffers filled, every leg in the room
EXTRA_CPU_TARGET_PERCENT = 15.0
SLOW_CALL_TIMEOUT = 600.0  # the stop (200 twins) and the verify read hundreds of MB
# The load generators send until they are stopped; this bounds them if the bench dies hard.
LOAD_MARGIN = 900.0

Progress = Callable[[str], None]


@dataclass
class RecordBenchmark:
    legs: int = 200
    seconds: float = 20.0
    data_dir: str | None = None


@dataclass
class Mark:
    """The server at one instant: monotonic time, CPU seconds, /proc io and the room clock."""

    time: float
    cpu: float
    io: dict[str, int] | None
    clock: dict[str, Any]
    participants: int


class Sampler(ProcessSampler):
    """The server's CPU (cores), RSS and storage writes every half second, tagged by phase."""

    def rss(self, phase: str) -> dict[str, float | None]:
        values = [s["rss_mb"] for s in self.samples if s["phase"] == phase]
        return {
            "rss_mb_mean": round(sum(values) / len(values), 1) if values else None,
            "rss_mb_max": max(values, default=None),
        }


def run(benchmark: RecordBenchmark, progress: Progress) -> dict[str, Any]:
    """Start a server, load its room, measure both phases; the report's `baseline`,
    `recording`, `stop`, `frames`, `throughput`, `verify`, `server`, `load` parts and `passed`.
    Stops every process it started, also on errors."""
    if benchmark.legs < 1:
        raise ValueError("bench record needs at least one leg")
    temporary = benchmark.data_dir is None
    data = Path(benchmark.data_dir or tempfile.mkdtemp(prefix="mediacore-bench-record-"))
    data.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(
        data, rtp_ports=max(1000, (benchmark.legs + 8) * 4), MEDIACORE_SERVER_LOG_LEVEL="warning"
    )
    loaders: list[subprocess.Popen[str]] = []
    report: dict[str, Any] = {}
    try:
        created = server.client.post("/api/v1/rooms", json={"name": ROOM, "ptime": PTIME})
        created.raise_for_status()
        loaders = start_load(server, ROOM, benchmark.legs, talkers=TALKERS, ptime=PTIME,
                             duration=SETTLE + 2 * benchmark.seconds + LOAD_MARGIN,
                             progress=progress)  # fmt: skip
        with Sampler(server.process.pid) as sampler:
            report = _measure(benchmark, server, sampler, progress)
            report["samples"] = sampler.samples
        report["load"]["processes_alive"] = sum(p.poll() is None for p in loaders)
    finally:
        stop_load(loaders)
        report["server_exit"] = server.stop()
        report["server_log"] = str(server.log_path)
        if temporary:  # hundreds of MB of audio nobody asked to keep
            shutil.rmtree(data / "recordings", ignore_errors=True)
    return report


def _mark(server: ServerProcess) -> Mark:
    room = server.client.get(f"/api/v1/rooms/{ROOM}").json()
    pid = server.process.pid
    return Mark(time.monotonic(), cpu_seconds(pid), process_io(pid), room["clock"],
                room["participants"])  # fmt: skip


def _between(a: Mark, b: Mark) -> dict[str, Any]:
    """CPU, clock and storage writes of the server from mark `a` to mark `b`."""
    seconds = max(1e-6, b.time - a.time)
    found: dict[str, Any] = {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(b.cpu - a.cpu, 3),
        "cores": round((b.cpu - a.cpu) / seconds, 4),
        "ticks": b.clock["ticks"] - a.clock["ticks"],
        "late_ticks": b.clock["late_ticks"] - a.clock["late_ticks"],
        "skipped_ticks": b.clock["skipped_ticks"] - a.clock["skipped_ticks"],
        "max_lateness_ms_so_far": b.clock["max_lateness_ms"],
        "participants": b.participants,
    }
    if a.io is not None and b.io is not None:
        written = b.io["write_bytes"] - a.io["write_bytes"]
        found["write_bytes"] = written
        found["write_bytes_per_s"] = round(written / seconds)
        found["wchar_per_s"] = round((b.io["wchar"] - a.io["wchar"]) / seconds)
    return found


def _hold(seconds: float, label: str, server: ServerProcess, progress: Progress) -> None:
    """Sleep `seconds`, saying every 5 s how busy the server has been."""
    began, cpu = time.monotonic(), server.cpu_seconds()
    end = began + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(5.0, left))
        elapsed = time.monotonic() - began
        if end - time.monotonic() > 0.5:
            cores = (server.cpu_seconds() - cpu) / elapsed
            progress(f"  {label} {elapsed:.0f}/{seconds:.0f} s, {cores:.3f} cores")


def _measure(
    benchmark: RecordBenchmark, server: ServerProcess, sampler: Sampler, progress: Progress
) -> dict[str, Any]:
    time.sleep(SETTLE)
    seconds = benchmark.seconds
    sampler.phase = "baseline"
    progress(f"bench record: baseline, {seconds:.0f} s without recording")
    a0 = _mark(server)
    _hold(seconds, "baseline", server, progress)
    a1 = _mark(server)
    baseline = _between(a0, a1) | sampler.rss("baseline")
    progress(f"  baseline: {baseline['cores']:.3f} cores, {baseline['late_ticks']} late ticks")

    sampler.phase = "recording"
    progress(f"bench record: recording every track, {seconds:.0f} s")
    b0 = _mark(server)
    called = time.monotonic()
    started = server.client.post(f"/api/v1/rooms/{ROOM}/recordings")
    start_call = time.monotonic() - called
    started.raise_for_status()
    recording_id = started.json()["id"]
    _hold(seconds - (time.monotonic() - b0.time), "recording", server, progress)
    b1 = _mark(server)
    recording = _between(b0, b1) | sampler.rss("recording")
    recording["start_call_ms"] = round(start_call * 1000, 1)
    extra = round((recording["cores"] - baseline["cores"]) * 100, 2)
    progress(
        f"  recording: {recording['cores']:.3f} cores, extra {extra:.1f} % of a core "
        f"(target <= {EXTRA_CPU_TARGET_PERCENT:.0f} %), {recording['late_ticks']} late ticks"
    )

    sampler.phase = "stopping"
    progress("bench record: stopping (closing tracks, deriving 48 kHz twins)")
    called = time.monotonic()
    stopped = server.client.post(
        f"/api/v1/recordings/{recording_id}/stop", timeout=SLOW_CALL_TIMEOUT
    )
    stop_call = time.monotonic() - called
    stopped.raise_for_status()
    s1 = _mark(server)
    stop = _between(b1, s1) | sampler.rss("stopping")
    stop["call_s"] = round(stop_call, 3)
    progress(f"  stop took {stop_call:.2f} s at {stop['cores']:.3f} cores")

    sampler.phase = "verify"
    manifest = server.client.get(f"/api/v1/recordings/{recording_id}").json()
    called = time.monotonic()
    checked = server.client.get(
        f"/api/v1/recordings/{recording_id}/verify", timeout=SLOW_CALL_TIMEOUT
    )
    verify_call = time.monotonic() - called
    checked.raise_for_status()
    verdict = checked.json()
    verify = {
        "ok": bool(verdict["ok"]),
        "seconds": round(verify_call, 3),
        "problems": verdict["problems"][:20],
    }
    progress(f"  verify: ok={verify['ok']} in {verify_call:.2f} s")
    sampler.phase = "done"

    frames = dropped_frames(manifest)
    frames["clock_skipped_ticks"] = recording["skipped_ticks"] + stop["skipped_ticks"]
    frames["dropped_frames"] += frames["clock_skipped_ticks"]
    stop |= _twins(manifest)
    throughput = _throughput(manifest, frames, baseline, recording, stop)
    return {
        "recording_id": recording_id,
        "baseline": baseline,
        "recording": recording,
        "stop": stop,
        "extra_cpu_percent": extra,
        "frames": frames,
        "throughput": throughput,
        "verify": verify,
        "load": {
            "legs": benchmark.legs,
            "talkers": min(TALKERS, benchmark.legs),
            "processes": math.ceil(benchmark.legs / LEGS_PER_PROCESS),
            "participants_in_room": [a0.participants, s1.participants],
        },
        "targets": {"extra_cpu_percent": EXTRA_CPU_TARGET_PERCENT, "dropped_frames": 0},
        "passed": bool(
            extra <= EXTRA_CPU_TARGET_PERCENT and frames["dropped_frames"] == 0 and verify["ok"]
        ),
    }


def _time(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def dropped_frames(manifest: dict[str, Any]) -> dict[str, Any]:
    """Ticks missing from the sealed manifest's native-rate tracks (derived twins left out).

    The tap appends one frame per tick to the mix and to every participant track from the
    participant's first tick, so a track starting `k` ticks after the first should hold
    `ticks_recorded - k` ticks; fewer are dropped frames, as are the `ticks_lost`. The wall
    clock check: stop - start of each track against its length, in ticks, less the `tail`
    (from the last tick to the stop) that every track shares."""
    ptime = int(manifest["ptime"])
    statistics = manifest.get("statistics") or {}
    recorded = int(statistics.get("ticks_recorded", 0))
    stopped_at = _time(manifest["stopped_at"])
    tracks = [t for t in manifest["tracks"] if "derived_from" not in t]
    native = [t for t in tracks if t["kind"] == "participant"]
    mix = next(t for t in tracks if t["kind"] == "mix")

    def ticks(track: dict[str, Any]) -> int:
        return int(track["data_bytes"]) // (2 * int(track["rate"]) * ptime // 1000)

    first = min((_time(t["started_at"]) for t in native), default=_time(mix["started_at"]))
    tail_ms = (stopped_at - first) * 1000 - (recorded - 1) * ptime  # stop after the last tick
    missing: list[dict[str, Any]] = []
    wall_gaps = []
    for track in native:
        began = _time(track["started_at"])
        expected = recorded - round((began - first) * 1000 / ptime)
        have = ticks(track)
        wall_ticks = ((stopped_at - began) * 1000 - tail_ms) / ptime + 1
        wall_gaps.append(round(wall_ticks - have, 2))
        if have < expected:
            missing.append({"track": track["id"], "ticks": have, "expected": expected})
    lost = int(statistics.get("ticks_lost", 0))
    mix_short = max(0, recorded - ticks(mix))
    return {
        "ticks_recorded": recorded,
        "ticks_lost": lost,
        "participant_tracks": len(native),
        "mix_ticks": ticks(mix),
        "tracks_short": len(missing),
        "missing_ticks": sum(m["expected"] - m["ticks"] for m in missing),
        "short_tracks": missing[:20],
        "tail_ms": round(tail_ms, 1),
        # Wall span - length per track, in ticks, the common tail taken out: 0 +- 0.05 (ms).
        "wall_gap_ticks_max": max(wall_gaps, default=None),
        "wall_gap_ticks_min": min(wall_gaps, default=None),
        "dropped_frames": sum(m["expected"] - m["ticks"] for m in missing) + lost + mix_short,
    }


def _twins(manifest: dict[str, Any]) -> dict[str, Any]:
    twins = [t for t in manifest["tracks"] if "derived_from" in t]
    return {"twins": len(twins), "twin_bytes": sum(int(t["data_bytes"]) for t in twins)}


def _throughput(
    manifest: dict[str, Any],
    frames: dict[str, Any],
    baseline: dict[str, Any],
    recording: dict[str, Any],
    stop: dict[str, Any],
) -> dict[str, Any]:
    native = [t for t in manifest["tracks"] if "derived_from" not in t]
    audio = sum(int(t["data_bytes"]) for t in native)
    recorded_s = frames["ticks_recorded"] * int(manifest["ptime"]) / 1000
    statistics = manifest.get("statistics") or {}
    return {
        "tracks": len(native),
        "audio_bytes": audio,
        "recorded_seconds": recorded_s,
        "audio_bytes_per_s": round(audio / recorded_s) if recorded_s else None,
        "bytes_written": statistics.get("bytes_written"),
        # Bytes the server process sent to storage (/proc/<pid>/io); None where unreadable.
        "proc_write_bytes_per_s": {
            phase: part.get("write_bytes_per_s")
            for phase, part in (("baseline", baseline), ("recording", recording), ("stop", stop))
        },
    }
