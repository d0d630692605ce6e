"""A Janus gateway with only the AudioBridge plugin and the HTTP transport, on loopback, from a
generated config folder in a temp dir (for benchmarking mediacore side by side with it).

    python -m bench.janus            # start one, print its API URL and pid, run until Ctrl-C
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.serverproc import free_tcp_port, stop_process

LIBRARIES = Path("/usr/lib/x86_64-linux-gnu/janus")
INSTALL = "apt-get install -y -qq --no-install-recommends janus"  # Debian's janus 1.1.2


def ensure_installed(progress: Callable[[str], None] = print) -> str:
    """The janus binary's path, installing Debian's `janus` package first when it is missing
    (as scripts/bootstrap installs packages: as root, or through sudo). Raises RuntimeError
    when it is missing and cannot be installed."""
    binary = shutil.which("janus")
    if binary is not None:
        return binary
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo"):
        prefix = ["sudo", "-n"]
    else:
        raise RuntimeError(f"janus not installed, and no root or sudo to run: {INSTALL}")
    progress("janus not installed: " + INSTALL)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], INSTALL.split()):
        done = subprocess.run(
            [*prefix, *command], env=env, capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-1000:]}")
    binary = shutil.which("janus")
    if binary is None:
        raise RuntimeError(f"janus still not found after {INSTALL}")
    return binary


def _library_root() -> Path:
    """Where the Debian package put the plugins and transports (the multiarch folder)."""
    if LIBRARIES.is_dir():
        return LIBRARIES
    for candidate in Path("/usr/lib").glob("*/janus"):
        if (candidate / "plugins").is_dir():
            return candidate
    raise RuntimeError(
        "Janus libraries not found: apt-get install -y --no-install-recommends janus"
    )


class JanusProcess:
    """`janus` with AudioBridge (plain RTP allowed, string room ids) and HTTP on 127.0.0.1.

    Only the needed plugin and transport are linked into private folders, so nothing else
    loads or binds. Sessions never time out (`session_timeout = 0`): the benchmark's exchange
    command creates one session per leg and exits, and the leg must outlive it."""

    def __init__(
        self,
        folder: Path | None = None,
        *,
        rtp_ports: int = 4000,
        debug_level: int = 2,
    ) -> None:
        binary = ensure_installed()
        self.folder = folder or Path(tempfile.mkdtemp(prefix="janus-bench-"))
        self.http_port = free_tcp_port()
        low = random.randrange(30000, 40000 - rtp_ports, 2)
        self.rtp_range = (low, low + rtp_ports - 1)
        self.url = f"http://127.0.0.1:{self.http_port}/janus"
        self.state = self.folder / "adapter"  # the adapter's --state: session ids, errors
        self._configure(debug_level)
        self.log_path = self.folder / "janus.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [binary, "-C", str(self.folder / "janus.jcfg"), "-F", str(self.folder), "-o"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.process.pid
        self._wait_ready()

    def _configure(self, debug_level: int) -> None:
        libraries = _library_root()
        for kind, names in (
            ("plugins", ["libjanus_audiobridge.so"]),
            ("transports", ["libjanus_http.so"]),
            ("events", []),
            ("loggers", []),
        ):
            (self.folder / kind).mkdir(exist_ok=True)
            for name in names:
                link = self.folder / kind / name
                if not link.exists():
                    link.symlink_to(libraries / kind / name)
        low, high = self.rtp_range
        middle = low + 99  # WebRTC (unused) gets 100 ports, AudioBridge's plain RTP the rest
        (self.folder / "janus.jcfg").write_text(
            f"""general: {{
    configs_folder = "{self.folder}"
    plugins_folder = "{self.folder / "plugins"}"
    transports_folder = "{self.folder / "transports"}"
    events_folder = "{self.folder / "events"}"
    loggers_folder = "{self.folder / "loggers"}"
    debug_level = {debug_level}
    interface = "127.0.0.1"
    session_timeout = 0
    server_name = "mediacore-bench"
}}
certificates: {{
}}
media: {{
    rtp_port_range = "{low}-{middle}"
}}
nat: {{
    nice_debug = false
    ice_enforce_list = "127.0.0.1"
}}
plugins: {{
}}
transports: {{
}}
loggers: {{
}}
events: {{
    broadcast = false
}}
"""
        )
        (self.folder / "janus.transport.http.jcfg").write_text(
            f"""general: {{
    events = false
    json = "plain"
    base_path = "/janus"
    http = true
    port = {self.http_port}
    ip = "127.0.0.1"
    https = false
}}
admin: {{
    admin_http = false
    admin_https = false
}}
cors: {{
}}
"""
        )
        (self.folder / "janus.plugin.audiobridge.jcfg").write_text(
            f"""general: {{
    events = false
    string_ids = true
    rtp_port_range = "{middle + 1}-{high}"
    local_ip = "127.0.0.1"
}}
"""
        )

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        info = self.url.rsplit("/", 1)[0] + "/janus/info"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"janus exited: {self.log_path.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(info, timeout=2) as response:
                    plugins = json.load(response).get("plugins", {})
                if "janus.plugin.audiobridge" not in plugins:
                    raise RuntimeError(f"AudioBridge plugin not loaded: {self.log_path}")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"janus did not become ready: {self.log_path}")

    def stop(self) -> int:
        code = stop_process(self.process, signal.SIGINT, 10)
        self._log.close()
        return code

    def __enter__(self) -> JanusProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    janus = JanusProcess(debug_level=4)
    print(json.dumps({"url": janus.url, "pid": janus.pid, "folder": str(janus.folder)}), flush=True)
    try:
        janus.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        janus.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
