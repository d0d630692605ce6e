"""GB/T 28181-2016 annex F: the INVITE offer for live play and the device's answer."""

from __future__ import annotations

import pytest

from ingest.gbsdp import GbSdpError, build_offer, make_ssrc, parse_answer, ssrc_value
from mediacore.sdp import SessionDescription


def test_ssrc_takes_digits_4_to_8_of_the_domain() -> None:
    # The standard's example: domain "13010000002000000001" gives "10000".
    assert make_ssrc("13010000002000000001", 1) == "0100000001"
    assert make_ssrc("3402000000", 12345, playback=True) == "1200002345"
    assert ssrc_value("0100000001") == 100000001
    with pytest.raises(GbSdpError):
        make_ssrc("34020", 1)
    with pytest.raises(GbSdpError):
        ssrc_value("9999999999")  # over 32 bits


def test_udp_live_offer_has_the_gb_lines_in_order() -> None:
    offer = build_offer(
        platform_id="34020000002000000001",
        channel_id="34020000001320000001",
        address="10.0.0.5",
        port=30000,
        ssrc="0200000001",
    ).serialize()
    lines = offer.split("\r\n")
    assert lines[:6] == [
        "v=0",
        "o=34020000002000000001 0 0 IN IP4 10.0.0.5",
        "s=Play",
        "u=34020000001320000001:0",
        "c=IN IP4 10.0.0.5",
        "t=0 0",
    ]
    assert "m=video 30000 RTP/AVP 96 97 98" in lines
    assert "a=rtpmap:96 PS/90000" in lines and "a=recvonly" in lines
    assert lines[-2] == "y=0200000001"
    assert "a=setup:passive" not in lines
    assert SessionDescription.parse(offer).serialize() == offer


def test_tcp_passive_offer() -> None:
    offer = build_offer(
        platform_id="34020000002000000001",
        channel_id="34020000001320000001",
        address="10.0.0.5",
        port=30002,
        ssrc="0200000002",
        transport="tcp",
    ).serialize()
    assert "m=video 30002 TCP/RTP/AVP 96 97 98\r\n" in offer
    assert "a=setup:passive\r\na=connection:new\r\n" in offer


def test_playback_offer() -> None:
    offer = build_offer(
        platform_id="34020000002000000001",
        channel_id="34020000001320000001",
        address="10.0.0.5",
        port=30004,
        ssrc="1200000003",
        playback=(1700000000, 1700003600),
    ).serialize()
    assert "s=Playback\r\n" in offer and "t=1700000000 1700003600\r\n" in offer


HIK_ANSWER = (
    "v=0\r\n"
    "o=34020000001320000001 1835 1835 IN IP4 192.168.1.64\r\n"
    "s=Play\r\n"
    "c=IN IP4 192.168.1.64\r\n"
    "t=0 0\r\n"
    "m=video 15060 RTP/AVP 96\r\n"
    "a=sendonly\r\n"
    "a=rtpmap:96 PS/90000\r\n"
    "a=filesize:0\r\n"
    "y=0200000001\r\n"
    "f=v/2/5/25/1/4096a/1/8/1\r\n"
)


def test_device_answer_gives_address_port_ssrc_and_f_line() -> None:
    answer = parse_answer(HIK_ANSWER)
    assert (answer.address, answer.port, answer.transport) == ("192.168.1.64", 15060, "udp")
    assert (answer.payload_type, answer.encoding) == (96, "PS")
    assert answer.ssrc == 200000001
    assert answer.f_line == "v/2/5/25/1/4096a/1/8/1"
    assert answer.setup is None


def test_tcp_active_answer_without_y_line() -> None:
    text = HIK_ANSWER.replace("RTP/AVP", "TCP/RTP/AVP").replace(
        "y=0200000001\r\n", "a=setup:active\r\na=connection:new\r\n"
    )
    answer = parse_answer(text)
    assert (answer.transport, answer.setup, answer.ssrc, answer.f_line) == (
        "tcp",
        "active",
        None,
        "v/2/5/25/1/4096a/1/8/1",
    )


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        HIK_ANSWER.replace("m=video", "m=audio"),
        HIK_ANSWER.replace("y=0200000001", "y=02"),
        HIK_ANSWER.replace("RTP/AVP", "RTP/SAVP"),
    ],
)
def test_unusable_answers_are_refused(text: str) -> None:
    with pytest.raises(GbSdpError):
        parse_answer(text)
