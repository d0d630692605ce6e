"""The PTZ command of GB/T 28181-2016 annex A.3, byte for byte: the standard's widely quoted
examples (up/down/left/right at speed 0x1F, zoom at zoom speed 1, stop), presets, focus and
iris, their decoding, and the MANSCDP DeviceControl and PresetQuery documents that carry them."""

from __future__ import annotations

import pytest

from ingest.gbptz import (
    ACTIONS,
    PRESET_CALL,
    PtzCommand,
    PtzError,
    encode_ptz,
    parse_ptz,
    ptz_request,
)
from ingest.manscdp import (
    DeviceControl,
    DeviceControlResponse,
    ManscdpError,
    PresetItem,
    PresetQuery,
    PresetResponse,
    encode_message,
    parse_message,
)
from tools.gbdevice_ptz import SimulatedPtz

CHANNEL = "34020000001310000001"


def hex_of(action: str, speed: int | None = None, preset: int | None = None) -> str:
    body: dict[str, object] = {"action": action}
    if speed is not None:
        body["speed"] = speed
    if preset is not None:
        body["preset"] = preset
    return encode_ptz(ptz_request(body))


# -- A.3.2 pan, tilt, zoom: the standard's examples ------------------------------------------


@pytest.mark.parametrize(
    ("action", "speed", "expected"),
    [
        ("stop", 0, "A50F0100000000B5"),
        ("up", 0x1F, "A50F0108001F00DC"),
        ("down", 0x1F, "A50F0104001F00D8"),
        ("left", 0x1F, "A50F01021F0000D6"),
        ("right", 0x1F, "A50F01011F0000D5"),
        ("zoom_in", 0x10, "A50F0110000010D5"),  # zoom speed 1: the high nibble of byte 7
        ("zoom_out", 0x1F, "A50F0120000010E5"),
        ("up_left", 0xFA, "A50F010AFAFA00B3"),  # both speeds for a diagonal
        ("down_right", 0xFA, "A50F0105FAFA00AE"),
    ],
)
def test_a32_pan_tilt_zoom_byte_exact(action: str, speed: int, expected: str) -> None:
    assert hex_of(action, speed) == expected


def test_a32_stop_is_the_same_whatever_speed_is_given() -> None:
    assert hex_of("stop", 200) == "A50F0100000000B5"


def test_a32_a_slow_zoom_never_rounds_down_to_no_zoom() -> None:
    assert parse_ptz(hex_of("zoom_in", 3)).data3 == 1
    assert parse_ptz(hex_of("zoom_in", 0xFF)).data3 == 0xF


# -- A.3.3 focus and iris, A.3.4 presets ------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("focus_far", "A50F014120000016"),  # focus speed in byte 5
        ("focus_near", "A50F014220000017"),
        ("iris_open", "A50F014400200019"),  # iris speed in byte 6
        ("iris_close", "A50F01480020001D"),
    ],
)
def test_a33_focus_and_iris_byte_exact(action: str, expected: str) -> None:
    assert hex_of(action, 0x20) == expected


@pytest.mark.parametrize(
    ("action", "number", "expected"),
    [
        ("preset_set", 1, "A50F018100010037"),
        ("preset_call", 1, "A50F018200010038"),
        ("preset_delete", 1, "A50F018300010039"),
        ("preset_call", 255, "A50F018200FF0036"),
    ],
)
def test_a34_presets_byte_exact(action: str, number: int, expected: str) -> None:
    assert hex_of(action, preset=number) == expected
    decoded = parse_ptz(expected)
    assert (decoded.action, decoded.preset) == (action, number)


# -- byte 2, byte 7 and the checksum -----------------------------------------------------------


def test_the_12_bit_address_splits_over_byte_3_and_the_low_nibble_of_byte_7() -> None:
    text = encode_ptz(PtzCommand(PRESET_CALL, 0, 7, address=0xABC))
    data = bytes.fromhex(text)
    assert (data[2], data[6]) == (0xBC, 0x0A)
    assert data[7] == sum(data[:7]) % 256
    assert parse_ptz(text).address == 0xABC


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_decodes_to_itself(action: str) -> None:
    command = ptz_request({"action": action, "speed": 77, "preset": 9})
    decoded = parse_ptz(encode_ptz(command).lower())  # devices may write lower case
    assert decoded == command and decoded.action == action


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("A50F0100000000B6", "checksum"),
        ("A51F0100000000C5", "check nibble"),
        ("A40F0100000000B4", "not 0xA5"),
        ("A50F0100000000", "16 hex"),
        ("A50F01000000G0B5", "16 hex"),
        ("", "16 hex"),
    ],
)
def test_a_damaged_ptzcmd_is_refused(text: str, problem: str) -> None:
    with pytest.raises(PtzError, match=problem):
        parse_ptz(text)


