"""Drive sipp (SIPp 3.6, Debian package sip-tester) from tests and benchmarks.

The scenarios live in bench/sipp/ (each says what it proves in its header). `run_sipp` runs one
sipp in the foreground, bounded by -m and -timeout, and reads back its final statistics; the
background form, `start_sipp`, is for a sipp that must be listening before the other side
starts (a UAS for dial-out tests, or the peer in this module's own tests).

Every run writes into `workdir` (sipp's working directory, where 3.6 puts its automatic file
names): the statistics CSV (-trace_stat, final row parsed), the per-call response times
(-trace_rtt with -rtt_freq 1, so every call is written, not every 200th), unexpected messages
(-trace_err), <log> actions (-trace_logs), stdout/stderr, and the PCMU tone file the call
scenarios stream with rtp_stream (sipp_tone.ulaw).

UDP retransmissions: over -t u1 sipp retransmits requests itself (T1 = 500 ms, doubling, -T2
caps it; -max_retrans / -max_invite_retrans bound the count, -nr turns it off); the count is
`SippResult.retransmissions` (Retransmissions(C) in the statistics), and trace_messages=True
adds -trace_msg, whose messages log shows each retransmitted copy with its time stamp. A
scenario's <send retrans="500"> is what arms this; over TCP sipp never retransmits.

Call set-up time: the call scenarios open response-time distribution 1 on the first INVITE
(start_rtd="1") and close it on the 200 (rtd="1"), challenge round trip included, so
`SippResult.response_times_ms` holds one INVITE -> 200 time per successful call. sipp measures
them in whole milliseconds (its clock tick), so on loopback most read 0.

sipp 3.6.1 quirks the server and the scenarios have to live with:
- Digest: MD5 (and AKAv1-MD5) only. A challenge whose first WWW-Authenticate is SHA-256 is a
  fatal error (exit 255), even with an MD5 one after it: put MD5 first, or offer only MD5, to
  users that sipp plays. qop=auth works; nc counts up (00000001, 00000002 reusing a nonce);
  cnonce comes from an unseeded rand(), so it is the same sequence in every run.
- Digest uri= is sip:REMOTE_IP:PORT, not the Request-URI, unless -auth_uri says otherwise
  (run_sipp passes SERVICE@TARGET when dialling a service with credentials).
- [fieldN] is not expanded inside [authentication ...]: the injection file carries the whole
  keyword (write_users_csv).
- Every call's RTP goes out of the one [media_port] (3.6 dropped per-call RTP ports), so with
  concurrent calls the server sees the same source address on each call's port.
- Default ports: SIP 5060 and control 8888 (UDP, all interfaces) unless -p / -cp are given;
  this module always gives both, so runs never take the server's port or collide.
- A scenario that fails to load (unknown [keyword], a variable used only once) exits 1, like
  a failed call, with no statistics: SippResult.describe() shows the reason from stderr.
- A message that arrives while a call sits on a <nop> counts as unexpected; the scenarios
  therefore branch with next/test on <recv>/<send> and start RTP in a <recv>'s action.
- On an unexpected response sipp's default behaviour sends a BYE, even in a REGISTER or
  OPTIONS "call"; pass extra_args=("-default_behaviors", "all,-bye") where that matters.
"""

from __future__ import annotations

import csv
import math
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCENARIO_DIR = Path(__file__).resolve().parent / "sipp"
TONE_FILE = "sipp_tone.ulaw"  # the name rtp_stream uses in the scenarios, relative to workdir
BUILTIN_SCENARIOS = frozenset({"uac", "uas", "regexp", "branchc", "branchs"})
TRANSPORTS = frozenset({"u1", "un", "t1", "tn"})
EXIT_MEANINGS = {
    0: "all calls successful",
    1: "at least one call failed",
    97: "exit on internal command",
    99: "normal exit without calls processed",
    255: "fatal error",
    254: "fatal error binding a socket",
}
# Characters that would split an injection-file field or end sipp's [authentication ...].
_CSV_UNSAFE = set("; []\r\n\t")


