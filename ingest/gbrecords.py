"""MANSCDP for recordings (GB/T 28181-2016 A.2.4.5, A.2.6.9 and 9.7/9.8): the RecordInfo
query, its paged responses, and the MediaStatus notification a device sends when a played-back
or downloaded recording reaches its end (NotifyType 121).

No I/O here. `RecordCollector` gathers the pages of one query: a device answers with one or
several MESSAGEs of the same SN, each carrying up to a few items and `SumNum`, the total; the
collector is done when SumNum items arrived (or its owner's timeout says so), and keeps at most
`MAX_RECORDS` of them.

Times in MANSCDP are the device's wall clock without a zone ("2026-12-07T10:00:00"): they are
read and written in the zone the caller names (`[gb28181] time_zone`, UTC by default, the zone
of the Date this platform gives devices in its REGISTER answers).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from ingest.manscdp import (
    ManscdpError,
    _add,
    _int,
    _parse_xml,
    _text,
    list_items,
    new_document,
    required_int,
    write_document,
)

MAX_RECORDS = 2000  # items one query keeps, over all its pages
RECORD_TYPES = ("all", "time", "alarm", "manual")
MAX_RANGE_S = 7 * 86400  # the longest range one query or playback asks for
MEDIA_STATUS_END = 121  # "the stream of a playback or download ended"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True, slots=True)
class RecordInfoQuery:
    """Query/RecordInfo: the recordings of channel `device_id` between two Unix times."""

    device_id: str
    sn: int
    start: int
    end: int
    type: str = "all"
    secrecy: int = 0


@dataclass(frozen=True, slots=True)
class RecordItem:
    """One recording of a RecordInfo response; times in Unix seconds, None when unreadable."""

    device_id: str
    name: str = ""
    file_path: str = ""
    address: str = ""
    start: int | None = None
    end: int | None = None
    secrecy: int = 0
    type: str = ""
    recorder_id: str = ""
    file_size: int | None = None


@dataclass(frozen=True, slots=True)
class RecordInfoResponse:
    """Response/RecordInfo: one page; `sum_num` is the number of items over every page."""

    device_id: str
    sn: int
    sum_num: int
    name: str = ""
    items: tuple[RecordItem, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class MediaStatus:
    """Notify/MediaStatus: `notify_type` 121 says the recording's stream has ended."""

    device_id: str
    sn: int
    notify_type: int


RecordsMessage = RecordInfoQuery | RecordInfoResponse | MediaStatus


def gb_time(unix: int, zone: tzinfo = UTC) -> str:
    """A Unix time as MANSCDP writes it: the wall clock in `zone`, no zone written."""
    return datetime.fromtimestamp(unix, zone).strftime(_TIME_FORMAT)


def parse_gb_time(text: str, zone: tzinfo = UTC) -> int | None:
    """A MANSCDP time ("2026-12-07T10:00:00", a space instead of T, an optional zone) as Unix
    seconds; None when it is not one. A time without a zone is in `zone`."""
    text = text.strip()
    # "2026-12-07 10:00:00", or a "+08:00" zone whose "+" a URL query turned into a space
    text = text.replace(" ", "+") if "T" in text else text.replace(" ", "T", 1)
    if not 10 <= len(text) <= 35 or not text.isascii():
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return int(moment.timestamp())


def time_range(start: str, end: str, longest: int = MAX_RANGE_S) -> tuple[int, int]:
    """Two ISO 8601 times (a time without a zone is UTC) as Unix seconds. Raises ValueError
    when one is missing or unreadable, the end is not after the start, or the range is longer
    than `longest` seconds."""
    first, last = parse_gb_time(start), parse_gb_time(end)
    if not start or not end:
        raise ValueError("start and end are needed (ISO 8601)")
    if first is None or last is None:
        raise ValueError("start and end must be ISO 8601 times, e.g. 2026-12-07T10:00:00Z")
    if last <= first:
        raise ValueError("end must be after start")
    if last - first > longest:
        raise ValueError(f"the range is longer than {longest // 86400} days")
    return first, last


def parse_records_message(data: bytes, zone: tzinfo = UTC) -> RecordsMessage | None:
    """Parse a MANSCDP body if it is Query/RecordInfo, Response/RecordInfo or
    Notify/MediaStatus (its times in `zone`); None for any other command. Raises ManscdpError
    for a document that is malformed, oversized, or one of these with fields missing or out of
    bounds."""
    root = _parse_xml(data)
    cmd = _text(root, "CmdType", required=True)
    if (root.tag, cmd) not in (
        ("Query", "RecordInfo"),
        ("Response", "RecordInfo"),
        ("Notify", "MediaStatus"),
    ):
        return None
    device_id = _text(root, "DeviceID", required=True)
    sn = required_int(root, "SN")
    if root.tag == "Notify":
        return MediaStatus(device_id, sn, required_int(root, "NotifyType"))
    if root.tag == "Query":
        start = parse_gb_time(_text(root, "StartTime", required=True), zone)
        end = parse_gb_time(_text(root, "EndTime", required=True), zone)
        if start is None or end is None:
            raise ManscdpError("RecordInfo query times are not ISO 8601")
        kind = _text(root, "Type") or "all"
        secrecy = _int(root, "Secrecy", required=False) or 0
        return RecordInfoQuery(device_id, sn, start, end, kind, secrecy)
    return _response(root, device_id, sn, zone)


