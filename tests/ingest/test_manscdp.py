"""GB/T 28181-2016 annex A: MANSCDP Keepalive, Catalog and DeviceInfo documents."""

from __future__ import annotations

import pytest

from ingest.manscdp import (
    CatalogItem,
    CatalogQuery,
    CatalogResponse,
    DeviceInfoQuery,
    DeviceInfoResponse,
    Keepalive,
    ManscdpError,
    encode_message,
    parse_message,
)

DEVICE = "34020000001320000001"

CATALOG_GB2312 = """<?xml version="1.0" encoding="GB2312"?>
<Response>
<CmdType>Catalog</CmdType>
<SN>17430</SN>
<DeviceID>34020000001110000001</DeviceID>
<SumNum>2</SumNum>
<DeviceList Num="2">
<Item>
<DeviceID>34020000001320000001</DeviceID>
<Name>指挥中心东门</Name>
<Manufacturer>Hikvision</Manufacturer>
<Model>IP Camera</Model>
<Owner>Owner</Owner>
<CivilCode>3402000000</CivilCode>
<Address>东门广场</Address>
<Parental>0</Parental>
<ParentID>34020000001110000001</ParentID>
<SafetyWay>0</SafetyWay>
<RegisterWay>1</RegisterWay>
<Secrecy>0</Secrecy>
<Status>ON</Status>
<Longitude>117.283042</Longitude>
<Latitude>31.861190</Latitude>
</Item>
<Item>
<DeviceID>34020000001320000002</DeviceID>
<Name>无人机 2</Name>
<Status>OFF</Status>
</Item>
</DeviceList>
</Response>
""".replace("\n", "\r\n").encode("gb2312")


def test_keepalive_round_trip_in_gb2312() -> None:
    message = Keepalive(DEVICE, 43)
    data = encode_message(message)
    assert data.startswith(b'<?xml version="1.0" encoding="GB2312"?>')
    assert b"<CmdType>Keepalive</CmdType>" in data and b"<Status>OK</Status>" in data
    assert parse_message(data) == message


def test_catalog_response_in_gb2312_with_chinese_names_and_location() -> None:
    message = parse_message(CATALOG_GB2312)
    assert isinstance(message, CatalogResponse)
    assert (message.sn, message.sum_num, len(message.items)) == (17430, 2, 2)
    first, second = message.items
    assert first.name == "指挥中心东门" and first.address == "东门广场"
    assert (first.longitude, first.latitude) == (117.283042, 31.86119)
    assert first.status == "ON" and first.parent_id == "34020000001110000001"
    assert second.name == "无人机 2" and second.longitude is None and second.latitude is None


def test_catalog_round_trip_utf8_and_gb2312() -> None:
    items = (
        CatalogItem(DEVICE, "消防车 1 号", "Dahua", "DH-1", "ON", longitude=121.5, latitude=31.2),
        CatalogItem("34020000001320000009", "会议室"),
    )
    message = CatalogResponse("34020000001110000001", 7, 2, items)
    for encoding in ("GB2312", "UTF-8"):
        assert parse_message(encode_message(message, encoding)) == message


def test_declared_gb2312_but_sent_as_utf8_still_parses() -> None:
    data = CATALOG_GB2312.decode("gb2312").encode("utf-8")
    message = parse_message(data)
    assert isinstance(message, CatalogResponse) and message.items[0].name == "指挥中心东门"


def test_queries_and_device_info() -> None:
    for message in (
        CatalogQuery(DEVICE, 1),
        DeviceInfoQuery(DEVICE, 2),
        DeviceInfoResponse(DEVICE, 3, "前端", "Hikvision", "DS-2CD", "V5.5.0", "OK", 1),
    ):
        assert parse_message(encode_message(message)) == message
    query = encode_message(CatalogQuery(DEVICE, 1))
    assert query.split(b"\r\n")[1] == b"<Query>"


def test_out_of_range_location_is_left_out() -> None:
    data = CATALOG_GB2312.replace(b"117.283042", b"999").replace(b"31.861190", b"north")
    message = parse_message(data)
    assert isinstance(message, CatalogResponse)
    assert (message.items[0].longitude, message.items[0].latitude) == (None, None)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>&lol2;</DeviceID></Notify>"""


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<Notify><CmdType>Keepalive</CmdType>",
        BILLION_LAUGHS,
        b"<Notify><CmdType>Keepalive</CmdType><SN>x</SN><DeviceID>1</DeviceID></Notify>",
        b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN></Notify>",
        b"<Control><CmdType>DeviceControl</CmdType><SN>1</SN><DeviceID>1</DeviceID></Control>",
        b"<Notify>" + b"x" * 300_000 + b"</Notify>",
        b'<?xml version="1.0" encoding="GB2312"?><Notify>\xff\xff\xff</Notify>',
    ],
)
def test_malformed_documents_are_refused(data: bytes) -> None:
    with pytest.raises(ManscdpError):
        parse_message(data)


def test_name_not_in_the_declared_encoding_cannot_be_encoded() -> None:
    with pytest.raises(ManscdpError):
        encode_message(CatalogResponse(DEVICE, 1, 1, (CatalogItem(DEVICE, "😀"),)))