@dataclass
class SippResult:
    """What one sipp run did, read from its exit status and trace files."""

    returncode: int
    successful: int
    failed: int
    retransmissions: int
    response_times_ms: list[float]  # rtd 1 per call, from the -trace_rtt file
    stat_csv: Path | None
    stdout: str
    stderr: str
    stats: dict[str, str] = field(default_factory=dict)  # the final statistics row, by column
    response_time_buckets: dict[str, int] = field(default_factory=dict)  # "<10": calls, ">=2000"
    log_lines: list[str] = field(default_factory=list)  # the scenario's <log> messages
    errors: str = ""  # the -trace_err log: unexpected messages, aborted calls
    messages_log: Path | None = None  # -trace_msg output, when trace_messages=True
    local_port: int = 0  # sipp's SIP port (-p)
    media_port: int = 0  # its RTP port (-mp): rtp_stream sends from it, symmetric RTP returns

    @property
    def ok(self) -> bool:
        """sipp says every call succeeded."""
        return self.returncode == 0 and self.failed == 0 and self.successful > 0

    def percentile_ms(self, q: float) -> float | None:
        """Response time at quantile q (0..1, linear interpolation); None without samples."""
        return percentile(self.response_times_ms, q)

    def describe(self) -> str:
        """A short account for assertion messages: counts, exit meaning, errors, stderr."""
        meaning = EXIT_MEANINGS.get(self.returncode, "?")
        return (
            f"sipp exit {self.returncode} ({meaning}): successful={self.successful} "
            f"failed={self.failed} retransmissions={self.retransmissions}\n"
            f"errors: {self.errors[-3000:]}\nstderr: {self.stderr[-2000:]}\n"
            f"stdout tail: {self.stdout[-2500:]}"
        )


def sipp_available() -> bool:
    """Whether a sipp binary is on PATH (tests skip without it)."""
    return shutil.which("sipp") is not None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Quantile q of values by linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- ports ----------------------------------------------------------------------------------


def free_sip_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on host, as a SIP listener needs either."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            if _tcp_free(host, port):
                return port
    raise RuntimeError("no port free for both UDP and TCP")


def free_media_port(host: str = "127.0.0.1") -> int:
    """An even UDP port p with p..p+3 free: sipp binds p (audio) and p+2 (its video echo), and
    peers may send RTCP to p+1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1]) & ~1
        if port + 3 < 65536 and all(_udp_free(host, port + i) for i in range(4)):
            return port
    raise RuntimeError("no free block of 4 UDP ports for media")


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _port_open(port: int, tcp: bool) -> bool:
    """Whether some socket on this host is bound to UDP port (listening on TCP port), read
    from /proc/net rather than probed: a probe bind could steal the port from sipp."""
    kinds = ("tcp", "tcp6") if tcp else ("udp", "udp6")
    for kind in kinds:
        try:
            lines = Path(f"/proc/net/{kind}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            listening = not tcp or fields[3] == "0A"  # TCP_LISTEN
            if int(fields[1].rsplit(":", 1)[1], 16) == port and listening:
                return True
    return False


def _udp_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _tcp_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


# --- input files ----------------------------------------------------------------------------


def numbered_users(
    count: int, prefix: str = "sippuser", password_prefix: str = "pw-"
) -> list[tuple[str, str]]:
    """count (user, password) pairs, sippuser0001 / pw-sippuser0001 and so on, for the
    injection file and for the server's [[sip.users]] alike."""
    width = max(4, len(str(count)))
    names = [f"{prefix}{n:0{width}d}" for n in range(1, count + 1)]
    return [(name, f"{password_prefix}{name}") for name in names]


def write_users_csv(path: Path, users: Iterable[tuple[str, str]]) -> Path:
    """Write the injection file the REGISTER scenario (and the test UASes) read.

    One line per call after SEQUENTIAL: user;[authentication username=U password=P];P.
    [field1] carries the whole keyword because sipp 3.6.1 does not expand [fieldN] inside
    [authentication ...]; the bare password (field2) is for verifyauth on the UAS side.
    """
    lines = ["SEQUENTIAL"]
    for user, password in users:
        for value in (user, password):
            if not value or _CSV_UNSAFE & set(value):
                raise ValueError(f"{value!r} cannot go in a sipp injection file")
        lines.append(f"{user};[authentication username={user} password={password}];{password}")
    if len(lines) == 1:
        raise ValueError("no users")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_tone(path: Path, seconds: float = 1.0, frequency: float = 440.0) -> Path:
    """A headerless G.711 mu-law tone at 8 kHz, the raw format rtp_stream plays with payload
    type 0 (160 bytes per 20 ms packet). Whole cycles, so the loop has no click."""
    samples = int(8000 * seconds)
    samples -= samples % int(8000 / math.gcd(8000, int(frequency)))
    data = bytes(
        _ulaw(int(8000 * math.sin(2 * math.pi * frequency * n / 8000))) for n in range(samples)
    )
    path.write_bytes(data)
    return path


