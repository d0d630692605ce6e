"""The `[[gb28181.upstream]]` tables: upper platforms (上级平台, city or ministry) this server
registers to as a lower platform (下级平台) for cascade (级联).

Each names the upper platform's SIP identity (`server_id`, `domain`), where it listens
(`address`, `port`, `transport`), the password it gave us, and the id we use towards it
(`local_id`, by default our own `[gb28181] server_id`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ingest.gbsettings import is_gb_id

_DOMAIN = re.compile(r"[0-9]{10}")
_HOST = re.compile(r"[A-Za-z0-9._:-]{1,253}")
_KEYS = frozenset(
    {
        "server_id",
        "domain",
        "address",
        "port",
        "password",
        "local_id",
        "transport",
        "expires",
        "keepalive_interval",
        "keepalive_misses",
        "name",
    }
)
MAX_UPSTREAMS = 16


@dataclass(frozen=True, slots=True)
class GbUpstream:
    """One upper platform. `expires` is the registration we ask for (refreshed before it
    runs out); a keepalive MESSAGE goes every `keepalive_interval` seconds, and after
    `keepalive_misses` unanswered ones in a row the platform counts as lost: we register
    again, with back-off."""

    server_id: str
    domain: str
    address: str
    port: int
    password: str
    local_id: str
    transport: str = "udp"
    expires: int = 3600
    keepalive_interval: float = 60.0
    keepalive_misses: int = 3
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.server_id


def parse_upstreams(value: Any, server_id: str) -> tuple[GbUpstream, ...]:
    """Read the `[[gb28181.upstream]]` array; `server_id` is our own (the default local_id).
    Raises ValueError naming the bad entry and key."""
    if not isinstance(value, list):
        raise ValueError("[[gb28181.upstream]] must be an array of tables")
    if value and not server_id:
        raise ValueError("[[gb28181.upstream]] needs [gb28181] with our domain and server_id")
    if len(value) > MAX_UPSTREAMS:
        raise ValueError(f"at most {MAX_UPSTREAMS} [[gb28181.upstream]] tables")
    upstreams = tuple(_upstream(entry, server_id) for entry in value)
    if len({u.server_id for u in upstreams}) != len(upstreams):
        raise ValueError("[[gb28181.upstream]] server_id values must be unique")
    return upstreams


def _upstream(entry: Any, default_local_id: str) -> GbUpstream:
    if not isinstance(entry, dict):
        raise ValueError("[[gb28181.upstream]] must be an array of tables")
    where = f"[[gb28181.upstream]] {str(entry.get('server_id', ''))[:24]!r}"
    unknown = set(entry) - _KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    server_id = entry.get("server_id")
    if not isinstance(server_id, str) or not is_gb_id(server_id):
        raise ValueError(f"{where}: server_id must be the upper platform's 20-digit id")
    domain = entry.get("domain", server_id[:10])
    if not isinstance(domain, str) or not _DOMAIN.fullmatch(domain):
        raise ValueError(f"{where}: domain must be the upper platform's 10-digit SIP domain")
    address = entry.get("address")
    if not isinstance(address, str) or not _HOST.fullmatch(address):
        raise ValueError(f"{where}: address must be the upper platform's host name or IP")
    port = entry.get("port", 5060)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"{where}: port must be 1-65535")
    password = entry.get("password", "")
    if not isinstance(password, str):
        raise ValueError(f"{where}: password must be a string")
    local_id = entry.get("local_id", default_local_id)
    if not isinstance(local_id, str) or not is_gb_id(local_id):
        raise ValueError(f"{where}: local_id must be our 20-digit id towards it")
    transport = entry.get("transport", "udp")
    if transport not in ("udp", "tcp"):
        raise ValueError(f"{where}: transport must be udp or tcp")
    expires = entry.get("expires", 3600)
    if isinstance(expires, bool) or not isinstance(expires, int) or not 30 <= expires <= 86400:
        raise ValueError(f"{where}: expires must be 30-86400 seconds")
    interval = entry.get("keepalive_interval", 60.0)
    if isinstance(interval, bool) or not isinstance(interval, int | float):
        raise ValueError(f"{where}: keepalive_interval must be a number of seconds")
    if not 0.1 <= float(interval) <= 3600:
        raise ValueError(f"{where}: keepalive_interval must be 0.1-3600 seconds")
    misses = entry.get("keepalive_misses", 3)
    if isinstance(misses, bool) or not isinstance(misses, int) or not 1 <= misses <= 100:
        raise ValueError(f"{where}: keepalive_misses must be an integer 1-100")
    name = entry.get("name", "")
    if not isinstance(name, str) or len(name) > 64:
        raise ValueError(f"{where}: name must be a string of at most 64 characters")
    return GbUpstream(
        server_id,
        domain,
        address,
        port,
        password,
        local_id,
        transport,
        expires,
        float(interval),
        misses,
        name,
    )