# -- what the API asks for ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"action": "spin"}, "action must be one of"),
        ({}, "action must be one of"),
        ({"action": 3}, "action must be one of"),
        ({"action": "left", "speed": 256}, "speed must be"),
        ({"action": "left", "speed": -1}, "speed must be"),
        ({"action": "left", "speed": "fast"}, "speed must be"),
        ({"action": "left", "speed": True}, "speed must be"),
        ({"action": "left", "speed": 1.5}, "speed must be"),
        ({"action": "preset_call"}, "needs preset"),
        ({"action": "preset_set", "preset": 0}, "preset must be from 1 to 255"),
        ({"action": "preset_set", "preset": 256}, "preset must be from 1 to 255"),
        ({"action": "preset_set", "preset": "1"}, "needs preset"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(body: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ptz_request(body)


def test_speed_defaults_to_128() -> None:
    assert hex_of("right") == encode_ptz(ptz_request({"action": "right", "speed": 128}))
    assert parse_ptz(hex_of("right")).data1 == 128


# -- MANSCDP documents -------------------------------------------------------------------------


def test_device_control_document_carries_the_ptzcmd_and_the_control_priority() -> None:
    message = DeviceControl(CHANNEL, 17, "A50F0108001F00DC")
    body = encode_message(message)
    text = body.decode("gb2312")
    assert text.startswith('<?xml version="1.0" encoding="GB2312"?>\r\n<Control>\r\n')
    assert "<CmdType>DeviceControl</CmdType>" in text
    assert f"<DeviceID>{CHANNEL}</DeviceID>" in text
    assert "<PTZCmd>A50F0108001F00DC</PTZCmd>" in text
    assert "<Info>\r\n<ControlPriority>5</ControlPriority>\r\n</Info>" in text
    assert parse_message(body) == message


def test_device_control_from_another_platform_parses_without_info() -> None:
    body = (
        b'<?xml version="1.0"?>\n<Control>\n<CmdType>DeviceControl</CmdType>\n<SN>11</SN>\n'
        b"<DeviceID>34020000001320000001</DeviceID>\n<PTZCmd>A50F01021F0000D6</PTZCmd>\n"
        b"</Control>\n"
    )
    parsed = parse_message(body)
    assert parsed == DeviceControl("34020000001320000001", 11, "A50F01021F0000D6", None)
    assert isinstance(parsed, DeviceControl)
    assert parse_ptz(parsed.ptz_cmd).action == "left"


def test_device_control_without_a_ptzcmd_is_refused() -> None:
    body = b"<Control><CmdType>DeviceControl</CmdType><SN>1</SN><DeviceID>1</DeviceID></Control>"
    with pytest.raises(ManscdpError, match="PTZCmd"):
        parse_message(body)


def test_preset_query_and_its_response_round_trip() -> None:
    query = PresetQuery(CHANNEL, 3)
    assert parse_message(encode_message(query)) == query
    response = PresetResponse(CHANNEL, 3, (PresetItem(1, "大门"), PresetItem(12, "路口")))
    body = encode_message(response)
    assert b'<PresetList Num="2">' in body and b"<SumNum>2</SumNum>" in body
    assert parse_message(body) == response
    result = DeviceControlResponse(CHANNEL, 4, "ERROR")
    assert parse_message(encode_message(result)) == result


def test_a_preset_list_is_bounded() -> None:
    items = "".join(f"<Item><PresetID>{i}</PresetID></Item>" for i in range(1002))
    body = (
        f"<Response><CmdType>PresetQuery</CmdType><SN>1</SN><DeviceID>1</DeviceID>"
        f'<PresetList Num="1002">{items}</PresetList></Response>'
    ).encode()
    with pytest.raises(ManscdpError, match="more than"):
        parse_message(body)


# -- the simulated camera head -----------------------------------------------------------------


def test_simulated_head_records_commands_and_keeps_presets() -> None:
    head = SimulatedPtz(frozenset({CHANNEL}))
    for number, text in enumerate(
        ("A50F018100010037", "A50F018100030039", "A50F018300010039", "A50F010180000036"), 1
    ):
        message = DeviceControl(CHANNEL, number, text)
        assert head.status(message) == 200
        assert head.handle(message) is None
    assert head.commands(CHANNEL)[-1] == "A50F010180000036"
    assert [r.command.action for r in head.received] == [
        "preset_set",
        "preset_set",
        "preset_delete",
        "right",
    ]
    answer = head.handle(PresetQuery(CHANNEL, 9))
    assert answer == PresetResponse(CHANNEL, 9, (PresetItem(3, "预置位3"),))
    assert head.status(DeviceControl("34020000001310000009", 1, "A50F0100000000B5")) == 404
    assert head.status(DeviceControl(CHANNEL, 1, "A50F0100000000B6")) == 400
