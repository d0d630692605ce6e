"""MANSCDP for subscriptions, alarms, positions and voice broadcast (GB/T 28181 annex A).

What a platform subscribes with (a Query with CmdType Catalog, Alarm or MobilePosition in the
body of a SUBSCRIBE), what devices push (Notify Catalog with an Event per item, Notify Alarm,
Notify MobilePosition, in a NOTIFY of the subscription or in a plain MESSAGE), how an alarm is
acknowledged (Response Alarm), and the voice broadcast notify (Notify Broadcast with SourceID
and TargetID) with the device's Response.

No I/O, and the same bounded, DTD-refusing XML reading as ingest.manscdp: bytes in, frozen
dataclasses out, and back.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ingest.manscdp import (
    CatalogItem,
    ManscdpError,
    _add,
    _degrees,
    _int,
    _parse_xml,
    _text,
    add_catalog_item,
    catalog_item,
    list_items,
    new_document,
    required_int,
    write_document,
)

SubscriptionKind = Literal["Catalog", "Alarm", "MobilePosition"]
SUBSCRIPTION_KINDS: tuple[SubscriptionKind, ...] = ("Catalog", "Alarm", "MobilePosition")
# Catalog Notify item events (GB/T 28181-2016 A.2.5.3): ON/OFF online state, VLOST video
# lost, DEFECT fault, ADD/DEL/UPDATE the channel list itself.
CATALOG_EVENTS = frozenset({"ON", "OFF", "VLOST", "DEFECT", "ADD", "DEL", "UPDATE"})
MAX_INTERVAL = 3600


@dataclass(frozen=True, slots=True)
class SubscriptionQuery:
    """The body of a SUBSCRIBE: Query with CmdType Catalog, Alarm or MobilePosition
    (`interval` seconds between positions; an Alarm query asks for every priority and method)."""

    kind: SubscriptionKind
    device_id: str
    sn: int
    interval: int | None = None


@dataclass(frozen=True, slots=True)
class CatalogChange:
    """One item of a catalog Notify and what happened to it (`event`, upper case)."""

    item: CatalogItem
    event: str


@dataclass(frozen=True, slots=True)
class CatalogNotify:
    device_id: str
    sn: int
    sum_num: int
    changes: tuple[CatalogChange, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class AlarmNotify:
    """Notify/Alarm (A.2.5.4): priority 1 (highest) to 4, method 1 phone, 2 device, 3 SMS,
    4 GPS, 5 video, 6 fault, 7 other; `alarm_type` from <Info><AlarmType>."""

    device_id: str
    sn: int
    priority: int | None = None
    method: str = ""
    time: str = ""
    description: str = ""
    longitude: float | None = None
    latitude: float | None = None
    alarm_type: str = ""


@dataclass(frozen=True, slots=True)
class MobilePosition:
    """Notify/MobilePosition (A.2.5.6): where a moving device is; speed in km/h, direction
    in degrees from north, altitude in metres."""

    device_id: str
    sn: int
    longitude: float
    latitude: float
    time: str = ""
    speed: float | None = None
    direction: float | None = None
    altitude: float | None = None


@dataclass(frozen=True, slots=True)
class AlarmResponse:
    """Response/Alarm: the platform acknowledges an alarm (A.2.6.5)."""

    device_id: str
    sn: int
    result: str = "OK"


@dataclass(frozen=True, slots=True)
class BroadcastNotify:
    """Notify/Broadcast (A.2.5.7): `source_id` (the platform) will talk to `target_id` (the
    device's audio output); the device answers, then INVITEs the source for the audio."""

    sn: int
    source_id: str
    target_id: str


@dataclass(frozen=True, slots=True)
class BroadcastResponse:
    device_id: str
    sn: int
    result: str = "OK"


GbEventMessage = (
    SubscriptionQuery
    | CatalogNotify
    | AlarmNotify
    | MobilePosition
    | AlarmResponse
    | BroadcastNotify
    | BroadcastResponse
)


def _number(element: ET.Element, tag: str, low: float, high: float) -> float | None:
    """A decimal within [low, high]; absent, unreadable or out of range: None. Some devices
    write units after the number ("36km/h"): the leading number is taken."""
    value = _text(element, tag)
    end = 0
    while end < len(value) and (value[end].isdigit() or value[end] in "+-.eE"):
        end += 1
    try:
        number = float(value[:end])
    except ValueError:
        return None
    return number if math.isfinite(number) and low <= number <= high else None


def parse_event_message(data: bytes) -> GbEventMessage | None:
    """Parse a MANSCDP body of one of the kinds above; None when it is well formed but of
    another kind (a Keepalive, a Catalog response: ingest.manscdp reads those).

    Raises ManscdpError for oversized, undecodable or malformed documents, a DTD, and
    documents of these kinds that lack what they must carry."""
    root = _parse_xml(data)
    cmd = _text(root, "CmdType", required=True)
    kind = (root.tag, cmd)
    if kind == ("Notify", "Broadcast"):
        sn = required_int(root, "SN")
        source = _text(root, "SourceID", required=True)
        return BroadcastNotify(sn, source, _text(root, "TargetID", required=True))
    if kind not in _PARSERS:
        return None
    device_id = _text(root, "DeviceID", required=True)
    return _PARSERS[kind](root, device_id, required_int(root, "SN"))


def _subscription_query(root: ET.Element, device_id: str, sn: int) -> SubscriptionQuery:
    cmd = _text(root, "CmdType")
    kind: SubscriptionKind = next((k for k in SUBSCRIPTION_KINDS if k == cmd), "Catalog")
    interval = _int(root, "Interval", required=False)
    if interval is not None and interval > MAX_INTERVAL:
        raise ManscdpError(f"<Interval> {interval} is more than {MAX_INTERVAL} seconds")
    return SubscriptionQuery(kind, device_id, sn, interval)


def _catalog_notify(root: ET.Element, device_id: str, sn: int) -> CatalogNotify:
    sum_num = _int(root, "SumNum", required=False)
    changes: list[CatalogChange] = []
    for element in list_items(root, "DeviceList", "catalog notify"):
        event = _text(element, "Event").upper() or "UPDATE"
        if event not in CATALOG_EVENTS:
            raise ManscdpError(
                f"catalog notify <Event> {event[:20]!r} is not one of the standard's"
            )
        changes.append(CatalogChange(catalog_item(element), event))
    return CatalogNotify(
        device_id, sn, len(changes) if sum_num is None else sum_num, tuple(changes)
    )


def _alarm_notify(root: ET.Element, device_id: str, sn: int) -> AlarmNotify:
    info = root.find("Info")
    return AlarmNotify(
        device_id,
        sn,
        priority=_int(root, "AlarmPriority", required=False),
        method=_text(root, "AlarmMethod"),
        time=_text(root, "AlarmTime"),
        description=_text(root, "AlarmDescription"),
        longitude=_degrees(root, "Longitude", 180.0),
        latitude=_degrees(root, "Latitude", 90.0),
        alarm_type=_text(info, "AlarmType") if info is not None else "",
    )


def _mobile_position(root: ET.Element, device_id: str, sn: int) -> MobilePosition:
    longitude = _degrees(root, "Longitude", 180.0)
    latitude = _degrees(root, "Latitude", 90.0)
    if longitude is None or latitude is None:
        raise ManscdpError("MobilePosition lacks a usable <Longitude> and <Latitude>")
    return MobilePosition(
        device_id,
        sn,
        longitude,
        latitude,
        time=_text(root, "Time"),
        speed=_number(root, "Speed", 0.0, 10_000.0),
        direction=_number(root, "Direction", 0.0, 360.0),
        altitude=_number(root, "Altitude", -20_000.0, 100_000.0),
    )


def _result(root: ET.Element, device_id: str, sn: int) -> AlarmResponse | BroadcastResponse:
    result = _text(root, "Result") or "OK"
    if _text(root, "CmdType") == "Alarm":
        return AlarmResponse(device_id, sn, result)
    return BroadcastResponse(device_id, sn, result)


_PARSERS: dict[tuple[str, str], Callable[[ET.Element, str, int], GbEventMessage]] = {
    ("Query", "Alarm"): _subscription_query,
    ("Query", "MobilePosition"): _subscription_query,
    ("Notify", "Catalog"): _catalog_notify,
    ("Notify", "Alarm"): _alarm_notify,
    ("Notify", "MobilePosition"): _mobile_position,
    ("Response", "Alarm"): _result,
    ("Response", "Broadcast"): _result,
}


def parse_subscription_query(data: bytes) -> SubscriptionQuery:
    """The Query in a SUBSCRIBE's body (Catalog, Alarm or MobilePosition); raises
    ManscdpError for anything else."""
    root = _parse_xml(data)
    cmd = _text(root, "CmdType", required=True)
    if root.tag != "Query" or cmd not in SUBSCRIPTION_KINDS:
        raise ManscdpError(f"not a subscription query: <{root.tag[:20]}> {cmd[:20]!r}")
    device_id = _text(root, "DeviceID", required=True)
    return _subscription_query(root, device_id, required_int(root, "SN"))


def _float(value: float) -> str:
    return f"{value:.6f}"


def encode_event_message(message: GbEventMessage, encoding: str = "GB2312") -> bytes:
    """The message as a MANSCDP document; raises ManscdpError if a field cannot be written
    in `encoding`."""
    if isinstance(message, BroadcastNotify):
        root = new_document("Notify", "Broadcast", message.sn, None)
        _add(root, "SourceID", message.source_id)
        _add(root, "TargetID", message.target_id)
        return write_document(root, encoding)
    tag, cmd = _kind_of(message)
    root = new_document(tag, cmd, message.sn, message.device_id)
    if isinstance(message, SubscriptionQuery):
        if message.kind == "Alarm":  # every priority and method (0: no limit)
            _add(root, "StartAlarmPriority", 0)
            _add(root, "EndAlarmPriority", 0)
            _add(root, "AlarmMethod", 0)
        if message.interval is not None:
            _add(root, "Interval", message.interval)
    elif isinstance(message, CatalogNotify):
        _add(root, "SumNum", message.sum_num)
        device_list = ET.SubElement(root, "DeviceList", Num=str(len(message.changes)))
        for change in message.changes:
            _add(add_catalog_item(device_list, change.item), "Event", change.event)
    elif isinstance(message, AlarmNotify):
        _add(root, "AlarmPriority", "" if message.priority is None else message.priority)
        _add(root, "AlarmMethod", message.method)
        _add(root, "AlarmTime", message.time)
        _add(root, "AlarmDescription", message.description)
        if message.longitude is not None and message.latitude is not None:
            _add(root, "Longitude", _float(message.longitude))
            _add(root, "Latitude", _float(message.latitude))
        if message.alarm_type:
            _add(ET.SubElement(root, "Info"), "AlarmType", message.alarm_type)
    elif isinstance(message, MobilePosition):
        _add(root, "Time", message.time)
        _add(root, "Longitude", _float(message.longitude))
        _add(root, "Latitude", _float(message.latitude))
        for name, value in (
            ("Speed", message.speed),
            ("Direction", message.direction),
            ("Altitude", message.altitude),
        ):
            if value is not None:
                _add(root, name, f"{value:.1f}")
    else:
        _add(root, "Result", message.result)
    return write_document(root, encoding)


def _kind_of(message: GbEventMessage) -> tuple[str, str]:
    if isinstance(message, SubscriptionQuery):
        return "Query", message.kind
    if isinstance(message, CatalogNotify):
        return "Notify", "Catalog"
    if isinstance(message, AlarmNotify):
        return "Notify", "Alarm"
    if isinstance(message, MobilePosition):
        return "Notify", "MobilePosition"
    if isinstance(message, AlarmResponse):
        return "Response", "Alarm"
    return "Response", "Broadcast"
