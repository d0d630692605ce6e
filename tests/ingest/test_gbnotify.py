"""MANSCDP of subscriptions, alarms, positions and voice broadcast (GB/T 28181-2016 annex A):
the documents we write byte for byte, and what devices send read as the standard's examples
show it (A.2.4 queries, A.2.5 notifies, A.2.6 responses)."""

from __future__ import annotations

import pytest

from ingest.gbnotify import (
    AlarmNotify,
    AlarmResponse,
    BroadcastNotify,
    BroadcastResponse,
    CatalogChange,
    CatalogNotify,
    MobilePosition,
    SubscriptionQuery,
    encode_event_message,
    parse_event_message,
    parse_subscription_query,
)
from ingest.manscdp import CatalogItem, ManscdpError

DEVICE = "34020000001320000001"
PLATFORM = "34020000002000000001"
AUDIO_OUT = "34020000001370000001"


def document(body: str, encoding: str = "GB2312") -> bytes:
    return f'<?xml version="1.0" encoding="{encoding}"?>\r\n{body}\r\n'.encode(encoding)


def test_a_2_5_7_broadcast_notify_is_written_byte_exact() -> None:
    written = encode_event_message(BroadcastNotify(17, PLATFORM, AUDIO_OUT))
    assert written == document(
        "<Notify>\r\n<CmdType>Broadcast</CmdType>\r\n<SN>17</SN>\r\n"
        f"<SourceID>{PLATFORM}</SourceID>\r\n<TargetID>{AUDIO_OUT}</TargetID>\r\n</Notify>"
    )


def test_mobile_position_subscription_query_carries_its_interval() -> None:
    written = encode_event_message(SubscriptionQuery("MobilePosition", DEVICE, 5, 5))
    assert written == document(
        "<Query>\r\n<CmdType>MobilePosition</CmdType>\r\n<SN>5</SN>\r\n"
        f"<DeviceID>{DEVICE}</DeviceID>\r\n<Interval>5</Interval>\r\n</Query>"
    )
    assert parse_subscription_query(written) == SubscriptionQuery("MobilePosition", DEVICE, 5, 5)


def test_alarm_subscription_asks_for_every_priority_and_method() -> None:
    written = encode_event_message(SubscriptionQuery("Alarm", DEVICE, 6)).decode("gb2312")
    for tag in ("<StartAlarmPriority>0<", "<EndAlarmPriority>0<", "<AlarmMethod>0<"):
        assert tag in written


def test_alarm_response_is_written_byte_exact() -> None:
    assert encode_event_message(AlarmResponse(DEVICE, 9)) == document(
        "<Response>\r\n<CmdType>Alarm</CmdType>\r\n<SN>9</SN>\r\n"
        f"<DeviceID>{DEVICE}</DeviceID>\r\n<Result>OK</Result>\r\n</Response>"
    )


def test_a_2_5_4_alarm_notify_is_read_with_its_fields() -> None:
    alarm = parse_event_message(
        document(
            "<Notify>\r\n<CmdType>Alarm</CmdType>\r\n<SN>1</SN>\r\n"
            f"<DeviceID>{DEVICE}</DeviceID>\r\n<AlarmPriority>1</AlarmPriority>\r\n"
            "<AlarmMethod>2</AlarmMethod>\r\n<AlarmTime>2009-12-04T16:23:32</AlarmTime>\r\n"
            "<AlarmDescription>越界</AlarmDescription>\r\n<Longitude>171.3</Longitude>\r\n"
            "<Latitude>34.2</Latitude>\r\n<Info><AlarmType>2</AlarmType></Info>\r\n</Notify>"
        )
    )
    assert alarm == AlarmNotify(
        DEVICE, 1, 1, "2", "2009-12-04T16:23:32", "越界", 171.3, 34.2, alarm_type="2"
    )


def test_a_2_5_6_mobile_position_is_read_and_units_after_numbers_tolerated() -> None:
    position = parse_event_message(
        document(
            "<Notify><CmdType>MobilePosition</CmdType><SN>3</SN>"
            f"<DeviceID>{DEVICE}</DeviceID><Time>2024-05-01T08:00:00</Time>"
            "<Longitude>116.404</Longitude><Latitude>39.915</Latitude>"
            "<Speed>36km/h</Speed><Direction>西面</Direction><Altitude>5.0</Altitude></Notify>",
            "UTF-8",
        )
    )
    assert position == MobilePosition(
        DEVICE, 3, 116.404, 39.915, "2024-05-01T08:00:00", 36.0, None, 5.0
    )