def _ulaw(sample: int) -> int:
    """G.711 mu-law encoding of one 16-bit linear sample."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


# --- command line ---------------------------------------------------------------------------


def scenario_args(scenario: str) -> list[str]:
    """-sf for one of bench/sipp's scenarios (with or without .xml) or a path to a file; -sn
    for sipp's built-in ones (uac, uas, ...)."""
    if scenario in BUILTIN_SCENARIOS:
        return ["-sn", scenario]
    path = Path(scenario)
    for candidate in (path, SCENARIO_DIR / path, SCENARIO_DIR / f"{scenario}.xml"):
        if candidate.is_file():
            return ["-sf", str(candidate.resolve())]
    raise FileNotFoundError(f"no sipp scenario {scenario!r} (looked in {SCENARIO_DIR})")


def _duration_arg(seconds: float) -> str:
    # sipp's time options take a unit suffix; milliseconds keeps fractions of a second.
    return f"{max(1, round(seconds * 1000))}ms"


def build_command(
    scenario: str,
    target: str | None,
    *,
    local_ip: str,
    local_port: int,
    media_port: int,
    control_port: int,
    transport: str,
    calls: int,
    rate: float | None,
    concurrent: int | None,
    user: str | None,
    password: str | None,
    service: str | None,
    duration_ms: int | None,
    injection: str | None,
    injection_index: int | None,
    keys: Mapping[str, str],
    auth_uri: str | None,
    rtp_echo: bool,
    trace_messages: bool,
    timeout: float,
    files: dict[str, Path],
    extra_args: Sequence[str],
) -> list[str]:
    """The sipp argument list: always bounded (-m, -timeout), quiet on stdin (-nostdin), on
    explicit ports (sipp's defaults, 5060 and control port 8888, collide with the server and
    with each other), with every trace file named."""
    if transport not in TRANSPORTS:
        raise ValueError(f"transport {transport!r} is not one of {sorted(TRANSPORTS)}")
    command = ["sipp"] + ([target] if target else []) + scenario_args(scenario)
    command += ["-i", local_ip, "-p", str(local_port), "-t", transport]
    command += ["-mi", local_ip, "-mp", str(media_port)]
    command += ["-ci", local_ip, "-cp", str(control_port)]
    command += ["-m", str(calls), "-nostdin", "-timeout", _duration_arg(timeout)]
    # -timeout_error: a run cut off by -timeout exits non-zero instead of looking clean.
    command += ["-timeout_error"]
    command += ["-trace_stat", "-stf", str(files["stat"]), "-fd", "1"]
    command += ["-trace_rtt", "-rtt_freq", "1"]
    command += ["-trace_err", "-error_file", str(files["errors"])]
    command += ["-trace_logs", "-log_file", str(files["logs"])]
    if trace_messages:
        command += ["-trace_msg", "-message_file", str(files["messages"])]
    if rate is not None:
        command += ["-r", f"{rate:g}"]
    if concurrent is not None:
        command += ["-l", str(concurrent)]
    if service is not None:
        command += ["-s", service]
    if user is not None:
        command += ["-au", user]
    if password is not None:
        command += ["-ap", password]
    if duration_ms is not None:
        command += ["-d", str(duration_ms)]
    if injection is not None:
        command += ["-inf", injection]
        if injection_index is not None:
            command += ["-infindex", injection, str(injection_index)]
    if auth_uri is not None:
        command += ["-auth_uri", auth_uri]
    for name, value in keys.items():
        command += ["-key", name, value]
    if rtp_echo:
        command += ["-rtp_echo"]
    return command + list(extra_args)


# --- running --------------------------------------------------------------------------------


class SippProcess:
    """One sipp started in the background (a UAS waiting for calls, typically)."""

    def __init__(
        self,
        command: list[str],
        workdir: Path,
        files: dict[str, Path],
        *,
        transport: str,
        local_port: int,
        media_port: int,
    ) -> None:
        self.command = command
        self.workdir = workdir
        self.files = files
        self.transport = transport
        self.local_port = local_port
        self.media_port = media_port
        self._stdout = open(files["stdout"], "wb")  # noqa: SIM115 - closed in result()
        self._stderr = open(files["stderr"], "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
        )

    def wait_listening(self, timeout: float = 5.0) -> None:
        """Return once sipp's SIP socket is open, so a peer started next is not refused."""
        deadline = time.monotonic() + timeout
        tcp = self.transport.startswith("t")
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sipp exited early:\n{self.result().describe()}")
            if _port_open(self.local_port, tcp):
                return
            time.sleep(0.02)
        raise RuntimeError(f"sipp did not open its SIP port:\n{self.stop().describe()}")

    def wait(self, timeout: float) -> SippResult:
        """Wait for sipp to finish by itself (its -m calls done), then read its results."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
        return self.result()

    def stop(self) -> SippResult:
        """End it now (kill only this process), then read its results."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.result()

    def result(self) -> SippResult:
        if not self._stdout.closed:
            self._stdout.close()
            self._stderr.close()
        returncode = self.process.poll()
        result = read_result(
            -1 if returncode is None else returncode, self.workdir, self.process.pid, self.files
        )
        result.local_port, result.media_port = self.local_port, self.media_port
        return result


