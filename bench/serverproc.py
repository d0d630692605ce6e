"""A real mediacore server in a child process, a small client for its HTTP API, and readings
of its CPU time and memory from /proc (for the benchmarks)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.sipprun import free_sip_port

TOKEN = "e2e-admin-token"


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], stop_signal: int, grace: float) -> int:
    """Ask a child to stop with `stop_signal`, kill it after `grace` seconds; its exit status."""
    if process.poll() is None:
        process.send_signal(stop_signal)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process `pid` (all its threads) has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident memory of process `pid` now, from /proc (0 if not reported)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class ServerProcess:
    """`mediacore serve` on loopback with its own data dir, HTTP port and RTP range."""

    def __init__(
        self,
        data_dir: Path,
        *,
        rtp_ports: int = 2000,
        host: str = "127.0.0.1",
        config: str = "",
        **environment: str,
    ) -> None:
        """`config` is TOML text for the server's config file (SIP users, trunks, rooms)."""
        self.http_port = free_tcp_port()
        self.sip_port = free_sip_port()  # free for both UDP and TCP
        low = random.randrange(20000, 30000 - rtp_ports, 2)
        high = low + rtp_ports - 1
        self.rtp_range = (low, high)
        self.data_dir = data_dir
        loopback = "[::1]" if ":" in host else "127.0.0.1"
        self.url = f"http://{loopback}:{self.http_port}"
        env = {**os.environ, "MEDIACORE_ADMIN_TOKEN": TOKEN, **environment}
        self.log_path = data_dir / "server.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mediacore.server.cli",
                "serve",
                "--host",
                host,
                "--http-port",
                str(self.http_port),
                "--data-dir",
                str(data_dir),
                "--rtp-ports",
                f"{low}-{high}",
                "--sip-port",
                str(self.sip_port),
                *self._config_option(config),
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        self._wait_ready()

    def _config_option(self, config: str) -> list[str]:
        if not config:
            return []
        path = self.data_dir / "config.toml"
        path.write_text(config)
        return ["--config", str(path)]

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                if self.client.get("/api/v1/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not become ready")

    def join(self, room: str, offer: str, **query: Any) -> tuple[str, str]:
        """Add a plain RTP leg; returns (participant id, SDP answer)."""
        response = self.client.post(
            f"/api/v1/rooms/{room}/rtp",
            params=query,
            content=offer,
            headers={"Content-Type": "application/sdp"},
        )
        assert response.status_code == 201, response.text
        return response.headers["Location"].rsplit("/", 1)[1], response.text

    def roster(self, room: str) -> list[dict[str, Any]]:
        response = self.client.get(f"/api/v1/rooms/{room}/participants")
        assert response.status_code == 200, response.text
        return list(response.json())

    def metrics(self) -> str:
        return httpx.get(self.url + "/metrics").text

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far."""
        return cpu_seconds(self.process.pid)

    def rss_bytes(self) -> int:
        return rss_bytes(self.process.pid)

    def events_url(self, room: str | None = None) -> str:
        """The event WebSocket's address, with the admin token (and a room filter)."""
        query = f"token={TOKEN}" + (f"&room={room}" if room else "")
        return self.url.replace("http", "ws", 1) + f"/api/v1/events?{query}"

    def stop(self) -> int:
        self.client.close()
        code = stop_process(self.process, signal.SIGTERM, 15)
        self._log.close()
        return code
