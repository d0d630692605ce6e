"""One fuzz target under atheris (libFuzzer's coverage-guided mutation), in a process of its own.

    python -m bench.fuzzrun TARGET --runs N --report FILE --corpus DIR

libFuzzer owns the process and exits it when done, so `bench fuzz` runs one of these per target
and reads two things back: libFuzzer's status lines on stderr (inputs run, edges covered) and
FILE, JSON lines this process appends as it goes: a "crash" line for the first input of each
distinct crash (exception type and where it was raised), a "hang" line for each input that took
longer than --hang-seconds, and a "progress" line every --every inputs. A crash does not stop the
run: the harness records it and goes on, so one run counts every distinct crash."""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.fuzzjson import json_mutator
from bench.fuzztargets import Check, targets

PROJECT = ("mediacore", "sip", "radio", "webrtc", "ingest", "mixer", "recorder")


class Recorder:
    """Runs the check on each input; writes crashes, hangs and progress to the report."""

    def __init__(self, report: Path, hang_seconds: float, every: int) -> None:
        self.report = report.open("a", buffering=1)
        self.hang_seconds = hang_seconds
        self.every = every
        self.inputs = 0
        self.crashes = 0
        self.hangs = 0
        self.distinct: set[str] = set()
        self.started = time.monotonic()

    def run(self, check: Check, data: bytes) -> None:
        began = time.perf_counter()
        try:
            check(data)
        except Exception as error:  # anything the parser does not document is a crash
            self._crash(error, data)
        took = time.perf_counter() - began
        self.inputs += 1
        if took > self.hang_seconds:
            self.hangs += 1
            self._write({"kind": "hang", "seconds": round(took, 3), "input": _b64(data)})
        if self.inputs % self.every == 0:
            self._write(
                {
                    "kind": "progress",
                    "inputs": self.inputs,
                    "crashes": self.crashes,
                    "distinct_crashes": len(self.distinct),
                    "hangs": self.hangs,
                    "seconds": round(time.monotonic() - self.started, 2),
                }
            )

    def _crash(self, error: Exception, data: bytes) -> None:
        self.crashes += 1
        where = _raised_at(error.__traceback__)
        key = f"{type(error).__name__} at {where}"
        if key in self.distinct:
            return
        self.distinct.add(key)
        self._write(
            {
                "kind": "crash",
                "key": key,
                "error": f"{type(error).__name__}: {str(error)[:300]}",
                "at_input": self.inputs + 1,
                "input": _b64(data),
                "traceback": "".join(traceback.format_exception(error)[-6:])[-3000:],
            }
        )

    def _write(self, line: dict[str, Any]) -> None:
        self.report.write(json.dumps(line) + "\n")


def _raised_at(tb: TracebackType | None) -> str:
    """The innermost frame of the project's own code: the place a fix goes."""
    where = "?"
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__", "")
        if name.split(".")[0] in PROJECT:
            where = f"{name}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _dictionary_entry(token: bytes) -> str:
    """One line of a libFuzzer dictionary: the token quoted, bytes outside ASCII as \\xNN."""
    escaped = "".join(
        chr(byte) if 32 <= byte < 127 and byte not in b'"\\' else f"\\x{byte:02x}" for byte in token
    )
    return f'"{escaped}"'


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.fuzzrun")
    parser.add_argument("target")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--report", required=True, help="JSON lines: crashes, hangs, progress")
    parser.add_argument("--corpus", required=True, help="folder: seeds in, new inputs out")
    parser.add_argument("--hang-seconds", type=float, default=1.0)
    parser.add_argument("--max-seconds", type=int, default=1800, help="libFuzzer's time bound")
    parser.add_argument("--every", type=int, default=1000, help="inputs between progress lines")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    import atheris

    target = targets()[args.target]
    # Only what is imported inside this block is instrumented: the target imports its parser
    # in make(), so its branches are the coverage libFuzzer steers by.
    with atheris.instrument_imports(include=list(target.packages)):
        check, seeds = target.make()
    corpus = Path(args.corpus)
    corpus.mkdir(parents=True, exist_ok=True)
    for index, seed in enumerate(seeds):
        (corpus / f"seed-{index}").write_bytes(seed)
    recorder = Recorder(Path(args.report), args.hang_seconds, args.every)
    options = []
    extra = {}
    if target.json_prefix is not None:
        extra["custom_mutator"] = json_mutator(target.json_prefix, target.dictionary)
    if target.dictionary:
        dictionary = corpus.parent / f"{target.name}.dict"
        dictionary.write_text(
            "".join(f"{_dictionary_entry(token)}\n" for token in target.dictionary)
        )
        options.append(f"-dict={dictionary}")
    atheris.Setup(
        [
            sys.argv[0],
            *options,
            f"-runs={args.runs}",
            f"-max_len={target.max_len}",
            f"-seed={args.seed}",
            f"-max_total_time={args.max_seconds}",
            # libFuzzer's own watchdog only for a real endless loop: slow inputs are counted above
            f"-timeout={max(10, int(args.hang_seconds * 10))}",
            "-rss_limit_mb=3072",
            "-print_final_stats=1",
            f"-artifact_prefix={corpus}/",
            str(corpus),
        ],
        lambda data: recorder.run(check, data),
        **extra,
    )
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