def start_sipp(
    scenario: str,
    target: str | None = None,
    *,
    workdir: Path,
    local_ip: str = "127.0.0.1",
    local_port: int | None = None,
    transport: str = "u1",
    calls: int = 1,
    rate: float | None = None,
    concurrent: int | None = None,
    user: str | None = None,
    password: str | None = None,
    service: str | None = None,
    duration_ms: int | None = None,
    injection: Path | None = None,
    injection_index: int | None = None,
    keys: Mapping[str, str] | None = None,
    auth_uri: str | None = None,
    rtp_echo: bool = False,
    trace_messages: bool = False,
    extra_args: Sequence[str] = (),
    timeout: float = 60.0,
    wait_listening: bool = True,
) -> SippProcess:
    """Start sipp in the background; with no target it is a UAS on local_ip:local_port
    (a free port when None, see .local_port). It still stops by itself after -m calls or
    -timeout. injection_index builds sipp's index on that field (for <lookup>)."""
    workdir.mkdir(parents=True, exist_ok=True)
    _write_inputs(workdir)
    options: dict[str, Any] = dict(
        calls=calls,
        rate=rate,
        concurrent=concurrent,
        user=user,
        password=password,
        service=service,
        duration_ms=duration_ms,
        injection=_stage_injection(injection, workdir),
        injection_index=injection_index,
        keys=keys or {},
        auth_uri=auth_uri if auth_uri is not None else _default_auth_uri(target, service, user),
        rtp_echo=rtp_echo,
        trace_messages=trace_messages,
        timeout=timeout,
        extra_args=extra_args,
    )
    for attempt in range(1, BIND_ATTEMPTS + 1):
        port = local_port or free_sip_port(local_ip)
        sipp = _start_once(scenario, target, workdir, local_ip, port, transport, options)
        if not (wait_listening and target is None):
            return sipp
        try:
            sipp.wait_listening()
            return sipp
        except RuntimeError:
            if sipp.process.returncode != BIND_FAILED or attempt == BIND_ATTEMPTS:
                raise
            # A free port (the control or media one) was taken before sipp bound it: it has
            # sent nothing, so start it again on new ones.
    raise AssertionError("unreachable")


def _start_once(
    scenario: str,
    target: str | None,
    workdir: Path,
    local_ip: str,
    local_port: int,
    transport: str,
    options: dict[str, Any],
) -> SippProcess:
    tag = f"{Path(scenario).stem}-{time.monotonic_ns()}"
    files = _file_names(workdir, tag)
    media_port = free_media_port(local_ip)
    command = build_command(
        scenario,
        target,
        local_ip=local_ip,
        local_port=local_port,
        media_port=media_port,
        control_port=free_udp_port(local_ip),
        transport=transport,
        files=files,
        **options,
    )
    return SippProcess(
        command,
        workdir,
        files,
        transport=transport,
        local_port=local_port,
        media_port=media_port,
    )


BIND_FAILED = 254  # sipp's exit status when it could not bind a socket
BIND_ATTEMPTS = 3


