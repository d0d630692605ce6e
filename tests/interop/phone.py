"""Test-side handle on a pjsua2 phone process (tests/interop/pjphone.py), plus WAV helpers.

    with Phone() as a, Phone() as b:
        b.cmd("auto_answer", code=200)
        call = a.cmd("call", uri=f"sip:b@127.0.0.1:{b.sip_port}")["call"]
        a.wait_call_state(call, "CONFIRMED")

Replies are matched by id; events (dicts with an "event" key) pile up in `events`, in order.
"""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mediacore.audio import Pcm, float_to_int16, int16_to_float, tone

REPO_ROOT = Path(__file__).resolve().parents[2]
Event = dict[str, Any]

# RTP port bases for phones not given one: 400 slots of 100 ports in 20000-59999, taken in turn
# from a random slot so that two test runs at once rarely meet (pjsua skips busy ports anyway).
_phone_numbers = itertools.count(random.randrange(400))


def _next_rtp_base() -> int:
    return 20000 + 100 * (next(_phone_numbers) % 400)


class PhoneError(RuntimeError):
    """A command failed, timed out, or the phone process died."""


class Phone:
    """One pjsua2 phone in its own process, driven synchronously from a test."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        sip_port: int = 0,
        rtp_port: int | None = None,
        transport: str = "udp",
        user: str = "phone",
        log_file: str | Path | None = None,
        start_timeout: float = 10.0,
        ca_file: str | Path | None = None,
        tls_pair: tuple[Path, Path] | None = None,
    ):
        self.host = host
        self.rtp_port = _next_rtp_base() if rtp_port is None else rtp_port
        argv = [
            sys.executable, "-m", "tests.interop.pjphone",
            "--host", host,
            "--sip-port", str(sip_port),
            "--rtp-port", str(self.rtp_port),
            "--transport", transport,
            "--user", user,
        ]  # fmt: skip
        if log_file is not None:
            argv += ["--log-file", str(log_file)]
        if ca_file is not None:  # TLS: the phone checks the server's certificate
            argv += ["--ca-file", str(ca_file)]
        if tls_pair is not None:  # TLS: the certificate and key calls to the phone meet
            argv += ["--tls-cert", str(tls_pair[0]), "--tls-key", str(tls_pair[1])]
        # stderr is inherited: pjsip's few console lines land in pytest's captured output.
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.events: list[Event] = []
        self._replies: dict[int, Event] = {}
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            ready = self.wait_event(lambda e: e["event"] in ("ready", "fatal"), start_timeout)
        except PhoneError:
            self.kill()
            raise
        if ready["event"] == "fatal":
            self.kill()
            raise PhoneError(f"phone failed to start: {ready['error']}")
        self.sip_port: int = ready["sip_port"]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:  # should not happen: keep it visible rather than stop reading
                message = {"event": "garbage", "line": line}
            with self._cond:
                if "event" in message:
                    self.events.append(message)
                else:
                    self._replies[message["id"]] = message
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()  # wake waiters: the process has gone

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def cmd(self, name: str, timeout: float = 5.0, **args: Any) -> Event:
        """Sends a command and returns its reply. Raises PhoneError if it fails or times out."""
        cid = next(self._ids)
        self._send({"id": cid, "cmd": name, **args})
        deadline = time.monotonic() + timeout
        with self._cond:
            while cid not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or (not self._reader.is_alive()):
                    raise PhoneError(f"no reply to {name} {args} (alive={self.alive})")
                self._cond.wait(left)
            reply = self._replies.pop(cid)
        if not reply["ok"]:
            raise PhoneError(f"{name} {args} failed: {reply['error']}")
        return reply

    def _send(self, message: Event) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise PhoneError(f"phone process is gone (exit {self.proc.poll()})") from exc

    def mark(self) -> int:
        """Position in `events`: pass it as `since` to wait only for events after this point."""
        with self._cond:
            return len(self.events)

    def wait_event(
        self, predicate: Callable[[Event], bool], timeout: float = 5.0, since: int = 0
    ) -> Event:
        """First event at index >= `since` for which predicate is true, waiting up to timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            position = since
            while True:
                for event in self.events[position:]:
                    if predicate(event):
                        return event
                position = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    recent = self.events[max(since, position - 10) :]
                    raise PhoneError(f"timed out after {timeout} s; last events: {recent}")
                self._cond.wait(left)

    def wait_call_state(self, call: int, state: str, timeout: float = 5.0, since: int = 0) -> Event:
        return self.wait_event(
            lambda e: e["event"] == "call" and e["call"] == call and e["state"] == state,
            timeout,
            since,
        )

    def wait_media(self, call: int, status: str, timeout: float = 5.0, since: int = 0) -> Event:
        """Waits for a media state event (ACTIVE, LOCAL_HOLD, REMOTE_HOLD, NONE, ERROR)."""
        return self.wait_event(
            lambda e: e["event"] == "media" and e["call"] == call and e["status"] == status,
            timeout,
            since,
        )

    def close(self, timeout: float = 5.0) -> None:
        """Hangs up everything and ends the process; kills it if it does not end in time."""
        if self.alive:
            try:
                self.cmd("quit", timeout=timeout)
                self.proc.wait(timeout)
            except (PhoneError, subprocess.TimeoutExpired):
                self.kill()
        self._close_pipes()

    def kill(self) -> None:
        if self.alive:
            self.proc.kill()
            self.proc.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass

    def __enter__(self) -> Phone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_tone_wav(
    path: str | Path, frequency: float, seconds: float, rate: int = 8000, level_dbfs: float = -12.0
) -> Path:
    """Writes a mono 16-bit WAV sine tone (rate 8000 or 16000 suits the phone's codecs)."""
    return write_wav(path, tone(frequency, seconds, rate, level_dbfs), rate)


def write_wav(path: str | Path, pcm: Pcm, rate: int) -> Path:
    """Writes float PCM as a mono 16-bit WAV file."""
    path = Path(path)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(float_to_int16(pcm).astype("<i2").tobytes())
    return path


def read_wav(path: str | Path) -> tuple[Pcm, int]:
    """Reads a 16-bit WAV (first channel if several) as float PCM. Returns: (pcm, rate)."""
    with wave.open(str(path), "rb") as src:
        if src.getsampwidth() != 2:
            raise ValueError(f"{path}: {8 * src.getsampwidth()}-bit samples, expected 16")
        channels, rate = src.getnchannels(), src.getframerate()
        samples = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
    return int16_to_float(samples[::channels].astype(np.int16)), rate
