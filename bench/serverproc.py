"""A real mediacore server in a child process, a small client for its HTTP API, and readings
of its CPU time and memory from /proc (for the benchmarks).

A server is a process tree (in worker mode the control process and its media workers), so
cpu_seconds() and rss_bytes() read the whole tree; every benchmark's server figures come
from them."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.sipprun import free_sip_port
from mediacore.server.config import default_worker_count

TOKEN = "e2e-admin-token-for-tests"  # tokens are at least 16 characters
# A test or bench killed outright (a timeout) must not leave its server running: Linux sends
# the server SIGTERM when the thread that started it dies. util-linux's setpriv asks for that
# before it execs the server. Not `preexec_fn`: Python code between fork and exec deadlocks
# when another thread held a lock at the fork (it hung a CI run in the dynamic loader).
DIE_WITH_PARENT = ("setpriv", "--pdeathsig", "TERM") if shutil.which("setpriv") else ()


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _other_than(taken: set[int], probe: Callable[[], int]) -> int:
    """A free port from `probe` that is none of `taken`."""
    for _ in range(50):
        port = probe()
        if port not in taken:
            return port
    raise RuntimeError(f"no free port besides {sorted(taken)}")


def _reach(host: str) -> str:
    """The address a client reaches a server bound to `host` at: loopback for a wildcard."""
    if host in ("0.0.0.0", "::"):
        return "[::1]" if host == "::" else "127.0.0.1"
    return f"[{host}]" if ":" in host else host


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


@dataclass(frozen=True, slots=True)
class ProcessStat:
    """What /proc/<pid>/stat says of one process: its parent, and CPU time in seconds, its own
    (all its threads) and that of its children it has reaped (cutime + cstime)."""

    ppid: int
    own_seconds: float
    reaped_seconds: float

    @classmethod
    def parse(cls, text: str, ticks_per_second: float) -> ProcessStat:
        """One stat line; the name in parentheses may hold spaces and parentheses itself."""
        fields = text.rsplit(")", 1)[1].split()
        own = int(fields[11]) + int(fields[12])  # utime, stime
        reaped = int(fields[13]) + int(fields[14])  # cutime, cstime
        return cls(int(fields[1]), own / ticks_per_second, reaped / ticks_per_second)


def descendants(root: int, children: Callable[[int], Iterable[int]]) -> list[int]:
    """`root` and every process below it, parents before children; `children(pid)` lists a
    process's direct children (each pid is visited once, whatever `children` answers)."""
    found, queue, seen = [], [root], {root}
    while queue:
        pid = queue.pop(0)
        found.append(pid)
        for child in children(pid):
            if child not in seen:
                seen.add(child)
                queue.append(child)
    return found


def children_by_parent(parents: Mapping[int, int]) -> dict[int, list[int]]:
    """{ppid: [pids]} from {pid: ppid}, each list sorted."""
    children: dict[int, list[int]] = {}
    for pid, ppid in sorted(parents.items()):
        children.setdefault(ppid, []).append(pid)
    return children


def tree_cpu_seconds(stats: Mapping[int, ProcessStat]) -> float:
    """CPU seconds of a process tree: every live member's own time plus the time of the children
    each member has reaped, so a worker that died and was waited for still counts (its time
    moved into its parent's cutime/cstime) and nothing counts twice."""
    return sum(stat.own_seconds + stat.reaped_seconds for stat in stats.values())


