"""What this server shows an upper platform: its catalog (目录) and its answers to DeviceInfo
and DeviceStatus queries. No I/O.

The catalog holds the channels of the devices registered below us, as they reported them
(their own 20-digit ids: an upper platform's PTZ and INVITEs for them come back to us and go
on to the device), and one channel per LED wall of our own. A wall's id is ours: the first 10
digits of our `local_id` (the domain), type 131 (camera: upper platforms play it as one), and a
serial number of 9 and six digits taken from a hash of the wall's name, so it stays the same
across restarts. Each open room's composed conference picture (会议画面) is a channel the same
way, its serial number 8 and six digits from the room's name. Catalogs go out a few items per
MESSAGE (GB/T 28181-2016 A.2.6.2: every MESSAGE carries the total `SumNum`), as devices and
WVP send them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime

from ingest.gbrecords import RecordInfoResponse, RecordItem
from ingest.manscdp import CatalogItem, CatalogResponse

CATALOG_PAGE = 4  # items per MESSAGE: a few KB, well under a UDP datagram's limit
RECORD_PAGE = 8  # recordings per MESSAGE (each about 400 bytes)
WALL_TYPE = "131"
WALL_LEAD = "9"  # first serial digit of a wall's channel
ROOM_LEAD = "8"  # first serial digit of a room's channel
MAX_CATALOG = 4096


@dataclass(frozen=True, slots=True)
class WallChannel:
    """One of our walls as a channel: `playable` when it has a picture we can send."""

    channel_id: str
    wall: str
    playable: bool


@dataclass(frozen=True, slots=True)
class RoomChannel:
    """One of our rooms' composed conference picture as a channel."""

    channel_id: str
    room: str


def _named_ids(local_id: str, names: list[str], lead: str) -> dict[str, str]:
    """name → channel id under `local_id`'s domain, type WALL_TYPE, serial `lead` and six
    digits from a hash of the name; colliding ones take the next free serial."""
    taken: set[str] = set()
    ids = {}
    for name in sorted(names):
        digest = hashlib.sha256(name.encode()).digest()
        serial = int.from_bytes(digest[:4], "big") % 1_000_000
        while (channel_id := f"{local_id[:10]}{WALL_TYPE}{lead}{serial:06d}") in taken:
            serial = (serial + 1) % 1_000_000
        taken.add(channel_id)
        ids[name] = channel_id
    return ids


def wall_channels(local_id: str, walls: dict[str, bool]) -> list[WallChannel]:
    """Channels for `walls` (name → playable) under `local_id`'s domain, in name order; ids
    derive from the names, colliding ones take the next free serial."""
    ids = _named_ids(local_id, list(walls), WALL_LEAD)
    return [WallChannel(ids[name], name, walls[name]) for name in sorted(walls)]


def room_channels(local_id: str, rooms: list[str]) -> list[RoomChannel]:
    """Channels for the open `rooms`' composed pictures, in name order (serials 8xxxxxx)."""
    ids = _named_ids(local_id, rooms, ROOM_LEAD)
    return [RoomChannel(ids[name], name) for name in sorted(ids)]


def room_items(local_id: str, channels: list[RoomChannel]) -> list[CatalogItem]:
    return [
        CatalogItem(
            channel.channel_id,
            name=channel.room,
            manufacturer="mediacore",
            model="conference",
            status="ON",
            parent_id=local_id,
            civil_code=local_id[:6],
        )
        for channel in channels
    ]


def wall_items(local_id: str, channels: list[WallChannel]) -> list[CatalogItem]:
    return [
        CatalogItem(
            channel.channel_id,
            name=f"wall {channel.wall}",
            manufacturer="mediacore",
            model="LED wall",
            status="ON" if channel.playable else "OFF",
            parent_id=local_id,
            civil_code=local_id[:6],
        )
        for channel in channels
    ]


def device_items(channels: list[CatalogItem], online: bool) -> list[CatalogItem]:
    """A device's channels as we pass them up: OFF while the device is offline."""
    return [item if online else replace(item, status="OFF") for item in channels]


def catalog_pages(
    local_id: str, sn: int, items: list[CatalogItem], page: int = CATALOG_PAGE
) -> list[CatalogResponse]:
    """The catalog answer to query `sn`: one Response per `page` items, each with the total;
    an empty catalog is one Response with SumNum 0."""
    items = items[:MAX_CATALOG]
    if not items:
        return [CatalogResponse(local_id, sn, 0, ())]
    return [
        CatalogResponse(local_id, sn, len(items), tuple(items[start : start + page]))
        for start in range(0, len(items), page)
    ]


def record_pages(
    channel_id: str, sn: int, items: list[RecordItem], page: int = RECORD_PAGE
) -> list[RecordInfoResponse]:
    """A device's recordings as our answer to the upper platform's RecordInfo query `sn`: one
    Response per `page` items, each with the total; none found is one Response with SumNum 0."""
    if not items:
        return [RecordInfoResponse(channel_id, sn, 0)]
    return [
        RecordInfoResponse(channel_id, sn, len(items), items=tuple(items[start : start + page]))
        for start in range(0, len(items), page)
    ]


def device_status_body(
    device_id: str, sn: int, online: bool, now: datetime, encoding: str = "GB2312"
) -> bytes:
    """Response/DeviceStatus (GB/T 28181-2016 A.2.6.5) for `device_id`; ids are digits, so
    nothing here needs escaping."""
    lines = [
        f'<?xml version="1.0" encoding="{encoding}"?>',
        "<Response>",
        "<CmdType>DeviceStatus</CmdType>",
        f"<SN>{sn}</SN>",
        f"<DeviceID>{device_id}</DeviceID>",
        "<Result>OK</Result>",
        f"<Online>{'ONLINE' if online else 'OFFLINE'}</Online>",
        "<Status>OK</Status>",
        "<Encode>ON</Encode>",
        "<Record>OFF</Record>",
        f"<DeviceTime>{now.strftime('%Y-%m-%dT%H:%M:%S')}</DeviceTime>",
        "</Response>",
        "",
    ]
    return "\r\n".join(lines).encode("ascii")
