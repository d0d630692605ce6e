"""`bench fuzz`: every parser under coverage-guided mutation, one process per parser.

Each target of bench/fuzztargets.py runs in `python -m bench.fuzzrun` (atheris: libFuzzer's
mutation steered by the branches each input reaches), niced and bounded in time. From each
run this reads libFuzzer's status lines (inputs run, edges covered: the coverage curve) and the
run's report (crashes with their inputs, hangs, progress). Reported per parser: inputs, crashes
(distinct and total), hangs, edges covered, inputs per second, and the coverage curve."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.fuzztargets import targets

STATUS = re.compile(r"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+) corp: (\d+)")
EXECUTED = re.compile(r"^stat::number_of_executed_units:\s+(\d+)")
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class FuzzBenchmark:
    runs: int = 100_000  # inputs per parser
    targets: list[str] = field(default_factory=list)  # empty: all
    hang_seconds: float = 1.0
    max_seconds: int = 1800  # per parser
    nice: int = 10
    seed: int = 1
    jobs: int = 1  # parsers fuzzed at once, one process each


def run(benchmark: FuzzBenchmark, progress: Callable[[str], None]) -> dict[str, Any]:
    """Fuzz every chosen target in turn; the report's "parsers" has one entry each."""
    known = targets()
    chosen = benchmark.targets or list(known)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise ValueError(f"no fuzz target {', '.join(unknown)} (known: {', '.join(known)})")
    work = Path(tempfile.mkdtemp(prefix="mediacore-fuzz-"))

    def fuzz(name: str) -> dict[str, Any]:
        target = known[name]
        progress(f"bench fuzz: {name} ({target.title}), {benchmark.runs} inputs")
        entry = run_target(name, benchmark, work / name, progress)
        return {"title": target.title, "allowed": target.allowed, **entry}

    with ThreadPoolExecutor(max(1, benchmark.jobs)) as pool:
        parsers = dict(zip(chosen, pool.map(fuzz, chosen), strict=True))
    progress(f"corpora, crash inputs and libFuzzer's artifacts are in {work}")
    return {"parsers": parsers, "passed": passed(parsers, benchmark)}


def passed(parsers: dict[str, dict[str, Any]], benchmark: FuzzBenchmark) -> bool:
    return all(
        entry["crashes"] == 0 and entry["hangs"] == 0 and entry["inputs"] >= benchmark.runs
        for entry in parsers.values()
    )


def run_target(
    name: str, benchmark: FuzzBenchmark, folder: Path, progress: Callable[[str], None]
) -> dict[str, Any]:
    folder.mkdir(parents=True)
    report = folder / "report.jsonl"
    command = [
        sys.executable,
        "-m",
        "bench.fuzzrun",
        name,
        f"--runs={benchmark.runs}",
        f"--report={report}",
        f"--corpus={folder / 'corpus'}",
        f"--hang-seconds={benchmark.hang_seconds}",
        f"--max-seconds={benchmark.max_seconds}",
        f"--every={max(100, benchmark.runs // 20)}",
        f"--seed={benchmark.seed}",
    ]
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, paths))}
    started = time.monotonic()
    curve: list[tuple[int, int]] = []
    executed = 0
    tail: list[str] = []
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env=env,
        cwd=ROOT,
        preexec_fn=(lambda: os.nice(benchmark.nice)) if benchmark.nice else None,
    )
    assert process.stderr is not None
    next_note = benchmark.runs // 5
    try:
        for line in process.stderr:
            tail = (tail + [line.rstrip()])[-20:]
            status = STATUS.match(line)
            if status:
                inputs, cov = int(status.group(1)), int(status.group(3))
                if not curve or curve[-1][1] != cov:  # a point where coverage grew
                    curve.append((inputs, cov))
                if inputs >= next_note:
                    progress(f"  {name}: {inputs} inputs, {cov} edges covered")
                    next_note += benchmark.runs // 5
            elif match := EXECUTED.match(line):
                executed = int(match.group(1))
        code = process.wait(timeout=benchmark.max_seconds + 120)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait()
    seconds = time.monotonic() - started
    lines = (
        [json.loads(text) for text in report.read_text().splitlines()] if report.exists() else []
    )
    crashes = [line for line in lines if line["kind"] == "crash"]
    hangs = [line for line in lines if line["kind"] == "hang"]
    progress_lines = [line for line in lines if line["kind"] == "progress"]
    last = progress_lines[-1] if progress_lines else {}
    inputs = max(executed, last.get("inputs", 0))
    killed = code != 0  # libFuzzer's watchdog (an endless loop) or out of memory
    entry = {
        "inputs": inputs,
        "crashes": last.get("crashes", len(crashes)) if not killed else len(crashes) + 1,
        "distinct_crashes": crashes,
        "hangs": len(hangs) + (1 if killed and _timed_out(tail) else 0),
        "slow_inputs": hangs,
        "coverage_edges": curve[-1][1] if curve else 0,
        "coverage_curve": curve,
        "seconds": round(seconds, 1),
        "inputs_per_second": round(inputs / seconds, 1) if seconds else None,
        "exit": code,
        "progress": progress_lines,
    }
    if killed:
        entry["libfuzzer_tail"] = tail
    progress(
        f"  {name}: {inputs} inputs in {seconds:.0f} s, {entry['coverage_edges']} edges, "
        f"{entry['crashes']} crashes ({len(crashes)} distinct), {entry['hangs']} hangs"
    )
    for crash in crashes:
        progress(f"    crash {crash['key']}: {crash['error']}")
    return entry


def _timed_out(tail: list[str]) -> bool:
    return any("ERROR: libFuzzer: timeout" in line for line in tail)


def crash_inputs(report: dict[str, Any]) -> list[tuple[str, bytes]]:
    """(parser, input) of every distinct crash in a report: the regression vectors."""
    return [
        (name, base64.b64decode(crash["input"]))
        for name, entry in report["parsers"].items()
        for crash in entry["distinct_crashes"]
    ]


def table(report: dict[str, Any]) -> str:
    """The summary table: one row per parser."""
    rows = [("parser", "inputs", "crashes", "hangs", "edges", "inputs/s", "s")]
    for name, entry in report["parsers"].items():
        rows.append(
            (
                name,
                str(entry["inputs"]),
                str(entry["crashes"]),
                str(entry["hangs"]),
                str(entry["coverage_edges"]),
                f"{entry['inputs_per_second']:.0f}",
                f"{entry['seconds']:.0f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )
