"""Server configuration: embedded defaults, a TOML file, then MEDIACORE_<SECTION>_<KEY> overrides.

Precedence, lowest first: defaults here, the file, the environment, command-line options."""

from __future__ import annotations

import math
import os
import re
import socket
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingest.gbsettings import GbSettings, parse_gb28181_settings
from ingest.gbupstreamsettings import GbUpstream, parse_upstreams
from ingest.netpolicy import DEFAULT_DENIED_NETWORKS, NetworkPolicy
from mediacore.participant import PRIORITIES
from mediacore.room import RoomSettings
from mediacore.sdes import SRTP_MODES
from mediacore.server.groups import Group, configured_groups
from mediacore.server.parties import PartyBook
from mediacore.signing import default_key_path
from mixer.conferencevideo import normalized
from radio.gateways import RadioGateway
from sip.address import SipSyntaxError, SipUri, is_token
from sip.settings import SipSettings, SipTrunk, SipUser, parse_algorithms
from sip.trunktrust import INBOUND_MODES
from webrtc.settings import WebRtcSettings, parse_webrtc_settings

ROLES = ("admin", "commander", "operator", "expert", "reviewer")


class ConfigError(ValueError):
    """A configuration file or override that cannot be used; the message says which key."""


@dataclass(frozen=True, slots=True)
class ServerSection:
    host: str = "0.0.0.0"
    http_port: int = 8080
    data_dir: str = "./var"
    log_level: str = "info"
    log_format: str = "json"  # or "text"
    access_log: bool = False
    # Media worker processes that run the rooms; 0 runs them in this process (single-process
    # mode). A config loaded from a file and the environment (`mediacore serve`) that does not
    # say gets one per core (`default_worker_count`); a Config built in code runs in-process.
    workers: int = 0
    max_legs_per_shard: int = 200  # a room with more legs grows a shard on another worker
    # Added to the server's niceness in media workers: -10 puts their clocks ahead of the
    # machine's other work (on a machine shared with other programs). Lowering it needs root
    # or CAP_SYS_NICE; without, a worker keeps the server's and says so once.
    media_nice: int = 0
    # Limits per request and per client address (security: no body is read before these).
    max_body_bytes: int = 1024 * 1024  # any HTTP request body; 413 beyond
    max_websockets_per_address: int = 32  # open WebSockets (events, signalling) per address
    max_exports_per_address: int = 2  # recording exports queued or running per address
    # A bearer token that may read /metrics and nothing else (for Prometheus); admins may too.
    metrics_token: str = ""
    api_docs: bool = False  # serve /api/docs and /api/openapi.json (to token holders only)
    # HTTPS and WSS with this certificate and key (PEM); without them a self-signed pair is made
    # in the data dir at first start. insecure_http serves plain HTTP instead (a lab only).
    tls_cert: str = ""
    tls_key: str = ""
    insecure_http: bool = False
    # Plain HTTP on the same port besides HTTPS: "loopback" serves it to clients on this
    # machine only (nothing crosses a network), "none" to nobody.
    plain_http: str = "loopback"


@dataclass(frozen=True, slots=True)
class RtpSection:
    port_min: int = 20000
    port_max: int = 29999
    timeout: float = 30.0  # seconds without RTP before a leg is removed
    public_address: str = ""  # written into SDP answers; empty: the address the client used


@dataclass(frozen=True, slots=True)
class OutboundSection:
    """Where the server may connect when an API user names the host (request forgery): field
    sources and wall outputs. The addresses a host resolves to must lie in `allow_networks`
    and not in `deny_networks` (comma-separated CIDRs); the server's own loopback and
    unspecified addresses only with `allow_loopback`."""

    allow_networks: str = "0.0.0.0/0, ::/0"
    deny_networks: str = DEFAULT_DENIED_NETWORKS
    allow_loopback: bool = False


@dataclass(frozen=True, slots=True)
class RecordingSection:
    """[recording]: the server's Ed25519 signing key (manifests, the recordings' ledger, the
    audit log). Empty: `<data_dir>/keys/signing.key`, made 0600 on first start. Never inside
    `<data_dir>/recordings`: a copy of the recordings must not carry the means to re-sign them."""

    signing_key: str = ""
    # Disk space (MB) exports must leave free while a recording is being written: an export
    # that would eat into it is refused (507), one that reaches it stops. 0: no reserve.
    export_disk_reserve_mb: int = 2048
    # A folder every node of a cluster mounts (NFS, CephFS, ...): each node records into
    # `<shared_dir>/<node>/`, and a survivor recovers and serves a dead node's recordings.
    # Empty: recordings stay in the data dir (clusterrecordings.py).
    shared_dir: str = ""