def _response(root: ET.Element, device_id: str, sn: int, zone: tzinfo) -> RecordInfoResponse:
    sum_num = required_int(root, "SumNum")
    items: list[RecordItem] = []
    for item in list_items(root, "RecordList", "RecordInfo response"):
        channel = _text(item, "DeviceID")
        if not channel:
            continue  # WVP skips such items too
        items.append(
            RecordItem(
                channel,
                name=_text(item, "Name"),
                file_path=_text(item, "FilePath"),
                address=_text(item, "Address"),
                start=parse_gb_time(_text(item, "StartTime"), zone),
                end=parse_gb_time(_text(item, "EndTime"), zone),
                secrecy=_lenient_int(_text(item, "Secrecy")) or 0,
                type=_text(item, "Type"),
                recorder_id=_text(item, "RecorderID"),
                file_size=_lenient_int(_text(item, "FileSize")),
            )
        )
    return RecordInfoResponse(device_id, sn, sum_num, _text(root, "Name"), tuple(items))


def _lenient_int(text: str) -> int | None:
    """Optional numbers of an item: devices write them oddly; unreadable is unknown."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 15 else None


def encode_records_message(
    message: RecordsMessage, encoding: str = "GB2312", zone: tzinfo = UTC
) -> bytes:
    """The message as a MANSCDP document, its times in `zone`. Raises ManscdpError if a field
    cannot be written in `encoding`."""
    tag, cmd = _KINDS.get(type(message), ("Response", "RecordInfo"))
    root = new_document(tag, cmd, message.sn, message.device_id)
    if isinstance(message, MediaStatus):
        _add(root, "NotifyType", message.notify_type)
    elif isinstance(message, RecordInfoQuery):
        _add(root, "StartTime", gb_time(message.start, zone))
        _add(root, "EndTime", gb_time(message.end, zone))
        _add(root, "Secrecy", message.secrecy)
        _add(root, "Type", message.type)
    else:
        _add(root, "Name", message.name)
        _add(root, "SumNum", message.sum_num)
        record_list = ET.SubElement(root, "RecordList", Num=str(len(message.items)))
        for item in message.items:
            element = ET.SubElement(record_list, "Item")
            _add(element, "DeviceID", item.device_id)
            _add(element, "Name", item.name)
            _add(element, "FilePath", item.file_path)
            _add(element, "Address", item.address)
            _add(element, "StartTime", gb_time(item.start, zone) if item.start else "")
            _add(element, "EndTime", gb_time(item.end, zone) if item.end else "")
            _add(element, "Secrecy", item.secrecy)
            _add(element, "Type", item.type)
            if item.recorder_id:
                _add(element, "RecorderID", item.recorder_id)
            if item.file_size is not None:
                _add(element, "FileSize", item.file_size)
    return write_document(root, encoding)


_KINDS = {MediaStatus: ("Notify", "MediaStatus"), RecordInfoQuery: ("Query", "RecordInfo")}


class RecordCollector:
    """The pages of one RecordInfo query (by channel and SN) until SumNum items arrived."""

    def __init__(self, channel_id: str, sn: int, limit: int = MAX_RECORDS) -> None:
        self.channel_id = channel_id
        self.sn = sn
        self.limit = limit
        self.sum_num: int | None = None
        self.items: list[RecordItem] = []
        self.pages = 0
        self._seen: set[tuple[str, int | None, int | None, str]] = set()

    def matches(self, response: RecordInfoResponse) -> bool:
        """Whether `response` is a page of this query."""
        return response.sn == self.sn and response.device_id == self.channel_id

    def add(self, response: RecordInfoResponse) -> bool:
        """Take one page; True once the query is complete (SumNum items, or the limit).
        A page repeated (a retransmitted MESSAGE) adds nothing twice."""
        self.pages += 1
        self.sum_num = response.sum_num
        for item in response.items:
            key = (item.file_path, item.start, item.end, item.name)
            if key in self._seen or len(self.items) >= self.limit:
                continue
            self._seen.add(key)
            self.items.append(item)
        return self.complete

    @property
    def complete(self) -> bool:
        if self.sum_num is None:
            return False
        return len(self.items) >= min(self.sum_num, self.limit)

    def records(self) -> list[RecordItem]:
        """What arrived, in time order."""
        return sorted(self.items, key=lambda item: (item.start or 0, item.end or 0))
