"""The wall benchmark's cameras, live: each pre-encoded loop paced into its own RTMP relay.

Run as `python -m bench.wallsend CONFIG` (JSON: `loops` files, `fps`, `urls`, `log`,
`relay_log`). For each source an `ffmpeg -f h264 -i pipe:0 -c copy -f flv -listen 1 URL` relay
(stream copy: it never decodes) serves one RTMP client, the server; a thread per source writes
access unit n (frame n mod F of the loop) at t0 + phase + n * period (the source's own phase
and clock error, `source_drift`) and logs (source, n, time.time() once the write returned) to
`log`, a file of `SEND_RECORD` records appended every half second.

FFmpeg's raw H.264 reader only ends an access unit when it sees the next one begin, which
would hold every frame back a whole period; so each write carries the next unit's delimiter
(AUD) at its end, and the relay hands the frame on at once (measured: 0.4 ms median).

A writer more than `CATCH_UP_S` behind (its relay was blocked before the server connected)
jumps ahead to the next keyframe that is due, so the stream stays decodable and the schedule
honest. Prints `ready {"relays": [pids]}` once the relays run; stops on SIGTERM or when stdin
closes, after writing the log."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import av
import numpy as np

from bench.wallsource import AUD, load_loop
from ingest.puller import PROBE_OPTIONS

FFMPEG = "/usr/bin/ffmpeg"
# Camera clocks are not the wall's: source i runs up to DRIFT_PPM fast or slow (spread evenly
# over the sources) and starts at its own phase, so over a run every source's frames meet the
# wall's ticks at every phase, as real cameras' do, not at one fixed, lucky or unlucky phase.
DRIFT_PPM = 1000.0
SEND_RECORD = np.dtype([("source", "<i2"), ("n", "<i8"), ("t", "<f8")])
CATCH_UP_S = 0.5
FLUSH_S = 0.5


def source_drift(source: int, sources: int) -> float:
    """Source `source`'s clock error (a fraction): -DRIFT_PPM .. +DRIFT_PPM over the sources."""
    if sources < 2:
        return 0.0
    return DRIFT_PPM * 1e-6 * (2 * source / (sources - 1) - 1)


def relay_command(url: str, fps: int) -> list[str]:
    """The stream-copy relay: raw H.264 on stdin to one RTMP client."""
    return [
        FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin",
        "-probesize", "32", "-analyzeduration", "0", "-fflags", "+nobuffer+genpts",
        "-f", "h264", "-framerate", str(fps), "-i", "pipe:0",
        "-c", "copy", "-f", "flv", "-flush_packets", "1", "-listen", "1", url,
    ]  # fmt: skip