@dataclass(frozen=True, slots=True)
class AuthSection:
    """[auth]'s scalar keys: login sessions and how failed logins are throttled."""

    session_minutes: int = 720  # a login's token lasts this long (12 hours: one shift)
    login_attempts: int = 5  # failed logins per address or user name within the window...
    login_window: float = 300.0  # ...(seconds) lock it out for the window, doubling each time


@dataclass(frozen=True, slots=True)
class ClusterSection:
    """[cluster]: several nodes share one Redis directory (empty `redis`: one embedded node)."""

    redis: str = ""  # redis://HOST:PORT/DB; empty runs this node alone, as before
    node: str = ""  # this node's name in the cluster (default: the host name)
    advertise: str = ""  # the address other nodes and Kamailio reach this node at
    heartbeat_ms: int = 500  # how often this node announces itself and its load
    dead_after_ms: int = 3000  # a node silent this long is declared dead
    # a room whose owner holds this many of its legs grows onto another node (0: never)
    max_legs_per_node: int = 400

    @property
    def enabled(self) -> bool:
        return bool(self.redis)

    @property
    def node_name(self) -> str:
        """This node's name: `node`, else the host name up to its first dot."""
        return self.node or socket.gethostname().split(".")[0]


@dataclass(frozen=True, slots=True)
class TokenEntry:
    token: str
    role: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerSection = field(default_factory=ServerSection)
    sip: SipSettings = field(default_factory=SipSettings)
    rtp: RtpSection = field(default_factory=RtpSection)
    outbound: OutboundSection = field(default_factory=OutboundSection)  # [outbound]: SSRF
    recording: RecordingSection = field(default_factory=RecordingSection)  # [recording]
    cluster: ClusterSection = field(default_factory=ClusterSection)  # [cluster]: Redis, nodes
    rooms: tuple[RoomSettings, ...] = (RoomSettings("command"),)
    tokens: tuple[TokenEntry, ...] = ()
    auth: AuthSection = field(default_factory=AuthSection)  # [auth]: logins
    radio_gateways: tuple[RadioGateway, ...] = ()  # [[radio.gateways]]: the server calls them
    webrtc: WebRtcSettings = field(default_factory=WebRtcSettings)  # [webrtc]: ICE servers
    gb28181: GbSettings = field(default_factory=GbSettings)  # [gb28181]: 国标 devices register
    dispatch_groups: tuple[Group, ...] = ()  # [[dispatch.groups]]: plans dialled at once
    gb28181_upstreams: tuple[GbUpstream, ...] = ()  # [[gb28181.upstream]]: 级联上级平台

    @property
    def data_dir(self) -> Path:
        return Path(self.server.data_dir)

    @property
    def signing_key_path(self) -> Path:
        """Where the server's private signing key is (see RecordingSection)."""
        configured = self.recording.signing_key
        return Path(configured) if configured else default_key_path(self.data_dir)

    @property
    def recordings_store(self) -> Path:
        """The folder of this node's recordings and their ledger: the data dir, or this node's
        folder of `[recording] shared_dir`."""
        shared = self.recording.shared_dir
        return Path(shared) / self.cluster.node_name if shared else self.data_dir


_SECTIONS = {
    "server": ServerSection,
    "sip": SipSettings,
    "rtp": RtpSection,
    "outbound": OutboundSection,
    "recording": RecordingSection,
    "cluster": ClusterSection,
}
_TABLE_ARRAYS = {"sip": ("users", "trunks")}  # arrays of tables, not scalar keys
_TOP_LEVEL = {*_SECTIONS, "rooms", "auth", "radio", "webrtc", "gb28181", "dispatch"}
_DISPATCH_KEYS = {"groups"}
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("json", "text")
PLAIN_HTTP = ("loopback", "none")
NODE_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
MIN_TOKEN_LENGTH = 16  # bearer tokens shorter than this are refused: guessable


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Config:
    """Build the configuration; raises ConfigError naming the bad key or file."""
    data = _read(path) if path is not None else {}
    unknown = set(data) - _TOP_LEVEL
    if unknown:
        raise ConfigError(f"unknown section(s): {', '.join(sorted(unknown))}")
    environ = dict(os.environ) if environ is None else environ
    config = Config()
    for name, section_type in _SECTIONS.items():
        values = dict(_table(data.get(name, {}), f"[{name}]"))
        tables = {key: values.pop(key) for key in _TABLE_ARRAYS.get(name, ()) if key in values}
        said = set(values) | set(_env_keys(name, environ))
        section = _section(name, section_type, values, environ)
        if tables:
            section = replace(section, **_sip_tables(tables))
        if name == "server" and "workers" not in said:
            section = replace(section, workers=default_worker_count())
        config = replace(config, **{name: section})
    if "rooms" in data:
        config = replace(config, rooms=_rooms(data["rooms"]))
    radio = _table(data.get("radio", {}), "[radio]")
    if set(radio) - {"gateways"}:
        raise ConfigError(
            f"unknown key(s) in [radio]: {', '.join(sorted(set(radio) - {'gateways'}))}"
        )
    if "gateways" in radio:
        config = replace(config, radio_gateways=_radio_gateways(radio["gateways"]))
    try:
        webrtc = parse_webrtc_settings(_table(data.get("webrtc", {}), "[webrtc]"))
    except ValueError as error:
        raise ConfigError(str(error)) from None
    config = replace(config, webrtc=webrtc)
    try:
        gb_table = dict(_table(data.get("gb28181", {}), "[gb28181]"))
        upstream = gb_table.pop("upstream", [])
        gb28181 = parse_gb28181_settings(gb_table)
        upstreams = parse_upstreams(upstream, gb28181.server_id)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    config = replace(config, gb28181=gb28181, gb28181_upstreams=upstreams)
    config = _dispatch(_table(data.get("dispatch", {}), "[dispatch]"), config)
    auth = dict(_table(data.get("auth", {}), "[auth]"))
    tokens = [_token(entry) for entry in _array(auth.pop("tokens", []), "[[auth.tokens]]")]
    config = replace(config, auth=_section("auth", AuthSection, auth, environ))
    admin = environ.get("MEDIACORE_ADMIN_TOKEN")
    if admin:
        tokens.append(TokenEntry(_long_enough(admin, "MEDIACORE_ADMIN_TOKEN"), "admin", "admin"))
    return validate_config(replace(config, tokens=tuple(tokens)))


