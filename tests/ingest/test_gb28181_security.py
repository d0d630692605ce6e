"""GB/T 28181 devices cannot be impersonated, without sockets: who may register with which
password, a live device is not handed to another address, SSRCs are drawn at random in the
annex F format, and the media port takes packets from the device only."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ingest.gbmediasource import LATCH_S, MediaSourceLatch
from ingest.gbplatform import GbPlatform, GbPlayError
from ingest.gbsdp import parse_answer
from ingest.gbsettings import GbDeviceAccount, GbSettings, parse_gb28181_settings
from mediacore.events import Event, EventBus
from mediacore.rtp import build_rtp
from sip.message import Request
from sip.transaction import Peer
from tests.ingest.test_gb28181_units import (
    DEVICE,
    DOMAIN,
    SERVER_ID,
    UDP,
    RecordingStack,
    _answer,
    _request,
)

OTHER = "34020000001320000002"
ELSEWHERE = Peer("udp", "10.0.0.7", 5062)  # same host, another port: another client
TCP = Peer("tcp", "10.0.0.7", 5060)


def platform_with(settings: GbSettings) -> tuple[GbPlatform, RecordingStack, list[Event]]:
    stack, bus, events = RecordingStack(), EventBus(), []
    bus.listen(events.append)
    return GbPlatform(settings, stack, bus), stack, events  # type: ignore[arg-type]


def register(platform: GbPlatform, stack: RecordingStack, source: Peer, password: str) -> int:
    """Challenge and answer from `source`; the final status."""
    platform.request_received(_request("REGISTER"), source, object())  # type: ignore[arg-type]
    challenge = stack.responses[-1]
    assert challenge.status == 401
    platform.request_received(_answer(challenge, password), source, object())  # type: ignore[arg-type]
    return stack.responses[-1].status


def unregister(platform: GbPlatform, stack: RecordingStack, source: Peer, password: str) -> int:
    platform.request_received(_request("REGISTER"), source, object())  # type: ignore[arg-type]
    answer = _answer(stack.responses[-1], password)
    answer.headers.set("Expires", "0")
    platform.request_received(answer, source, object())  # type: ignore[arg-type]
    return stack.responses[-1].status


# -- who may register -------------------------------------------------------------------------


def test_shared_password_admits_unlisted_devices_only_while_allowed() -> None:
    listed = (GbDeviceAccount(DEVICE, "own"), GbDeviceAccount(OTHER))
    open_ = GbSettings(DOMAIN, SERVER_ID, "shared", devices=listed)
    assert open_.password_for("34020000001320000099") == "shared"
    closed = GbSettings(DOMAIN, SERVER_ID, "shared", devices=listed, allow_shared_password=False)
    assert closed.password_for("34020000001320000099") is None  # unlisted: refused
    assert closed.password_for(OTHER) == "shared"  # listed without a password of its own
    assert closed.password_for(DEVICE) == "own"
    assert closed.has_own_password(DEVICE) and not closed.has_own_password(OTHER)


def test_allow_shared_password_is_read_and_checked() -> None:
    table: dict[str, Any] = {"domain": DOMAIN, "password": "x", "devices": [{"id": DEVICE}]}
    assert parse_gb28181_settings(table).allow_shared_password  # the default keeps old configs
    assert not parse_gb28181_settings(
        table | {"allow_shared_password": False}
    ).allow_shared_password
    with pytest.raises(ValueError, match="true or false"):
        parse_gb28181_settings(table | {"allow_shared_password": "no"})
    with pytest.raises(ValueError, match="listed devices only"):
        parse_gb28181_settings({"domain": DOMAIN, "password": "x", "allow_shared_password": False})


async def test_unlisted_device_is_refused_when_the_shared_password_is_not_allowed() -> None:
    settings = GbSettings(
        DOMAIN, SERVER_ID, "shared", devices=(GbDeviceAccount(OTHER),), allow_shared_password=False
    )
    platform, stack, events = platform_with(settings)
    assert register(platform, stack, UDP, "shared") == 403
    assert platform.devices.get(DEVICE) is None and events == []


# -- takeover ---------------------------------------------------------------------------------


@pytest.mark.parametrize("intruder", [ELSEWHERE, TCP, Peer("udp", "10.0.0.66", 5060)])
async def test_shared_password_cannot_take_a_live_device_to_another_address(
    intruder: Peer,
) -> None:
    platform, stack, events = platform_with(GbSettings(DOMAIN, SERVER_ID, "shared"))
    assert register(platform, stack, UDP, "shared") == 200
    assert register(platform, stack, intruder, "shared") == 403
    assert "registered elsewhere" in stack.responses[-1].reason
    assert unregister(platform, stack, intruder, "shared") == 403  # nor knock it offline
    device = platform.devices.get(DEVICE)
    assert device is not None and device.source == UDP and device.state == "online"
    assert register(platform, stack, UDP, "shared") == 200  # the device itself refreshes
    assert [e.data["state"] for e in events] == ["online"]
    await platform.stop()


async def test_a_device_that_went_offline_may_register_from_a_new_address() -> None:
    platform, stack, _ = platform_with(GbSettings(DOMAIN, SERVER_ID, "shared"))
    assert register(platform, stack, UDP, "shared") == 200
    platform.devices.check(platform.clock.now() + 3600)  # its keepalives stopped
    assert register(platform, stack, ELSEWHERE, "shared") == 200
    device = platform.devices.get(DEVICE)
    assert device is not None and device.source == ELSEWHERE
    await platform.stop()


async def test_a_device_with_its_own_password_may_move_with_it_and_only_with_it() -> None:
    settings = GbSettings(DOMAIN, SERVER_ID, "shared", devices=(GbDeviceAccount(DEVICE, "own"),))
    platform, stack, _ = platform_with(settings)
    assert register(platform, stack, UDP, "own") == 200
    assert register(platform, stack, ELSEWHERE, "shared") == 403  # the shared one is not its
    assert register(platform, stack, ELSEWHERE, "own") == 200
    device = platform.devices.get(DEVICE)
    assert device is not None and device.source == ELSEWHERE
    await platform.stop()


# -- SSRCs ------------------------------------------------------------------------------------


def _y(request: Request) -> str:
    match = re.search(rb"^y=(\d+)", request.body, re.MULTILINE)
    assert match is not None
    return match[1].decode()


async def test_invite_ssrcs_are_random_in_the_annex_f_format() -> None:
    platform, stack, _ = platform_with(GbSettings(DOMAIN, SERVER_ID, "shared"))
    assert register(platform, stack, UDP, "shared") == 200
    stack.status = 488  # the device refuses: we only read the offers
    for _ in range(20):
        with pytest.raises(GbPlayError):
            await platform.play(DEVICE, "34020000001310000001", port=40000)
    ssrcs = [_y(r) for r in stack.requests if r.method == "INVITE"]
    assert len(ssrcs) == 20
    for ssrc in ssrcs:  # 0 live, digits 4-8 of the domain, 4 more
        assert re.fullmatch(r"0" + DOMAIN[3:8] + r"\d{4}", ssrc), ssrc
    assert len(set(ssrcs)) >= 15  # not a counter: 20 draws from 10,000 rarely repeat
    subjects = [r.headers.get("Subject") or "" for r in stack.requests if r.method == "INVITE"]
    assert all(f":{ssrc}," in subject for ssrc, subject in zip(ssrcs, subjects, strict=True))
    await platform.stop()


def test_the_answer_ssrc_is_read_for_the_latch() -> None:
    answer = parse_answer(
        "v=0\r\no=x 0 0 IN IP4 10.0.0.7\r\ns=Play\r\nc=IN IP4 10.0.0.7\r\nt=0 0\r\n"
        "m=video 6000 RTP/AVP 96\r\na=rtpmap:96 PS/90000\r\ny=0200001234\r\n"
    )
    assert (answer.address, answer.port, answer.ssrc) == ("10.0.0.7", 6000, 200001234)


# -- the media port ---------------------------------------------------------------------------

SSRC = 200001234
DEVICE_MEDIA = ("10.0.0.7", 6000)


def packet(ssrc: int = SSRC) -> bytes:
    return build_rtp(96, 1, 0, ssrc, b"\x00\x00\x01\xba", False)


def latch(now: float = 100.0) -> MediaSourceLatch:
    return MediaSourceLatch(DEVICE_MEDIA, frozenset({"10.0.0.7", "192.0.2.9"}), SSRC, now)


def test_packets_from_the_answered_address_latch_and_strangers_are_dropped() -> None:
    gate = latch()
    assert gate.admit(packet(), DEVICE_MEDIA, 100.1)
    for stranger in (("10.0.0.7", 6002), ("203.0.113.5", 6000), ("192.0.2.9", 6000)):
        assert not gate.admit(packet(), stranger, 100.2)  # even with the right SSRC
    assert gate.admit(packet(), DEVICE_MEDIA, 500.0)
    assert gate.refused == 3


def test_a_device_sending_from_another_port_latches_with_the_agreed_ssrc_in_time() -> None:
    gate = latch()
    assert not gate.admit(packet(ssrc=SSRC + 1), ("10.0.0.7", 7000), 100.1)  # wrong SSRC
    assert not gate.admit(packet(), ("203.0.113.5", 7000), 100.2)  # not the device's host
    assert gate.admit(packet(), ("192.0.2.9", 7000), 100.3)  # where its SIP comes from
    assert gate.latched == ("192.0.2.9", 7000)
    assert not gate.admit(packet(), DEVICE_MEDIA, 100.4)  # latched: one source only
    late = latch()
    assert not late.admit(packet(), ("10.0.0.7", 7000), 100.0 + LATCH_S + 0.1)
    assert late.admit(packet(), DEVICE_MEDIA, 100.0 + LATCH_S + 0.2)  # the answered one may


def test_tcp_media_connections_are_taken_from_the_device_hosts_only() -> None:
    gate = latch()
    assert gate.admit_connection("10.0.0.7") and gate.admit_connection("192.0.2.9")
    assert not gate.admit_connection("203.0.113.5")
