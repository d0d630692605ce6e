"""Kamailio for the cluster tests and benchmarks: the shipped docker/kamailio/kamailio.cfg in the
foreground.

Its own runtime directory, its own address and port, its Redis and node network given with
-A defines exactly as a deployment gives them; stopped (SIGTERM, then SIGKILL) when the test
ends. It never runs as a system service here. Its routing decisions are logged (WITH_ROUTE_LOG)
for the tests to read. Without kamailio it raises Unavailable (tests/cluster/kamailio.py turns
that into a skip)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.netns import stop
from bench.sipprun import free_sip_port
from bench.unavailable import require_program
from mediacore.server.certificates import self_signed

KAMAILIO = "/usr/sbin/kamailio"
CONFIG = Path(__file__).resolve().parents[1] / "docker" / "kamailio" / "kamailio.cfg"
READY_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Kamailio:
    host: str
    port: int
    log: Path
    tls_port: int | None = None  # SIP over TLS for phones, when started with a certificate
    ca_file: Path | None = None  # what a phone trusts to check that certificate

    @property
    def address(self) -> str:
        """ "HOST:PORT", as SIP URIs name it."""
        return f"{self.host}:{self.port}"

    def routed(self, text: str) -> bool:
        """Whether a routing decision containing `text` was logged (WITH_ROUTE_LOG)."""
        return any(text in line for line in self.log.read_text(errors="replace").splitlines())

    @property
    def tls_address(self) -> str:
        """ "HOST:PORT" of the TLS listener."""
        assert self.tls_port is not None, "started without TLS"
        return f"{self.host}:{self.tls_port}"


@contextmanager
def kamailio(
    directory: Path,
    redis_url: str,
    host: str = "127.0.0.1",
    node_net: str = "127.0.0.0/8",
    tls: bool = False,
    flood_per_2s: int | None = None,
) -> Iterator[Kamailio]:
    """Kamailio listening on `host` (UDP and TCP, and TLS with a self-signed certificate for
    `host` when `tls`), reading the cluster's Redis at `redis_url`; requests pre-routed through
    it (a node calling a phone) are taken from `node_net` only; `flood_per_2s` sets the flood
    limit for addresses outside it (the config's default otherwise)."""
    require_program(KAMAILIO, "Debian's kamailio with kamailio-redis-modules")
    redis = urlsplit(redis_url)
    database = redis.path.strip("/") or "0"
    port = free_sip_port(host)
    runtime = directory / "kamailio-run"
    runtime.mkdir(parents=True, exist_ok=True)
    command = [
        KAMAILIO, "-f", str(CONFIG), "-DD", "-E", "-Y", str(runtime), "-m", "64", "-M", "8",
        "-A", f"LISTEN={host}:{port}",
        "-A", f'REDIS="name=mc;addr={redis.hostname};port={redis.port};db={database}"',
        "-A", f'NODE_NET="{node_net}"', "-A", "WITH_ROUTE_LOG",
    ]  # fmt: skip
    if flood_per_2s is not None:
        command += ["-A", f"FLOOD_PER_2S={flood_per_2s}"]
    tls_port, ca_file = None, None
    if tls:
        tls_port = free_sip_port(host)
        ca_file = directory / "kamailio-cert.pem"
        key_file = directory / "kamailio-key.pem"
        cert_pem, key_pem = self_signed([host])
        ca_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        key_file.chmod(0o600)
        command += [
            "-A", f"TLS_LISTEN={host}:{tls_port}",
            "-A", f'TLS_CERT="{ca_file}"', "-A", f'TLS_KEY="{key_file}"',
        ]  # fmt: skip
    log_path = directory / "kamailio.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(host, port, process, log_path)
            yield Kamailio(host, port, log_path, tls_port, ca_file)
        finally:
            stop(process, 5.0)


def options(local: str, kamailio: Kamailio, uri: str, route: str = "", wait: float = 3.0) -> str:
    """Send one OPTIONS for `uri` to Kamailio over UDP from `local`; the first line of its
    final response. Raises TimeoutError when none comes within `wait` seconds."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((local, 0))
        udp.settimeout(wait)
        own = udp.getsockname()[1]
        unique = time.monotonic_ns()
        lines = [
            f"OPTIONS {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {local}:{own};branch=z9hG4bK{unique};rport",
            "Max-Forwards: 70",
            f"From: <sip:probe@{local}>;tag={unique}",
            f"To: <{uri}>",
            f"Call-ID: {unique}@{local}",
            "CSeq: 1 OPTIONS",
            *([f"Route: {route}"] if route else []),
            "Content-Length: 0",
        ]
        udp.sendto("\r\n".join([*lines, "", ""]).encode(), (kamailio.host, kamailio.port))
        while True:
            line = udp.recv(8000).decode(errors="replace").split("\r\n", 1)[0]
            if not line.startswith("SIP/2.0 1"):
                return line


def _wait_ready(host: str, port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until it answers an OPTIONS to its own address over UDP."""
    itself = Kamailio(host, port, log)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kamailio exited: {log.read_text(errors='replace')}")
        try:
            if options(host, itself, f"sip:{itself.address}", wait=0.2).startswith("SIP/2.0 200"):
                return
        except OSError:
            pass
    raise RuntimeError(f"kamailio did not answer: {log.read_text(errors='replace')}")