def run_sipp(
    scenario: str, target: str, *, workdir: Path, timeout: float = 60.0, **options: Any
) -> SippResult:
    """Run sipp against target ("host:port") in the foreground until its -m calls are done or
    -timeout (timeout seconds) cuts it off, and return its counts and response times.
    options: start_sipp's keywords, of which:
    scenario: a bench/sipp name ("uac_auth_call"), a path, or a built-in ("uac").
    service: the Request-URI user (-s), i.e. the room or user dialled. user/password: the
    digest credentials (-au/-ap). duration_ms: -d, the length of the scenarios' <pause/>.
    rate: calls per second (-r, sipp's default 10); concurrent: the most calls at once (-l).
    injection: a CSV (write_users_csv), copied into workdir and passed with -inf.
    keys: -key NAME VALUE for scenarios that use [NAME].
    auth_uri: the digest uri= (-auth_uri, without "sip:"). sipp 3.6.1 otherwise puts
    sip:REMOTE_IP:PORT there whatever the Request-URI is, so with a service and a user the
    default here is SERVICE@TARGET, the Request-URI of the INVITE scenarios; REGISTER's
    Request-URI is sip:TARGET, sipp's own default, which it keeps (it passes no service).
    """
    for _ in range(BIND_ATTEMPTS):
        sipp = start_sipp(
            scenario, target, workdir=workdir, timeout=timeout, wait_listening=False, **options
        )
        # sipp enforces -timeout itself; the margin only catches a sipp that hangs on exit.
        result = sipp.wait(timeout + 10)
        if result.returncode != BIND_FAILED or options.get("local_port"):
            break
        # Its free ports were free when chosen and taken before sipp bound them (other
        # processes open sockets meanwhile): it sent nothing, so try again on new ones.
    return result


def _default_auth_uri(target: str | None, service: str | None, user: str | None) -> str | None:
    """The digest uri that matches the INVITE scenarios' Request-URI, sip:SERVICE@TARGET."""
    if target is None or service is None or user is None:
        return None
    return f"{service}@{target}"


def _file_names(workdir: Path, tag: str) -> dict[str, Path]:
    names = {
        "stat": "stat.csv",
        "errors": "errors.log",
        "logs": "logs.log",
        "messages": "messages.log",
        "stdout": "stdout.txt",
        "stderr": "stderr.txt",
    }
    return {key: workdir / f"{tag}_{name}" for key, name in names.items()}


def _write_inputs(workdir: Path) -> None:
    # rtp_stream opens its file relative to sipp's working directory when loading the scenario.
    tone = workdir / TONE_FILE
    if not tone.exists():
        write_tone(tone)


def _stage_injection(injection: Path | None, workdir: Path) -> str | None:
    """sipp keys an injection file by the exact -inf argument, and <lookup file="users.csv">
    must name it the same way, so the file is passed by its bare name from workdir."""
    if injection is None:
        return None
    staged = workdir / injection.name
    if injection.resolve() != staged.resolve():
        shutil.copyfile(injection, staged)
    return injection.name


# --- reading results ------------------------------------------------------------------------


def read_result(returncode: int, workdir: Path, pid: int, files: dict[str, Path]) -> SippResult:
    stats = read_final_stats(files["stat"])
    messages = files["messages"]
    return SippResult(
        returncode=returncode,
        successful=_count(stats, "SuccessfulCall(C)"),
        failed=_count(stats, "FailedCall(C)"),
        retransmissions=_count(stats, "Retransmissions(C)"),
        response_times_ms=read_rtt(workdir, pid),
        stat_csv=files["stat"] if files["stat"].exists() else None,
        stdout=_read_text(files["stdout"]),
        stderr=_read_text(files["stderr"]),
        stats=stats,
        response_time_buckets=_buckets(stats, "ResponseTimeRepartition1_"),
        log_lines=[line for line in _read_text(files["logs"]).splitlines() if line.strip()],
        errors=_read_text(files["errors"]),
        messages_log=messages if messages.exists() else None,
    )


def read_final_stats(path: Path) -> dict[str, str]:
    """The last row of a -trace_stat CSV (';'-separated, header first), keyed by column; sipp
    writes a row every -fd and a final one on exit, so the last is the whole run."""
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle, delimiter=";") if row]
    if len(rows) < 2:
        return {}
    return {name: value for name, value in zip(rows[0], rows[-1], strict=False) if name}


def read_rtt(workdir: Path, pid: int, rtd: int = 1) -> list[float]:
    """Response times (ms) of distribution rtd from -trace_rtt's <scenario>_<pid>_rtt.csv,
    whose rows are Date_ms;response_time_ms;rtd_no."""
    times: list[float] = []
    for path in workdir.glob(f"*_{pid}_rtt.csv"):
        with path.open(newline="") as handle:
            for row in csv.reader(handle, delimiter=";"):
                if len(row) >= 3 and row[2].strip() == str(rtd):
                    times.append(float(row[1]))
    return times


def _count(stats: Mapping[str, str], column: str) -> int:
    value = stats.get(column, "").strip()
    return int(value) if value.isdigit() else 0


def _buckets(stats: Mapping[str, str], prefix: str) -> dict[str, int]:
    return {name[len(prefix) :]: _count(stats, name) for name in stats if name.startswith(prefix)}


def _read_text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
