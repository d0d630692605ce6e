"""A real Redis for the cluster tests and benchmarks: Debian's redis-server on a free port.

Nothing is saved to disk (no RDB, no AOF) and the server lives in the caller's directory, so a
run leaves nothing behind; it is stopped (SIGTERM, then SIGKILL) when the run ends. Without
redis-server it raises Unavailable (tests/cluster/redisserver.py turns that into a skip)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.unavailable import require_program

REDIS = "/usr/bin/redis-server"
READY_TIMEOUT = 10.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def redis_server(directory: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """A running Redis bound to `host`; yields its URL (database 0)."""
    require_program(REDIS, "Debian's redis-server")
    port = free_port(host)
    command = [REDIS, "--bind", host, "--port", str(port), "--dir", str(directory)]
    command += [
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--loglevel",
        "warning",
    ]
    log = (directory / "redis.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(host, port, process)
        yield f"redis://{host}:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(host: str, port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                if connection.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not answer PING")