@pytest.mark.parametrize(
    "coordinates",
    [
        "<Longitude>190</Longitude><Latitude>39.9</Latitude>",
        "<Longitude>116.4</Longitude>",
        "<Longitude>nan</Longitude><Latitude>39.9</Latitude>",
    ],
)
def test_a_position_without_usable_coordinates_is_refused(coordinates: str) -> None:
    body = (
        f"<Notify><CmdType>MobilePosition</CmdType><SN>3</SN><DeviceID>{DEVICE}</DeviceID>"
        f"{coordinates}</Notify>"
    )
    with pytest.raises(ManscdpError, match="Longitude"):
        parse_event_message(document(body))


def test_a_2_5_3_catalog_notify_items_carry_their_event() -> None:
    notify = parse_event_message(
        document(
            "<Notify><CmdType>Catalog</CmdType><SN>4</SN>"
            f'<DeviceID>{DEVICE}</DeviceID><SumNum>2</SumNum><DeviceList Num="2">'
            "<Item><DeviceID>34020000001310000002</DeviceID><Event>ADD</Event>"
            "<Name>后门</Name><Status>ON</Status></Item>"
            "<Item><DeviceID>34020000001310000001</DeviceID><Event>off</Event></Item>"
            "</DeviceList></Notify>"
        )
    )
    assert isinstance(notify, CatalogNotify)
    assert [(c.item.device_id, c.event) for c in notify.changes] == [
        ("34020000001310000002", "ADD"),
        ("34020000001310000001", "OFF"),
    ]
    assert notify.changes[0].item.name == "后门"


def test_an_unknown_catalog_event_is_refused() -> None:
    body = (
        f"<Notify><CmdType>Catalog</CmdType><SN>4</SN><DeviceID>{DEVICE}</DeviceID>"
        "<DeviceList><Item><DeviceID>1</DeviceID><Event>EXPLODE</Event></Item></DeviceList>"
        "</Notify>"
    )
    with pytest.raises(ManscdpError, match="Event"):
        parse_event_message(document(body))


def test_other_kinds_are_left_to_the_manscdp_parser() -> None:
    keepalive = document(
        f"<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>{DEVICE}</DeviceID></Notify>"
    )
    assert parse_event_message(keepalive) is None


@pytest.mark.parametrize(
    "message",
    [
        SubscriptionQuery("Catalog", DEVICE, 1),
        CatalogNotify(DEVICE, 2, 1, (CatalogChange(CatalogItem(AUDIO_OUT, name="喇叭"), "ADD"),)),
        AlarmNotify(DEVICE, 3, 2, "5", "2024-01-01T00:00:00", "移动侦测", 116.0, 39.0, "2"),
        MobilePosition(DEVICE, 4, 116.0, 39.0, "2024-01-01T00:00:00", 1.5, 270.0, -3.0),
        AlarmResponse(DEVICE, 5, "ERROR"),
        BroadcastNotify(6, PLATFORM, AUDIO_OUT),
        BroadcastResponse(DEVICE, 6, "OK"),
    ],
    ids=lambda m: type(m).__name__,
)
def test_what_we_write_reads_back_the_same(message: object) -> None:
    written = encode_event_message(message)  # type: ignore[arg-type]
    if isinstance(message, SubscriptionQuery):
        assert parse_subscription_query(written) == message
    else:
        assert parse_event_message(written) == message


def test_a_broadcast_notify_without_target_is_refused() -> None:
    body = f"<Notify><CmdType>Broadcast</CmdType><SN>1</SN><SourceID>{PLATFORM}</SourceID></Notify>"
    with pytest.raises(ManscdpError, match="TargetID"):
        parse_event_message(document(body))


def test_a_subscription_interval_is_bounded() -> None:
    body = (
        f"<Query><CmdType>MobilePosition</CmdType><SN>1</SN><DeviceID>{DEVICE}</DeviceID>"
        "<Interval>99999</Interval></Query>"
    )
    with pytest.raises(ManscdpError, match="Interval"):
        parse_subscription_query(document(body))


def test_entity_declarations_are_refused() -> None:
    body = '<!DOCTYPE x [<!ENTITY a "aaaa">]><Notify><CmdType>Alarm</CmdType></Notify>'
    with pytest.raises(ManscdpError, match="DTD"):
        parse_event_message(document(body))
