"""MANSCDP (GB/T 28181 annex A): the XML bodies of SIP MESSAGE requests between a platform
and its devices. Keepalive notifications, Catalog and DeviceInfo queries and responses,
DeviceControl with a PTZCmd, PresetQuery.

No I/O here: bytes in, frozen dataclasses out, and back. Devices declare GB2312 (the standard's
examples) or UTF-8, and some declare one and send the other, so decoding tries the declared
encoding, then UTF-8, then GB18030 (a superset of GB2312). Parsing is bounded and refuses any
DTD, so entity expansion ("billion laughs") and external entities cannot happen.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

MAX_DOCUMENT_BYTES = 256 * 1024
MAX_ITEMS = 1000
MAX_FIELD_CHARS = 256

_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?\?>", re.IGNORECASE)
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""", re.IGNORECASE)


class ManscdpError(ValueError):
    """A malformed, oversized or unsupported MANSCDP document, or one that cannot be encoded."""


@dataclass(frozen=True, slots=True)
class Keepalive:
    """Notify/Keepalive: the device's heartbeat (GB/T 28181-2016 A.2.5)."""

    device_id: str
    sn: int
    status: str = "OK"


@dataclass(frozen=True, slots=True)
class CatalogQuery:
    """Query/Catalog: ask a device for its channels."""

    device_id: str
    sn: int


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """One channel or sub-device of a Catalog response; longitude and latitude in degrees."""

    device_id: str
    name: str = ""
    manufacturer: str = ""
    model: str = ""
    status: str = ""  # "ON" / "OFF" (some devices write "ONLINE" / "OFFLINE")
    parent_id: str = ""
    civil_code: str = ""
    address: str = ""
    longitude: float | None = None
    latitude: float | None = None