def validate_config(config: Config) -> Config:
    """Check values that are well typed but unusable; returns the config or raises."""
    server, rtp = config.server, config.rtp
    for key, port in (("server.http_port", server.http_port), ("sip.port", config.sip.port)):
        if not 1 <= port <= 65535:
            raise ConfigError(f"{key}: {port} is not a port number (1-65535)")
    if not 0 <= config.sip.tls_port <= 65535:
        raise ConfigError(f"sip.tls_port: {config.sip.tls_port} must be 0 (off) or a port number")
    for section, pair in (("server", (server.tls_cert, server.tls_key)),
                          ("sip", (config.sip.tls_cert, config.sip.tls_key))):  # fmt: skip
        if bool(pair[0]) != bool(pair[1]):
            raise ConfigError(f"{section}.tls_cert and {section}.tls_key go together: both or none")
    auth = config.auth
    if auth.session_minutes < 1 or auth.login_attempts < 1 or auth.login_window <= 0:
        raise ConfigError(
            "auth.session_minutes and auth.login_attempts must be at least 1, "
            "auth.login_window above 0"
        )
    if not 1024 <= rtp.port_min < rtp.port_max <= 65535 or rtp.port_max - rtp.port_min < 2:
        raise ConfigError(
            f"rtp.port_min/port_max: {rtp.port_min}-{rtp.port_max} must lie in 1024-65535, "
            "low below high, with room for at least one port pair"
        )
    if not 0 < rtp.timeout < 86400:
        raise ConfigError(f"rtp.timeout: {rtp.timeout} must be between 0 and 86400 seconds")
    sip = config.sip
    if not (sip.session_expires == 0 or 90 <= sip.min_se <= sip.session_expires <= 86400):
        raise ConfigError("sip.session_expires must be 0 or between sip.min_se (>= 90) and 86400")
    if not 0 <= sip.answer_delay <= 60:
        raise ConfigError("sip.answer_delay must be 0-60 seconds")
    if not 1 <= sip.ring_timeout <= 600:
        raise ConfigError("sip.ring_timeout must be 1-600 seconds")
    if not 10 <= sip.nonce_lifetime <= 86400:
        raise ConfigError("sip.nonce_lifetime must be 10-86400 seconds")
    if not sip.algorithms or set(sip.algorithms) - {"SHA-256", "MD5"}:
        raise ConfigError("sip.digest_algorithms must list SHA-256 and/or MD5, e.g. 'MD5,SHA-256'")
    if sip.auth_failure_limit < 1:
        raise ConfigError("sip.auth_failure_limit must be at least 1")
    if not (sip.keepalive_interval == 0 or 1 <= sip.keepalive_interval <= 3600):
        raise ConfigError("sip.keepalive_interval must be 0 (off) or 1-3600 seconds")
    if not 1 <= sip.tcp_max_per_address <= sip.tcp_max_connections <= 100_000:
        raise ConfigError(
            "sip.tcp_max_per_address and sip.tcp_max_connections must satisfy "
            "1 <= tcp_max_per_address <= tcp_max_connections <= 100000"
        )
    if min(sip.pin_failure_limit, sip.pin_room_failure_limit, sip.pin_calls_per_source) < 1:
        raise ConfigError("sip.pin_failure_limit, pin_room_failure_limit, pin_calls_per_source "
                          "must be at least 1")  # fmt: skip
    if not sip.pin_calls_per_source <= sip.pin_calls <= 10_000:
        raise ConfigError("sip.pin_calls must be between pin_calls_per_source and 10000")
    if not (sip.message_console and is_token(sip.message_console)):
        raise ConfigError("sip.message_console must be a SIP user name, e.g. 'dispatch'")
    if not 1 <= sip.message_max_chars <= 10_000:
        raise ConfigError("sip.message_max_chars must be 1-10000")
    if not 1 <= sip.message_timeout <= 64:
        raise ConfigError("sip.message_timeout must be 1-64 seconds")
    if sip.srtp not in SRTP_MODES:
        raise ConfigError(f"sip.srtp must be one of {', '.join(SRTP_MODES)}")
    if not 1 <= sip.pin_lockout <= 86400:
        raise ConfigError("sip.pin_lockout must be 1-86400 seconds")
    if not 1 <= sip.tcp_message_timeout <= sip.tcp_idle_timeout <= 86400:
        raise ConfigError(
            "sip.tcp_message_timeout and sip.tcp_idle_timeout must satisfy "
            "1 <= tcp_message_timeout <= tcp_idle_timeout <= 86400 seconds"
        )
    if not 0 <= server.workers <= 256:
        raise ConfigError(f"server.workers: {server.workers} must be 0 (in-process) to 256")
    if not 1 <= server.max_legs_per_shard <= 2000:
        raise ConfigError("server.max_legs_per_shard must be 1-2000")
    if not -20 <= server.media_nice <= 0:
        raise ConfigError("server.media_nice must be -20 to 0")
    if server.workers and (rtp.port_max - rtp.port_min + 1) // server.workers < 4:
        raise ConfigError(
            f"rtp.port_min/port_max: {rtp.port_max - rtp.port_min + 1} ports are too few for "
            f"{server.workers} workers"
        )
    if server.plain_http not in PLAIN_HTTP:
        raise ConfigError(f"server.plain_http: {server.plain_http!r} is not one of {PLAIN_HTTP}")
    if server.log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"server.log_level: {server.log_level!r} is not one of {LOG_LEVELS}")
    if server.log_format not in LOG_FORMATS:
        raise ConfigError(f"server.log_format: {server.log_format!r} is not one of {LOG_FORMATS}")
    if not 1024 <= server.max_body_bytes <= 1024**3:
        raise ConfigError("server.max_body_bytes must be 1024 bytes to 1 GiB")
    if not 1 <= server.max_websockets_per_address <= 100_000:
        raise ConfigError("server.max_websockets_per_address must be 1-100000")
    if not 1 <= server.max_exports_per_address <= 1000:
        raise ConfigError("server.max_exports_per_address must be 1-1000")
    if server.metrics_token:
        _long_enough(server.metrics_token, "server.metrics_token")
    try:
        outbound_networks(config.outbound)
    except ValueError as error:
        raise ConfigError(f"[outbound]: {error}") from None
    _validate_cluster(config.cluster, config.server.host)
    recordings = (config.data_dir / "recordings").resolve()
    if config.signing_key_path.resolve().is_relative_to(recordings):
        raise ConfigError("recording.signing_key must lie outside the data dir's recordings/")
    shared = config.recording.shared_dir
    if shared and config.signing_key_path.resolve().is_relative_to(Path(shared).resolve()):
        raise ConfigError("recording.signing_key must lie outside recording.shared_dir")
    return config


