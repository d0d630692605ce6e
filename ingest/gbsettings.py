"""The `[gb28181]` configuration: this platform's SIP identity and the devices that may register.

GB/T 28181 ids are 20 decimal digits: the first 10 are the SIP domain (区域编码 + 行业编码), then
a 3-digit type (e.g. 200 for a platform, 131/132 for cameras) and a serial number. The digest
realm is the 10-digit domain, as devices expect it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingest.gbsubscriptions import (
    SUBSCRIPTION_KEYS,
    GbSubscriptionSettings,
    parse_subscription_settings,
)
from ingest.gbtalkback import TalkbackDuplex, parse_talkback_duplex

_ID = re.compile(r"[0-9]{20}")
_DOMAIN = re.compile(r"[0-9]{10}")
_DEVICE_KEYS = frozenset({"id", "password", "name"})
_KEYS = frozenset(
    {
        "domain",
        "server_id",
        "time_zone",
        "password",
        "allow_shared_password",
        "keepalive_interval",
        "keepalive_misses",
        "devices",
        "talkback_duplex",
        "digest_algorithms",
    }
    | SUBSCRIPTION_KEYS
)
DIGEST_ALGORITHMS = ("SHA-256", "MD5")  # RFC 8760: what a challenge may offer


def is_gb_id(text: str) -> bool:
    """Whether `text` is a 20-digit GB/T 28181 id (device, channel or platform)."""
    return bool(_ID.fullmatch(text))


@dataclass(frozen=True, slots=True)
class GbDeviceAccount:
    """A device listed in `[[gb28181.devices]]`: its own password and a display name."""

    id: str
    password: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class GbSettings:
    """Empty `domain` means GB/T 28181 is off. `password` is the shared device password:
    listed devices without a password of their own use it, and unlisted ones too while
    `allow_shared_password` (the default, for configs that list no device). A listed device's
    own password replaces it. A device is offline after `keepalive_misses` keepalive
    intervals without one."""

    domain: str = ""
    server_id: str = ""
    password: str = ""
    keepalive_interval: float = 60.0
    keepalive_misses: int = 3
    devices: tuple[GbDeviceAccount, ...] = ()
    allow_shared_password: bool = True
    subscriptions: GbSubscriptionSettings = field(default_factory=GbSubscriptionSettings)
    talkback_duplex: TalkbackDuplex = "full"
    # challenged in this order; GB/T 28181-2016 devices answer MD5, 2022 ones may take SHA-256
    digest_algorithms: tuple[str, ...] = ("MD5",)
    # the devices' clocks: MANSCDP times (recordings) and the Date of REGISTER answers
    time_zone: str = "UTC"

    @property
    def enabled(self) -> bool:
        return bool(self.domain)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def password_for(self, device_id: str) -> str | None:
        """The password `device_id` must prove, or None when it may not register."""
        account = next((d for d in self.devices if d.id == device_id), None)
        if account is not None and account.password:
            return account.password
        if account is None and not self.allow_shared_password:
            return None
        return self.password or None

    def has_own_password(self, device_id: str) -> bool:
        """Whether `device_id` proves a password of its own, which no other device knows:
        only then may it take its registration over from another address."""
        return any(d.id == device_id and d.password for d in self.devices)

    def is_listed(self, device_id: str) -> bool:
        return any(d.id == device_id for d in self.devices)

    def name_for(self, device_id: str) -> str:
        account = next((d for d in self.devices if d.id == device_id), None)
        return account.name if account is not None else ""


def parse_gb28181_settings(table: dict[str, Any]) -> GbSettings:
    """Read the `[gb28181]` table. Raises ValueError naming the bad key."""
    unknown = set(table) - _KEYS
    if unknown:
        raise ValueError(f"unknown key(s) in [gb28181]: {', '.join(sorted(unknown))}")
    if not table:
        return GbSettings()
    domain = table.get("domain")
    if not isinstance(domain, str) or not _DOMAIN.fullmatch(domain):
        raise ValueError("gb28181.domain must be the 10-digit SIP domain id, e.g. '3402000000'")
    server_id = table.get("server_id", f"{domain}2000000001")
    if not isinstance(server_id, str) or not is_gb_id(server_id):
        raise ValueError("gb28181.server_id must be a 20-digit id, e.g. '34020000002000000001'")
    password = table.get("password", "")
    if not isinstance(password, str):
        raise ValueError("gb28181.password must be a string")
    interval = table.get("keepalive_interval", 60.0)
    if isinstance(interval, bool) or not isinstance(interval, int | float):
        raise ValueError("gb28181.keepalive_interval must be a number of seconds")
    if not 0.1 <= float(interval) <= 3600:
        raise ValueError("gb28181.keepalive_interval must be 0.1-3600 seconds")
    misses = table.get("keepalive_misses", 3)
    if isinstance(misses, bool) or not isinstance(misses, int) or not 1 <= misses <= 100:
        raise ValueError("gb28181.keepalive_misses must be an integer 1-100")
    shared = table.get("allow_shared_password", True)
    if not isinstance(shared, bool):
        raise ValueError("gb28181.allow_shared_password must be true or false")
    devices = tuple(_device(entry) for entry in _list(table.get("devices", [])))
    if len({d.id for d in devices}) != len(devices):
        raise ValueError("[[gb28181.devices]] ids must be unique")
    if not password and (not devices or not all(d.password for d in devices)):
        raise ValueError("gb28181.password is needed unless every listed device has its own")
    if not shared and not devices:
        raise ValueError(
            "gb28181.allow_shared_password = false admits listed devices only: "
            "add [[gb28181.devices]]"
        )
    algorithms = _algorithms(table.get("digest_algorithms", ["MD5"]))
    return GbSettings(
        domain,
        server_id,
        password,
        float(interval),
        misses,
        devices,
        shared,
        subscriptions=parse_subscription_settings(table),
        talkback_duplex=parse_talkback_duplex(table),
        digest_algorithms=algorithms,
        time_zone=_time_zone(table.get("time_zone", "UTC")),
    )


def _time_zone(value: Any) -> str:
    """`time_zone`: an IANA zone name such as "Asia/Shanghai" (the devices' wall clocks)."""
    try:
        ZoneInfo(value)
    except (ValueError, TypeError, ZoneInfoNotFoundError):
        raise ValueError(
            f"gb28181.time_zone {str(value)[:40]!r} is not a time zone such as 'Asia/Shanghai'"
        ) from None
    return str(value)


def _algorithms(value: Any) -> tuple[str, ...]:
    """`digest_algorithms`: a non-empty list of "SHA-256" and/or "MD5", each once."""
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(name, str) for name in value)
        or len(set(value)) != len(value)
    ):
        raise ValueError('gb28181.digest_algorithms must be a list such as ["SHA-256", "MD5"]')
    unknown = [name for name in value if name not in DIGEST_ALGORITHMS]
    if unknown:
        raise ValueError(
            f"gb28181.digest_algorithms: {unknown[0][:20]!r} is not one of "
            f"{', '.join(DIGEST_ALGORITHMS)}"
        )
    return tuple(value)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("[[gb28181.devices]] must be an array of tables")
    return value


def _device(entry: Any) -> GbDeviceAccount:
    if not isinstance(entry, dict) or set(entry) - _DEVICE_KEYS:
        raise ValueError("[[gb28181.devices]] takes id, password and name")
    device_id, password, name = entry.get("id"), entry.get("password", ""), entry.get("name", "")
    if not isinstance(device_id, str) or not is_gb_id(device_id):
        raise ValueError(f"[[gb28181.devices]] id {device_id!r} must be 20 digits")
    if not isinstance(password, str) or not isinstance(name, str):
        raise ValueError(f"[[gb28181.devices]] {device_id}: password and name must be strings")
    return GbDeviceAccount(device_id, password, name)