def _stat(pid: int) -> ProcessStat:
    return ProcessStat.parse(Path(f"/proc/{pid}/stat").read_text(), os.sysconf("SC_CLK_TCK"))


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc/<pid>/task/*/children (every thread's own list)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:  # a thread that ended, or a kernel without the file
            continue
    return found


def _parents() -> dict[int, int]:
    """{pid: ppid} of every process on the machine, from /proc/<pid>/stat."""
    parents = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = _stat(int(entry.name)).ppid
            except (OSError, IndexError, ValueError):  # exited while we looked
                continue
    return parents


_CHILDREN_FILES = Path("/proc/self/task").is_dir() and any(
    (task / "children").exists() for task in Path("/proc/self/task").iterdir()
)


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (a server's control process and its media workers).
    Raises OSError when `pid` itself is gone."""
    if not Path(f"/proc/{pid}").is_dir():
        raise FileNotFoundError(f"/proc/{pid}")
    if _CHILDREN_FILES:
        return descendants(pid, _children)
    return descendants(pid, _lookup(_parents()))


def _lookup(parents: dict[int, int]) -> Callable[[int], list[int]]:
    children = children_by_parent(parents)
    return lambda pid: children.get(pid, [])


def tree_stats(pid: int) -> dict[int, ProcessStat]:
    """/proc/<pid>/stat of every member of `pid`'s tree still there (OSError if `pid` is gone)."""
    stats = {pid: _stat(pid)}
    for member in process_tree(pid)[1:]:
        try:
            stats[member] = _stat(member)
        except OSError:  # exited between the listing and the read
            continue
    return stats


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid`'s whole tree so far: the process (all its
    threads), its live descendants (a server's media workers) and the children they reaped.
    Use own_cpu_seconds() for one process whose children are counted apart."""
    return tree_cpu_seconds(tree_stats(pid))


def own_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` alone (all its threads), from /proc."""
    return _stat(pid).own_seconds


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def rss_bytes(pid: int) -> int:
    """Resident memory of process `pid`'s whole tree now (the sum of its members' RSS, so
    shared library pages count once per process), from /proc (0 if not reported)."""
    total = 0
    for member in process_tree(pid):
        try:
            total += _rss(member)
        except OSError:
            continue
    return total


class ServerProcess:
    """`mediacore serve` on loopback with its own data dir, HTTP port and RTP range."""

    def __init__(
        self,
        data_dir: Path,
        *,
        rtp_ports: int = 2000,
        host: str = "127.0.0.1",
        config: str = "",
        workers: int | None = None,
        max_legs_per_shard: int | None = None,
        tls: bool = False,
        http_port: int | None = None,
        ca_file: Path | None = None,
        ready_timeout: float = 20.0,
        options: Sequence[str] = (),
        launcher: Sequence[str] = (),
        **environment: str,
    ) -> None:
        """`config` is TOML text for the server's config file (SIP users, trunks, rooms).
        `workers`: media worker processes (0: rooms in the server process), given on the command
        line so that nothing in the environment or config changes the mode a benchmark names;
        None leaves it to them (MEDIACORE_SERVER_WORKERS, as the e2e tests set it).
        `max_legs_per_shard`: the server's default when None.
        `http_port`: the HTTP port (a free one when None; a restarted server reuses its
        predecessor's).
        `tls`: serve HTTPS/WSS (the server's default) rather than plain HTTP, the client
        trusting `ca_file` (default: the certificate the server makes in its data dir). SIP
        over TLS listens on a free port of its own (`sip_tls_port`) either way.
        `ready_timeout`: seconds it may take to answer (then it is stopped, RuntimeError).
        `options`: more `serve` options (a cluster node's --cluster, --node, --advertise);
        `launcher`: an argv prefix the server runs under (`ip netns exec NS`: a cluster node
        in a network namespace of its own, reached at `host`)."""
        workers_option = [] if workers is None else ["--workers", str(workers)]
        self.http_port = http_port or free_tcp_port()
        # Each probe's port is free again once probed, so the next probe may return it too.
        self.sip_port = _other_than({self.http_port}, free_sip_port)  # free for UDP and TCP
        self.sip_tls_port = _other_than({self.http_port, self.sip_port}, free_tcp_port)
        self.tls = tls
        self.ca_file = ca_file or data_dir / "tls" / "cert.pem"
        low = random.randrange(20000, 30000 - rtp_ports, 2)
        high = low + rtp_ports - 1
        self.rtp_range = (low, high)
        self.data_dir = data_dir
        self.url = f"{'https' if tls else 'http'}://{_reach(host)}:{self.http_port}"
        # Test cameras and receivers listen on loopback, which [outbound] refuses by default;
        # every benchmark peer connects from loopback, one address for hundreds of sockets.
        env = {
            **os.environ,
            "MEDIACORE_ADMIN_TOKEN": TOKEN,
            "MEDIACORE_OUTBOUND_ALLOW_LOOPBACK": "1",
            "MEDIACORE_SERVER_MAX_WEBSOCKETS_PER_ADDRESS": "100000",
            # Tests and benchmarks speak plain HTTP unless they are about HTTPS.
            "MEDIACORE_SERVER_INSECURE_HTTP": "0" if tls else "1",
            "MEDIACORE_SIP_TLS_PORT": str(self.sip_tls_port),
            **environment,
        }
        if max_legs_per_shard is not None:
            env["MEDIACORE_SERVER_MAX_LEGS_PER_SHARD"] = str(max_legs_per_shard)
        # What the server runs: the option, else the environment, else one worker per core
        # (0 is the single-process mode).
        if workers is None:
            said = env.get("MEDIACORE_SERVER_WORKERS")
            workers = int(said) if said is not None else default_worker_count()
        self.workers = workers
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / "server.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                *launcher,
                *DIE_WITH_PARENT,
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
                *workers_option,
                *self._config_option(config),
                *options,
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client()  # replaced once the server (and its certificate) is there
        try:
            self._wait_ready(ready_timeout)
        except BaseException:  # never left running when it did not come up in time
            stop_process(self.process, signal.SIGTERM, 5.0)
            raise

    def _config_option(self, config: str) -> list[str]:
        if not config:
            return []
        path = self.data_dir / "config.toml"
        path.write_text(config)
        return ["--config", str(path)]

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting the server's certificate (`ca_file`)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        connected = False
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            if not connected:
                if self.tls and not self.ca_file.exists():
                    time.sleep(0.1)  # the certificate is not made yet
                    continue
                verify: ssl.SSLContext | bool = self.ssl_context() if self.tls else True
                connected = True
                self.client.close()
                self.client = httpx.Client(
                    base_url=self.url,
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=10,
                    verify=verify,
                )
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
        return self.client.get("/metrics", timeout=30).text

    def cpu_seconds(self) -> float:
        """User + system CPU time the server (control and workers) has used so far."""
        return cpu_seconds(self.process.pid)

    def rss_bytes(self) -> int:
        """Resident memory of the server's process tree now."""
        return rss_bytes(self.process.pid)

    def workers_status(self) -> list[dict[str, Any]]:
        """`GET /api/v1/workers`: the media workers (empty in single-process mode)."""
        response = self.client.get("/api/v1/workers")
        assert response.status_code == 200, response.text
        return list(response.json())

    def events_url(self, room: str | None = None) -> str:
        """The event WebSocket's address, with the admin token (and a room filter)."""
        query = f"token={TOKEN}" + (f"&room={room}" if room else "")
        return self.url.replace("http", "ws", 1) + f"/api/v1/events?{query}"

    def stop(self) -> int:
        self.client.close()
        code = stop_process(self.process, signal.SIGTERM, 15)
        self._log.close()
        return code