def _validate_cluster(cluster: ClusterSection, host: str) -> None:
    if not cluster.enabled:
        return
    parsed = urlsplit(cluster.redis)
    if parsed.scheme not in ("redis", "rediss") or not parsed.hostname:
        raise ConfigError(f"cluster.redis: {cluster.redis!r} is not redis://HOST:PORT/DB")
    if cluster.node and not NODE_NAME.fullmatch(cluster.node):
        raise ConfigError(f"cluster.node: {cluster.node!r} must be 1-32 letters, digits, - or _")
    if not 100 <= cluster.heartbeat_ms <= cluster.dead_after_ms // 2 <= 30_000:
        raise ConfigError(
            "cluster.heartbeat_ms and cluster.dead_after_ms must satisfy "
            "100 <= heartbeat_ms <= dead_after_ms / 2 <= 30000"
        )
    if not cluster.advertise and host in ("", "0.0.0.0", "::"):
        raise ConfigError(
            "cluster.advertise: the address other nodes reach this node at is needed when "
            f"[server] host is {host!r} (give --advertise ADDR)"
        )
    if not 0 <= cluster.max_legs_per_node <= 100_000:
        raise ConfigError("cluster.max_legs_per_node must be 0-100000")


def default_worker_count() -> int:
    """One media worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _env_keys(section: str, environ: dict[str, str]) -> list[str]:
    """The keys of `section` the environment overrides (MEDIACORE_<SECTION>_<KEY>)."""
    prefix = f"MEDIACORE_{section.upper()}_"
    return [name[len(prefix) :].lower() for name in environ if name.startswith(prefix)]


def outbound_networks(section: OutboundSection) -> NetworkPolicy:
    """The [outbound] section as a policy. Raises ValueError (a bad CIDR)."""
    return NetworkPolicy.parse(
        section.allow_networks, section.deny_networks, allow_loopback=section.allow_loopback
    )


def _long_enough(token: str, where: str) -> str:
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"{where}: a token must be at least {MIN_TOKEN_LENGTH} characters "
            "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
        )
    return token


def _read(path: str | Path) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"config file {path} is not UTF-8 text") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from error


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table")
    return value


def _array(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be an array of tables")
    return value


def _section(name: str, section_type: type, values: dict[str, Any], environ: dict[str, str]) -> Any:
    defaults = section_type()
    known = {f.name for f in fields(section_type)} - set(_TABLE_ARRAYS.get(name, ()))
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [{name}]: {', '.join(sorted(unknown))}")
    for key in sorted(known):
        override = environ.get(f"MEDIACORE_{name.upper()}_{key.upper()}")
        if override is not None:
            values[key] = override
        if key in values:
            values[key] = _coerce(f"{name}.{key}", values[key], type(getattr(defaults, key)))
    return section_type(**values)


def _coerce(key: str, value: Any, kind: type) -> Any:
    """Check a file value's type, or parse an environment string; never convert silently."""
    if isinstance(value, str) and kind is not str:
        return _parse(key, value, kind)
    ok = _has_type(value, kind)
    if not ok:
        raise ConfigError(f"{key}: expected {kind.__name__}, got {value!r}")
    return float(value) if kind is float else value


def _has_type(value: Any, kind: type) -> bool:
    if isinstance(value, bool):  # TOML true/false is only a bool, never the number 1 or 0
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


