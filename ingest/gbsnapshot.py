"""A registered GB/T 28181 device as plain JSON-able records, and back, for ingest.gbstore.

No I/O here. Times in the table are monotonic seconds, which mean nothing to the next process,
so a record keeps wall-clock (Unix) times and a restored device gets its registration's expiry
back on the new monotonic clock. A restored device is offline: it comes back online when it
registers again, or when it sends a keepalive from the same host while its registration has
not expired (GB/T 28181-2016 section 9.6 keeps a device registered for its Expires, whoever
restarted; ingest.gbdevices.GbDeviceTable.keepalive). Fields added to the MANSCDP dataclasses
later are filled with their defaults when an older record is read; unknown fields are skipped.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from ingest.gbdevices import GbDevice
from ingest.manscdp import CatalogItem, DeviceInfoResponse
from sip.transaction import Peer

_T = TypeVar("_T")
MAX_TEXT = 256  # characters kept of any text read back (the parsers' own bound)


class SnapshotError(ValueError):
    """A stored record that cannot be a device (edited by hand, or from a broken write)."""


def device_record(device: GbDevice, now: float, wall_now: float) -> dict[str, Any]:
    """What is kept of `device` (channels apart: see `channel_record`)."""
    source = device.source
    return {
        "name": device.name,
        "user_agent": device.user_agent,
        "contact": device.contact,
        "source": [source.transport, source.host, source.port],
        "registered_at": device.registered_at,
        "expires_at": wall_now + (device.expires_at - now),
        "info": dataclasses.asdict(device.info) if device.info is not None else None,
        "catalog_total": device.catalog_total,
    }


def channel_record(item: CatalogItem) -> dict[str, Any]:
    return dataclasses.asdict(item)


def restore_device(
    device_id: str,
    record: dict[str, Any],
    channels: list[dict[str, Any]],
    *,
    now: float,
    wall_now: float,
) -> GbDevice:
    """The device `record` describes, offline, with `channels` (unreadable ones skipped).
    Raises SnapshotError for a record without a readable source or expiry."""
    try:
        transport, host, port = record["source"]
        source = Peer(_text(transport), _text(host), int(port))
        device = GbDevice(
            id=device_id,
            source=source,
            contact=_text(record.get("contact", "")),
            expires_at=now + (float(record["expires_at"]) - wall_now),
            last_keepalive=now,
            registered_at=float(record.get("registered_at", 0.0)),
            name=_text(record.get("name", "")),
            user_agent=_text(record.get("user_agent", "")),
            state="offline",
        )
    except (KeyError, TypeError, ValueError) as error:
        raise SnapshotError(f"device {device_id}: unreadable record ({error})") from None
    if not 0 < source.port < 65536 or source.transport not in ("udp", "tcp", "tls"):
        raise SnapshotError(f"device {device_id}: bad source {record['source']!r}")
    info = record.get("info")
    if isinstance(info, dict):
        device.info = _dataclass(DeviceInfoResponse, info)
    total = record.get("catalog_total")
    device.catalog_total = total if isinstance(total, int) else None
    for fields in channels:
        item = _dataclass(CatalogItem, fields)
        if item is not None and isinstance(item.device_id, str):
            device.channels[item.device_id] = item
    return device


def _dataclass(kind: type[_T], fields: dict[str, Any]) -> _T | None:
    """`kind` built from the stored `fields` it has, or None when they do not fit it."""
    names = {f.name for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    known = {k: v[:MAX_TEXT] if isinstance(v, str) else v for k, v in fields.items() if k in names}
    try:
        return kind(**known)
    except TypeError:  # a field it needs is missing
        return None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{type(value).__name__} where text was stored")
    return value[:MAX_TEXT]