class Sender:
    """A relay and a writer thread per source; `run()` paces them until `stop` is set and
    appends every write to the log; `last_sent` has the latest write of each loop frame."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.fps = int(config["fps"])
        self.loops = [load_loop(Path(p)) for p in config["loops"]]
        self.urls: list[str] = list(config["urls"])
        self.log = Path(config["log"])
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: list[tuple[int, int, float]] = []
        self.last_sent: dict[tuple[int, int], float] = {}  # (source, frame in loop) -> time
        relay_log: IO[bytes] = open(config["relay_log"], "ab")  # noqa: SIM115 - lives as long
        self.relays = [
            subprocess.Popen(relay_command(url, self.fps), stdin=subprocess.PIPE, stderr=relay_log)
            for url in self.urls
        ]
        self.errors: list[str] = []

    def run(self) -> None:
        t0 = time.monotonic() + 0.2
        threads = [
            threading.Thread(target=self._write, args=(i, t0), daemon=True, name=f"send-{i}")
            for i in range(len(self.loops))
        ]
        for thread in threads:
            thread.start()
        reported: set[int] = set()
        with self.log.open("ab") as log:
            while not self.stop.wait(FLUSH_S):
                self._flush(log)
                for i, relay in enumerate(self.relays):
                    if relay.poll() is not None and i not in reported and not self.stop.is_set():
                        reported.add(i)  # its port taken, or the server hung up
                        print(f"error relay {i} exited ({relay.returncode})", flush=True)
            for relay in self.relays:
                relay.kill()
            for thread in threads:
                thread.join(2.0)
            self._flush(log)
        for relay in self.relays:
            relay.wait()

    def _flush(self, log: IO[bytes]) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        if pending:
            log.write(np.array(pending, dtype=SEND_RECORD).tobytes())
            log.flush()

    def _write(self, source: int, t0: float) -> None:
        units, relay = self.loops[source], self.relays[source]
        frames, count = len(units), len(self.loops)
        period = (1.0 + source_drift(source, count)) / self.fps
        phase = period * source / count
        assert relay.stdin is not None
        pipe = relay.stdin
        n = 0
        try:
            while not self.stop.is_set():
                due = t0 + phase + n * period
                late = time.monotonic() - due
                if late > CATCH_UP_S and n % self.fps == 0:
                    # the next keyframe (every fps frames) whose time has not passed
                    n = (int((time.monotonic() - t0 - phase) / period) // self.fps + 1) * self.fps
                    due = t0 + phase + n * period
                wait = due - time.monotonic()
                if wait > 0 and self.stop.wait(wait):
                    return
                unit = units[n % frames]
                pipe.write((unit if n == 0 else unit[len(AUD) :]) + AUD)
                pipe.flush()
                sent = time.time()
                with self._lock:
                    self._pending.append((source, n, sent))
                    self.last_sent[(source, n % frames)] = sent
                n += 1
        except (BrokenPipeError, OSError, ValueError) as error:
            if not self.stop.is_set():
                self.errors.append(f"source {source}: {error!r}")
                print(f"error source {source}: {error!r}", flush=True)


def _open_when_listening(url: str, options: dict[str, str], wait: float = 10.0) -> Any:
    """The relay's stream, once its `ffmpeg -listen 1` is up (it starts with the sender's
    first frame; on a busy machine that takes a while). A refused connection reached no
    listener, so trying again cannot use up the relay's one client."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return av.open(url, options=options, timeout=10)
        except av.error.ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def relay_delay(loop: Path, fps: int, url: str, seconds: float, folder: Path) -> list[float]:
    """What the relay itself adds: one loop paced through one relay as in a run, pulled
    straight from it with PyAV and the server's probe options, each frame found by its bytes.
    Seconds from each write to the packet's arrival, the first second left out."""
    config = {
        "fps": fps,
        "loops": [str(loop)],
        "urls": [url],
        "log": str(folder / "relay.bin"),
        "relay_log": str(folder / "relay-check.log"),
    }
    sender = Sender(config)
    thread = threading.Thread(target=sender.run, daemon=True)
    thread.start()
    tails = {unit[-32:]: k for k, unit in enumerate(sender.loops[0])}
    delays: list[float] = []
    options = {**PROBE_OPTIONS, "rw_timeout": "5000000"}
    try:
        with _open_when_listening(url, options) as container:
            began = time.monotonic()
            for packet in container.demux(video=0):
                arrived = time.time()
                k = tails.get(bytes(packet)[-32:])
                written = sender.last_sent.get((0, k)) if k is not None else None
                if written is not None and time.monotonic() - began > 1.0:
                    delays.append(arrived - written)
                if time.monotonic() - began > seconds:
                    break
    finally:
        sender.stop.set()
        thread.join(5.0)
    return delays


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    for unit_loop in config["loops"]:
        if not Path(unit_loop).exists():
            print(f"error: no loop file {unit_loop}", flush=True)
            return 2
    sender = Sender(config)
    signal.signal(signal.SIGTERM, lambda *_: sender.stop.set())

    def watch_stdin() -> None:
        sys.stdin.read()  # returns when the bench closes our stdin (or dies)
        sender.stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print("ready " + json.dumps({"relays": [r.pid for r in sender.relays]}), flush=True)
    sender.run()
    print("done " + json.dumps({"errors": sender.errors}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