def _parse(key: str, text: str, kind: type) -> Any:
    try:
        if kind is bool:
            words = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
            return words[text.strip().lower()]
        if kind is int:
            return int(text.strip())
        number = float(text.strip())
        if not math.isfinite(number):
            raise ValueError(text)
        return number
    except (KeyError, ValueError) as error:
        raise ConfigError(f"{key}: expected {kind.__name__}, got {text!r}") from error


def _rooms(value: Any) -> tuple[RoomSettings, ...]:
    rooms = tuple(_room(entry) for entry in _array(value, "[[rooms]]"))
    names = [room.name for room in rooms]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"[[rooms]] names must be unique: {', '.join(duplicates)}")
    return rooms


def _room(entry: Any) -> RoomSettings:
    if not isinstance(entry, dict) or "name" not in entry:
        raise ConfigError("every [[rooms]] table needs a name")
    try:
        if entry.get("video") is not None:  # the composed picture's settings, completed
            entry = {**entry, "video": normalized(entry["video"])}
        return RoomSettings(**entry).validate()
    except (TypeError, ValueError) as error:
        raise ConfigError(f"[[rooms]] {entry.get('name')!r}: {error}") from error


def _dispatch(dispatch: dict[str, Any], config: Config) -> Config:
    if set(dispatch) - _DISPATCH_KEYS:
        unknown = ", ".join(sorted(set(dispatch) - _DISPATCH_KEYS))
        raise ConfigError(f"unknown key(s) in [dispatch]: {unknown}")
    if "groups" in dispatch:
        book = PartyBook.of(config.sip, config.radio_gateways)
        try:
            config = replace(config, dispatch_groups=configured_groups(dispatch["groups"], book))
        except ValueError as error:
            raise ConfigError(str(error)) from None
    return config


def _radio_gateways(value: Any) -> tuple[RadioGateway, ...]:
    gateways = tuple(_radio_gateway(entry) for entry in _array(value, "[[radio.gateways]]"))
    if len({gateway.name for gateway in gateways}) != len(gateways):
        raise ConfigError("[[radio.gateways]] names must be unique")
    return gateways


def _radio_gateway(entry: Any) -> RadioGateway:
    keys = {"name", "uri", "room", "mode", "priority", "srtp", "nat"}
    if not isinstance(entry, dict) or set(entry) - keys:
        raise ConfigError(f"[[radio.gateways]] takes {', '.join(sorted(keys))}")
    name, uri, room = (entry.get(key) for key in ("name", "uri", "room"))
    texts = (name, uri, room)
    if not (isinstance(name, str) and isinstance(uri, str) and isinstance(room, str)) or not all(
        texts
    ):
        raise ConfigError("[[radio.gateways]] needs a name, a sip: uri and a room")
    try:
        SipUri.parse(uri)
    except SipSyntaxError as error:
        raise ConfigError(f"[[radio.gateways]] {name!r}: bad uri: {error}") from None
    mode = entry.get("mode", "txrx")
    if mode not in ("txrx", "rx", "tx"):
        raise ConfigError(f"[[radio.gateways]] {name!r}: mode must be txrx, rx or tx")
    priority = entry.get("priority", 0)
    if isinstance(priority, bool) or priority not in PRIORITIES:
        raise ConfigError(f"[[radio.gateways]] {name!r}: priority must be 0-3")
    srtp, nat = _media_keys(entry, f"[[radio.gateways]] {name!r}")
    return RadioGateway(name, uri, room, mode, priority, srtp, nat)


def _token(entry: Any) -> TokenEntry:
    if not isinstance(entry, dict) or not entry.get("token") or entry.get("role") not in ROLES:
        raise ConfigError(f"[[auth.tokens]] needs a token and a role among {', '.join(ROLES)}")
    if not isinstance(entry["token"], str) or set(entry) - {"token", "role", "name"}:
        raise ConfigError("[[auth.tokens]] takes a string token, a role and an optional name")
    token = _long_enough(entry["token"], "[[auth.tokens]] token")
    return TokenEntry(token, entry["role"], str(entry.get("name", "")))