@dataclass(frozen=True, slots=True)
class CatalogResponse:
    """Response/Catalog: one MESSAGE of a catalog; `sum_num` is the total over all of them."""

    device_id: str
    sn: int
    sum_num: int
    items: tuple[CatalogItem, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class DeviceInfoQuery:
    """Query/DeviceInfo."""

    device_id: str
    sn: int


@dataclass(frozen=True, slots=True)
class DeviceInfoResponse:
    """Response/DeviceInfo."""

    device_id: str
    sn: int
    device_name: str = ""
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    result: str = "OK"
    channel: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceControl:
    """Control/DeviceControl with a PTZCmd (A.2.3.1): steer the camera `device_id` (a channel);
    `ptz_cmd` is 16 hex digits (see ingest.gbptz); `priority` goes in Info/ControlPriority."""

    device_id: str
    sn: int
    ptz_cmd: str
    priority: int | None = 5


@dataclass(frozen=True, slots=True)
class DeviceControlResponse:
    """Response/DeviceControl: a device's verdict on a control, `result` OK or ERROR."""

    device_id: str
    sn: int
    result: str = "OK"


@dataclass(frozen=True, slots=True)
class PresetQuery:
    """Query/PresetQuery: ask a camera for its presets (预置位查询)."""

    device_id: str
    sn: int


@dataclass(frozen=True, slots=True)
class PresetItem:
    preset_id: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class PresetResponse:
    """Response/PresetQuery: the camera's presets."""

    device_id: str
    sn: int
    items: tuple[PresetItem, ...] = field(default_factory=tuple)


ManscdpMessage = (
    Keepalive
    | CatalogQuery
    | CatalogResponse
    | DeviceInfoQuery
    | DeviceInfoResponse
    | DeviceControl
    | DeviceControlResponse
    | PresetQuery
    | PresetResponse
)

_ITEM_FIELDS = (
    ("DeviceID", "device_id"),
    ("Name", "name"),
    ("Manufacturer", "manufacturer"),
    ("Model", "model"),
    ("ParentID", "parent_id"),
    ("CivilCode", "civil_code"),
    ("Address", "address"),
    ("Status", "status"),
)


def _decode(data: bytes) -> str:
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ManscdpError(f"document is {len(data)} bytes, more than {MAX_DOCUMENT_BYTES}")
    declaration = _DECLARATION.match(data)
    declared = None
    if declaration is not None:
        found = _ENCODING.search(declaration.group(0))
        declared = found.group(1).decode("ascii").lower() if found else None
        data = data[declaration.end() :]
    candidates = [declared] if declared else []
    candidates += ["utf-8", "gb18030"]
    for name in candidates:
        if name in ("gb2312", "gbk"):
            name = "gb18030"  # devices write GBK characters under a GB2312 declaration
        try:
            return data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    raise ManscdpError("document is neither in its declared encoding, UTF-8 nor GB18030")


def _parse_xml(data: bytes) -> ET.Element:
    text = _decode(data)
    if "<!" in text.replace("<![CDATA[", ""):
        raise ManscdpError("document holds a DTD, entity declaration or comment-like markup")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise ManscdpError(f"malformed XML: {exc}") from None


def _text(element: ET.Element, tag: str, required: bool = False) -> str:
    child = element.find(tag)
    value = (child.text or "").strip() if child is not None else ""
    if required and not value:
        raise ManscdpError(f"<{element.tag}> lacks <{tag}>")
    if len(value) > MAX_FIELD_CHARS:
        raise ManscdpError(f"<{tag}> is longer than {MAX_FIELD_CHARS} characters")
    return value


def _int(element: ET.Element, tag: str, required: bool = True) -> int | None:
    value = _text(element, tag, required)
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        raise ManscdpError(f"<{tag}> is not a number: {value[:20]!r}")
    return int(value)


def required_int(element: ET.Element, tag: str) -> int:
    """The number in `element`'s <tag>; raises ManscdpError when it is missing or not one."""
    value = _int(element, tag)
    assert value is not None  # a required one is there or _int raised
    return value


def list_items(root: ET.Element, list_tag: str, what: str) -> list[ET.Element]:
    """The <Item>s of `root`'s <list_tag> (none without one); raises ManscdpError when there
    are more than MAX_ITEMS, naming the document as `what`."""
    found = root.find(list_tag)
    items = found.findall("Item") if found is not None else []
    if len(items) > MAX_ITEMS:
        raise ManscdpError(f"{what} holds more than {MAX_ITEMS} items")
    return items


def _degrees(element: ET.Element, tag: str, limit: float) -> float | None:
    value = _text(element, tag)
    try:
        degrees = float(value)
    except ValueError:
        return None  # absent or unreadable: no location rather than a refused catalog
    return degrees if -limit <= degrees <= limit else None


@dataclass(frozen=True, slots=True)
class ManscdpEnvelope:
    """What any MANSCDP document says about itself: `<Query>` / `<Control>`..., its CmdType,
    DeviceID (the target) and SN. For relaying commands this module does not model."""

    root: str
    cmd_type: str
    device_id: str
    sn: int


def parse_envelope(data: bytes) -> ManscdpEnvelope:
    """Read the root, CmdType, DeviceID and SN of any MANSCDP document, with the same bounds
    as parse_message. Raises ManscdpError."""
    return _envelope(_parse_xml(data))


def _envelope(root: ET.Element) -> ManscdpEnvelope:
    cmd = _text(root, "CmdType", required=True)
    device_id = _text(root, "DeviceID", required=True)
    return ManscdpEnvelope(root.tag[:20], cmd, device_id, required_int(root, "SN"))


def parse_message(data: bytes) -> ManscdpMessage:
    """Parse a MANSCDP body (a SIP MESSAGE with Content-Type Application/MANSCDP+xml).

    Returns Keepalive, CatalogQuery, CatalogResponse, DeviceInfoQuery or DeviceInfoResponse.
    Raises ManscdpError for oversized, undecodable or malformed documents, a DTD, missing
    CmdType/SN/DeviceID, and command types not modelled here."""
    root = _parse_xml(data)
    envelope = _envelope(root)
    cmd, device_id, sn = envelope.cmd_type, envelope.device_id, envelope.sn
    kind = (root.tag, cmd)
    if kind == ("Notify", "Keepalive"):
        return Keepalive(device_id, sn, _text(root, "Status") or "OK")
    if kind == ("Query", "Catalog"):
        return CatalogQuery(device_id, sn)
    if kind == ("Query", "DeviceInfo"):
        return DeviceInfoQuery(device_id, sn)
    if kind == ("Response", "Catalog"):
        return _catalog_response(root, device_id, sn)
    if kind == ("Response", "DeviceInfo"):
        return DeviceInfoResponse(
            device_id,
            sn,
            device_name=_text(root, "DeviceName"),
            manufacturer=_text(root, "Manufacturer"),
            model=_text(root, "Model"),
            firmware=_text(root, "Firmware"),
            result=_text(root, "Result") or "OK",
            channel=_int(root, "Channel", required=False),
        )
    if kind in _CONTROLS:
        return _control(root, kind, device_id, sn)
    raise ManscdpError(f"unsupported MANSCDP command <{root.tag[:20]}> {cmd[:20]!r}")


_CONTROLS = frozenset(
    {
        ("Control", "DeviceControl"),
        ("Response", "DeviceControl"),
        ("Query", "PresetQuery"),
        ("Response", "PresetQuery"),
    }
)


def _control(root: ET.Element, kind: tuple[str, str], device_id: str, sn: int) -> ManscdpMessage:
    """DeviceControl (with a PTZCmd) and PresetQuery, and their responses."""
    if kind == ("Control", "DeviceControl"):
        info = root.find("Info")
        priority = _int(info, "ControlPriority", required=False) if info is not None else None
        return DeviceControl(device_id, sn, _text(root, "PTZCmd", required=True), priority)
    if kind == ("Response", "DeviceControl"):
        return DeviceControlResponse(device_id, sn, _text(root, "Result") or "OK")
    if kind == ("Query", "PresetQuery"):
        return PresetQuery(device_id, sn)
    items = list_items(root, "PresetList", "preset list")
    presets = (
        PresetItem(required_int(item, "PresetID"), _text(item, "PresetName")) for item in items
    )
    return PresetResponse(device_id, sn, tuple(presets))


def _catalog_response(root: ET.Element, device_id: str, sn: int) -> CatalogResponse:
    sum_num = required_int(root, "SumNum")
    items = list_items(root, "DeviceList", "catalog")
    return CatalogResponse(device_id, sn, sum_num, tuple(catalog_item(item) for item in items))


def catalog_item(item: ET.Element) -> CatalogItem:
    """One <Item> of a catalog (a response, or a catalog Notify); raises ManscdpError."""
    values = {attr: _text(item, tag) for tag, attr in _ITEM_FIELDS}
    if not values["device_id"]:
        raise ManscdpError("catalog <Item> lacks <DeviceID>")
    return CatalogItem(
        **values,
        longitude=_degrees(item, "Longitude", 180.0),
        latitude=_degrees(item, "Latitude", 90.0),
    )


def _add(parent: ET.Element, tag: str, value: object) -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = str(value)
    return child


def add_catalog_item(device_list: ET.Element, item: CatalogItem) -> ET.Element:
    """Write `item` as an <Item> of `device_list`; returns the element."""
    element = ET.SubElement(device_list, "Item")
    for tag, attr in _ITEM_FIELDS:
        _add(element, tag, getattr(item, attr))
    if item.longitude is not None and item.latitude is not None:
        _add(element, "Longitude", f"{item.longitude:.6f}")
        _add(element, "Latitude", f"{item.latitude:.6f}")
    return element


def encode_message(message: ManscdpMessage, encoding: str = "GB2312") -> bytes:
    """The message as a MANSCDP document with an XML declaration naming `encoding`.

    Raises ManscdpError if a field cannot be written in that encoding."""
    if isinstance(message, DeviceControl | DeviceControlResponse | PresetQuery | PresetResponse):
        return write_document(_control_root(message), encoding)
    if isinstance(message, Keepalive):
        tag, cmd = "Notify", "Keepalive"
    elif isinstance(message, CatalogQuery | DeviceInfoQuery):
        tag, cmd = "Query", "Catalog" if isinstance(message, CatalogQuery) else "DeviceInfo"
    else:
        tag, cmd = "Response", "Catalog" if isinstance(message, CatalogResponse) else "DeviceInfo"
    root = new_document(tag, cmd, message.sn, message.device_id)
    if isinstance(message, Keepalive):
        _add(root, "Status", message.status)
    elif isinstance(message, CatalogResponse):
        _add(root, "SumNum", message.sum_num)
        device_list = ET.SubElement(root, "DeviceList", Num=str(len(message.items)))
        for item in message.items:
            add_catalog_item(device_list, item)
    elif isinstance(message, DeviceInfoResponse):
        _add(root, "DeviceName", message.device_name)
        _add(root, "Result", message.result)
        _add(root, "Manufacturer", message.manufacturer)
        _add(root, "Model", message.model)
        _add(root, "Firmware", message.firmware)
        if message.channel is not None:
            _add(root, "Channel", message.channel)
    return write_document(root, encoding)


def _control_root(
    message: DeviceControl | DeviceControlResponse | PresetQuery | PresetResponse,
) -> ET.Element:
    tag = {DeviceControl: "Control", PresetQuery: "Query"}.get(type(message), "Response")
    cmd = "PresetQuery" if isinstance(message, PresetQuery | PresetResponse) else "DeviceControl"
    root = new_document(tag, cmd, message.sn, message.device_id)
    if isinstance(message, DeviceControl):
        _add(root, "PTZCmd", message.ptz_cmd)
        if message.priority is not None:
            _add(ET.SubElement(root, "Info"), "ControlPriority", message.priority)
    elif isinstance(message, DeviceControlResponse):
        _add(root, "Result", message.result)
    elif isinstance(message, PresetResponse):
        _add(root, "SumNum", len(message.items))
        preset_list = ET.SubElement(root, "PresetList", Num=str(len(message.items)))
        for item in message.items:
            element = ET.SubElement(preset_list, "Item")
            _add(element, "PresetID", item.preset_id)
            _add(element, "PresetName", item.name)
    return root


def new_document(tag: str, cmd: str, sn: int, device_id: str | None) -> ET.Element:
    """The root of a MANSCDP document: <tag> (Query, Notify...) with its CmdType, SN and,
    unless None (a broadcast notify names its parties instead), DeviceID."""
    root = ET.Element(tag)
    _add(root, "CmdType", cmd)
    _add(root, "SN", sn)
    if device_id is not None:
        _add(root, "DeviceID", device_id)
    return root


def write_document(root: ET.Element, encoding: str = "GB2312") -> bytes:
    """`root` as a MANSCDP document with an XML declaration naming `encoding`.

    Raises ManscdpError if a field cannot be written in that encoding."""
    ET.indent(root, space="")
    body = ET.tostring(root, encoding="unicode").replace("\n", "\r\n")
    text = f'<?xml version="1.0" encoding="{encoding}"?>\r\n{body}\r\n'
    try:
        return text.encode(encoding)
    except (UnicodeEncodeError, LookupError) as exc:
        raise ManscdpError(f"cannot write the document in {encoding}: {exc}") from None