def _sip_tables(tables: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if "users" in tables:
        users = tuple(_sip_user(entry) for entry in _array(tables["users"], "[[sip.users]]"))
        names = [user.user for user in users]
        if len(set(names)) != len(names):
            raise ConfigError("[[sip.users]] user names must be unique")
        result["users"] = users
    if "trunks" in tables:
        trunks = tuple(_sip_trunk(entry) for entry in _array(tables["trunks"], "[[sip.trunks]]"))
        if len({trunk.name for trunk in trunks}) != len(trunks):
            raise ConfigError("[[sip.trunks]] names must be unique")
        accounts = [trunk.username for trunk in trunks if trunk.inbound == "digest"]
        taken = set(accounts) & {user.user for user in result.get("users", ())}
        if taken or len(set(accounts)) != len(accounts):
            raise ConfigError(
                '[[sip.trunks]] with inbound = "digest" need usernames of their own, '
                "not those of [[sip.users]] or of another trunk"
            )
        result["trunks"] = trunks
    return result


def _sip_user(entry: Any) -> SipUser:
    keys = {"user", "password", "role", "name", "digest_algorithms", "srtp", "nat"}
    if not isinstance(entry, dict) or set(entry) - keys:
        raise ConfigError(
            "[[sip.users]] takes user, password, role, and optionally name, digest_algorithms, "
            "srtp and nat"
        )
    user, password = entry.get("user"), entry.get("password")
    if not isinstance(user, str) or not user or not all(c.isalnum() or c in "-_.+" for c in user):
        raise ConfigError(
            f"[[sip.users]] user {user!r} must be letters, digits, '-', '_', '.', '+'"
        )
    if not isinstance(password, str) or not password:
        raise ConfigError(f"[[sip.users]] {user!r} needs a password")
    role = entry.get("role", "operator")
    if role not in ROLES:
        raise ConfigError(f"[[sip.users]] {user!r}: role must be one of {', '.join(ROLES)}")
    algorithms = entry.get("digest_algorithms", "")
    if not isinstance(algorithms, str) or set(parse_algorithms(algorithms)) - {"SHA-256", "MD5"}:
        raise ConfigError(f"[[sip.users]] {user!r}: digest_algorithms must list SHA-256 and/or MD5")
    srtp, nat = _media_keys(entry, f"[[sip.users]] {user!r}")
    return SipUser(user, password, role, str(entry.get("name", "")), algorithms, srtp, nat)


def _media_keys(entry: dict[str, Any], where: str) -> tuple[str, bool]:
    """An account's, trunk's or gateway's `srtp` (empty: the server's) and `nat`."""
    srtp, nat = entry.get("srtp", ""), entry.get("nat", False)
    if srtp not in ("", *SRTP_MODES):
        raise ConfigError(f"{where}: srtp must be one of {', '.join(SRTP_MODES)}")
    if not isinstance(nat, bool):
        raise ConfigError(f"{where}: nat must be true or false")
    return srtp, nat


def _sip_trunk(entry: Any) -> SipTrunk:
    known = {f.name for f in fields(SipTrunk)}
    if not isinstance(entry, dict) or set(entry) - known or not entry.get("name"):
        raise ConfigError(f"[[sip.trunks]] needs a name and takes {', '.join(sorted(known))}")
    for key, value in entry.items():
        expected = type(getattr(SipTrunk("x", "sip:x"), key))
        if not _has_type(value, expected):
            raise ConfigError(
                f"[[sip.trunks]] {entry['name']!r}: {key} must be {expected.__name__}"
            )
    proxy = entry.get("proxy", "")
    if not isinstance(proxy, str) or not proxy.startswith(("sip:", "sips:")):
        raise ConfigError(f"[[sip.trunks]] {entry['name']!r}: proxy must be a sip: URI")
    if not 60 <= entry.get("expires", 3600) <= 86400:
        raise ConfigError(f"[[sip.trunks]] {entry['name']!r}: expires must be 60-86400")
    inbound = entry.get("inbound", "address")
    if inbound not in INBOUND_MODES:
        raise ConfigError(
            f"[[sip.trunks]] {entry['name']!r}: inbound must be one of {', '.join(INBOUND_MODES)}"
        )
    _media_keys(entry, f"[[sip.trunks]] {entry['name']!r}")
    if inbound == "digest" and not (entry.get("username") and entry.get("password")):
        raise ConfigError(
            f'[[sip.trunks]] {entry["name"]!r}: inbound = "digest" needs username and password'
        )
    return SipTrunk(**entry)
