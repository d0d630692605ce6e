"""GB/T 28181 platform logic without sockets: PS over RTP in, the device table, settings, URLs,
and the platform's REGISTER/MESSAGE answers (section 9.1 registration, 9.6 keepalive)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from ingest.gbdevices import GbDeviceTable
from ingest.gbplatform import GbPlatform, GbPlayError
from ingest.gbreader import gb_target
from ingest.gbrtp import PsRtpReceiver
from ingest.gbsettings import GbDeviceAccount, GbSettings, parse_gb28181_settings
from ingest.manscdp import CatalogItem, CatalogResponse, Keepalive, encode_message
from ingest.ps import PsMuxer, split_payloads
from ingest.puller import PullError
from mediacore.clock import MONOTONIC
from mediacore.events import Event, EventBus
from mediacore.rtp import build_rtp
from mediacore.server.config import ConfigError, load_config
from sip.authclient import authorization_for
from sip.digest import Challenge
from sip.message import Headers, Request, Response
from sip.transaction import Peer

DEVICE = "34020000001320000001"
CHANNEL = "34020000001310000001"
DOMAIN = "3402000000"
SERVER_ID = "34020000002000000001"
SSRC = 100001
SPS = b"\x00\x00\x00\x01\x67\x42\xc0\x1f\xda\x01\x40\x16\xe8"
PPS = b"\x00\x00\x00\x01\x68\xce\x3c\x80"


# -- PS over RTP ----------------------------------------------------------------------------


def _frames(count: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    frames = []
    for index in range(count):
        body = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(2000, 6000)))
        nal = b"\x00\x00\x00\x01\x65" if index % 10 == 0 else b"\x00\x00\x00\x01\x41"
        frames.append((SPS + PPS if index % 10 == 0 else b"") + nal + body)
    return frames


def _packets(frames: list[bytes], ssrc: int = SSRC, first_seq: int = 65530) -> list[bytes]:
    """RTP packets as a device sends them: one pack per frame, marker on its last packet."""
    muxer = PsMuxer("h264", None)
    packets = []
    seq = first_seq
    for index, frame in enumerate(frames):
        pts = index * 3600
        payloads = split_payloads(muxer.video(frame, pts), 1400)
        for number, payload in enumerate(payloads):
            packets.append(build_rtp(96, seq, pts, ssrc, payload, number == len(payloads) - 1))
            seq = (seq + 1) & 0xFFFF
    return packets


def _receive(receiver: PsRtpReceiver, packets: list[bytes]) -> list[bytes]:
    return [f.data for p in packets for f in receiver.receive(p) if f.kind == "video"]


def test_in_order_packets_give_every_frame_across_the_sequence_wrap() -> None:
    frames = _frames(12)
    receiver = PsRtpReceiver(SSRC)
    assert _receive(receiver, _packets(frames)) == frames
    assert receiver.lost == 0 and receiver.reordered == 0


def test_packets_swapped_within_the_window_are_put_back_in_order() -> None:
    frames = _frames(12)
    packets = _packets(frames)
    rng = random.Random(7)
    for at in range(
        5, len(packets) - 4, 5
    ):  # swap neighbours here and there (the first sets the start)
        if rng.random() < 0.7:
            packets[at], packets[at + 2] = packets[at + 2], packets[at]
    receiver = PsRtpReceiver(SSRC)
    assert _receive(receiver, packets) == frames
    assert receiver.reordered > 0 and receiver.lost == 0


def test_a_lost_packet_costs_its_frame_only_and_is_counted() -> None:
    frames = _frames(20)
    packets = _packets(frames)
    del packets[8]  # inside frame 1 or 2 (frames are 2-5 packets)
    receiver = PsRtpReceiver(SSRC)
    got = _receive(receiver, packets)
    assert receiver.lost == 1
    assert len(got) == len(frames) - 1
    assert all(frame in frames for frame in got)
    assert got[-5:] == frames[-5:]


def test_packets_of_another_ssrc_are_dropped() -> None:
    frames = _frames(3)
    intruder = _packets(_frames(3, seed=9), ssrc=SSRC + 1, first_seq=100)
    mixed = [p for pair in zip(_packets(frames), intruder, strict=False) for p in pair]
    receiver = PsRtpReceiver(SSRC)
    assert _receive(receiver, mixed + _packets(frames)[len(intruder) :]) == frames
    assert receiver.wrong_ssrc == len(intruder)


def test_rtcp_duplicates_and_garbage_are_ignored() -> None:
    frames = _frames(4)
    packets = _packets(frames)
    noisy = [b"\x81\xc8\x00\x06" + bytes(24), b"\x00" * 5]
    for packet in packets:
        noisy += [packet, packet]
    receiver = PsRtpReceiver(SSRC)
    assert _receive(receiver, noisy) == frames
    assert receiver.late == len(packets) and receiver.malformed == 1  # repeats come late


def test_g711_audio_pack_between_video_frames_comes_out_as_audio() -> None:
    muxer = PsMuxer("h264", "pcma")
    frame = _frames(1)[0]
    packs = [muxer.video(frame, 0), muxer.audio(b"\xd5" * 320, 0), muxer.video(frame, 3600)]
    receiver = PsRtpReceiver(SSRC)
    out = []
    seq = 0
    for index, pack in enumerate(packs):
        payloads = split_payloads(pack)
        for number, payload in enumerate(payloads):
            marker = number == len(payloads) - 1
            timestamp = 0 if index < 2 else 3600
            out += receiver.receive(build_rtp(96, seq, timestamp, SSRC, payload, marker))
            seq += 1
    assert [(f.kind, f.codec) for f in out] == [
        ("video", "h264"),
        ("audio", "pcma"),
        ("video", "h264"),
    ]
    assert out[1].data == b"\xd5" * 320


# -- the device table -------------------------------------------------------------------------

UDP = Peer("udp", "10.0.0.7", 5060)


def _online(table: GbDeviceTable, now: float = 0.0) -> None:
    changes = table.register(
        DEVICE, expires=3600, source=UDP, contact="sip:x@10.0.0.7", now=now, wall_now=0.0
    )
    assert [(c.state, c.reason) for c in changes] == [("online", "registered")]


def test_device_goes_offline_after_three_missed_keepalives_not_before() -> None:
    table = GbDeviceTable(keepalive_interval=60.0, misses=3)
    _online(table)
    assert table.keepalive(DEVICE, UDP, 60.0) == []
    assert table.check(60.0 + 179.0) == []
    changes = table.check(60.0 + 181.0)
    assert [(c.device_id, c.state, c.reason) for c in changes] == [
        (DEVICE, "offline", "keepalive-timeout")
    ]
    assert table.check(400.0) == []  # said once
    back = table.keepalive(DEVICE, UDP, 401.0)
    assert back is not None and [c.state for c in back] == ["online"]


def test_refresh_is_no_change_and_unregister_and_expiry_are() -> None:
    table = GbDeviceTable(keepalive_interval=60.0)
    _online(table)
    again = table.register(
        DEVICE, expires=3600, source=UDP, contact="sip:x@10.0.0.7", now=30.0, wall_now=0.0
    )
    assert again == []
    gone = table.register(DEVICE, expires=0, source=UDP, contact="", now=31.0, wall_now=0.0)
    assert [(c.state, c.reason) for c in gone] == [("offline", "unregistered")]
    assert table.keepalive(DEVICE, UDP, 32.0) is None  # not registered: answered 403
    short = GbDeviceTable(keepalive_interval=600.0)
    short.register(DEVICE, expires=100, source=UDP, contact="", now=0.0, wall_now=0.0)
    assert [c.reason for c in short.check(101.0)] == ["registration-expired"]


def test_keepalive_from_another_host_or_unknown_device_is_refused() -> None:
    table = GbDeviceTable()
    _online(table)
    assert table.keepalive(DEVICE, Peer("udp", "10.0.0.8", 5060), 1.0) is None
    assert table.keepalive("34020000001320000099", UDP, 1.0) is None


def test_catalog_responses_merge_and_are_described_with_location() -> None:
    table = GbDeviceTable()
    _online(table)
    first = CatalogItem(CHANNEL, name="前门", status="ON", longitude=116.4, latitude=39.9)
    second = CatalogItem("34020000001310000002", name="后门", status="OFF")
    assert table.catalog(CatalogResponse(DEVICE, 1, 2, (first,)))
    assert table.catalog(CatalogResponse(DEVICE, 1, 2, (second,)))
    assert not table.catalog(CatalogResponse("34020000001320000099", 1, 1, (first,)))
    [device] = table.describe(10.0)
    assert device["state"] == "online" and device["online"] is True
    channels = {c["id"]: c for c in device["channels"]}
    assert channels[CHANNEL]["name"] == "前门" and channels[CHANNEL]["longitude"] == 116.4
    assert channels["34020000001310000002"]["status"] == "OFF"


# -- settings and URLs ------------------------------------------------------------------------


def test_settings_parse_and_device_passwords() -> None:
    settings = parse_gb28181_settings(
        {
            "domain": DOMAIN,
            "server_id": SERVER_ID,
            "password": "shared",
            "devices": [{"id": DEVICE, "password": "own", "name": "东门"}],
        }
    )
    assert settings.enabled and settings.keepalive_interval == 60.0
    assert settings.password_for(DEVICE) == "own" and settings.name_for(DEVICE) == "东门"
    assert settings.password_for("34020000001320000002") == "shared"
    listed_only = GbSettings(DOMAIN, SERVER_ID, "", devices=(GbDeviceAccount(DEVICE, "p"),))
    assert listed_only.password_for("34020000001320000002") is None
    assert not parse_gb28181_settings({}).enabled


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        ({"domain": "34020"}, "10-digit"),
        ({"domain": DOMAIN, "server_id": "123", "password": "x"}, "20-digit"),
        ({"domain": DOMAIN}, "password is needed"),
        ({"domain": DOMAIN, "password": "x", "colour": 1}, "unknown key"),
        ({"domain": DOMAIN, "password": "x", "devices": [{"id": "1"}]}, "20 digits"),
        ({"domain": DOMAIN, "password": "x", "keepalive_interval": 0}, "keepalive_interval"),
    ],
)
def test_bad_settings_name_the_key(table: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_gb28181_settings(table)


def test_config_file_section(tmp_path: Path) -> None:
    path = tmp_path / "mediacore.toml"
    path.write_text(
        f'[gb28181]\ndomain = "{DOMAIN}"\npassword = "secret"\nkeepalive_interval = 30\n'
        f'[[gb28181.devices]]\nid = "{DEVICE}"\nname = "北门"\n',
        encoding="utf-8",
    )
    config = load_config(path, environ={})
    assert config.gb28181.server_id == f"{DOMAIN}2000000001"
    assert config.gb28181.keepalive_interval == 30.0
    assert config.gb28181.devices[0].name == "北门"
    path.write_text('[gb28181]\ndomain = "1"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="gb28181.domain"):
        load_config(path, environ={})


def test_source_urls() -> None:
    target = gb_target(f"gb28181://{DEVICE}/{CHANNEL}?transport=tcp")
    assert target.options == {"device": DEVICE, "channel": CHANNEL, "transport": "tcp"}
    assert gb_target(f"gb28181://{DEVICE}").options["channel"] == DEVICE
    for bad in (f"gb28181://123/{CHANNEL}", f"gb28181://{DEVICE}/{CHANNEL}?transport=sctp"):
        with pytest.raises(PullError) as caught:
            gb_target(bad)
        assert caught.value.permanent


# -- the platform's answers, over a stack that records instead of sending --------------------


class RecordingStack:
    """What GbPlatform uses of SipStack; answers our own requests with `status`."""

    def __init__(self) -> None:
        self.responses: list[Response] = []
        self.requests: list[Request] = []
        self.status = 200
        self.clock = MONOTONIC

    def respond(self, transaction: object, response: Response) -> None:
        self.responses.append(response)

    async def request(
        self, request: Request, destination: Peer, on_provisional: object = None
    ) -> Response:
        self.requests.append(request)
        return Response(Headers(), b"", self.status, "OK")

    def via(self, peer: Peer) -> str:
        return "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKtest"

    def local_host(self, toward: str) -> str:
        return "127.0.0.1"

    def contact_uri(self, user: str, peer: Peer) -> str:
        return f"sip:{user}@127.0.0.1:5060"


def _request(method: str, *, cseq: int = 1, body: bytes = b"") -> Request:
    uri = f"sip:{SERVER_ID}@{DOMAIN}"
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bKdev"),
            ("From", f"<sip:{DEVICE}@{DOMAIN}>;tag=d1"),
            ("To", f"<sip:{DEVICE}@{DOMAIN}>"),
            ("Call-ID", "reg-1"),
            ("CSeq", f"{cseq} {method}"),
            ("Contact", f"<sip:{DEVICE}@10.0.0.7:5060>"),
            ("Expires", "3600"),
        ]
    )
    return Request(headers, body, method, uri)


def _platform(password: str = "secret") -> tuple[GbPlatform, RecordingStack, list[Event]]:
    stack = RecordingStack()
    bus = EventBus()
    events: list[Event] = []
    bus.listen(events.append)
    settings = GbSettings(DOMAIN, SERVER_ID, password, keepalive_interval=1.0)
    return GbPlatform(settings, stack, bus), stack, events  # type: ignore[arg-type]


def _answer(challenge: Response, password: str, username: str = DEVICE) -> Request:
    request = _request("REGISTER", cseq=2)
    header = authorization_for(
        challenge, username=username, password=password, method="REGISTER", uri=request.uri
    )
    assert header is not None
    request.headers.add(*header)
    return request


async def test_register_is_challenged_md5_in_the_domain_realm_then_accepted() -> None:
    platform, stack, events = _platform()
    assert platform.claims(_request("REGISTER"))
    platform.request_received(_request("REGISTER"), UDP, object())  # type: ignore[arg-type]
    challenge = stack.responses[-1]
    assert challenge.status == 401
    parsed = Challenge.parse(challenge.headers.get("WWW-Authenticate") or "")
    assert (parsed.realm, parsed.algorithm) == (DOMAIN, "MD5")
    platform.request_received(_answer(challenge, "secret"), UDP, object())  # type: ignore[arg-type]
    ok = stack.responses[-1]
    assert ok.status == 200 and (ok.headers.get("Date") or "").count("T") == 1
    assert [(e.type, e.data["device"], e.data["state"]) for e in events] == [
        ("gb.device", DEVICE, "online")
    ]
    await platform.stop()


async def test_wrong_password_and_borrowed_credentials_are_403() -> None:
    platform, stack, events = _platform()
    platform.request_received(_request("REGISTER"), UDP, object())  # type: ignore[arg-type]
    challenge = stack.responses[-1]
    platform.request_received(_answer(challenge, "wrong"), UDP, object())  # type: ignore[arg-type]
    assert stack.responses[-1].status == 403
    other = _answer(challenge, "secret", username="34020000001320000002")
    platform.request_received(other, UDP, object())  # type: ignore[arg-type]
    assert stack.responses[-1].status == 403
    assert events == [] and platform.devices.get(DEVICE) is None


async def test_keepalive_before_registration_is_403_after_it_200() -> None:
    platform, stack, _ = _platform()
    keepalive = _request("MESSAGE", body=encode_message(Keepalive(DEVICE, 1)))
    platform.request_received(keepalive, UDP, object())  # type: ignore[arg-type]
    assert stack.responses[-1].status == 403
    platform.request_received(_request("REGISTER"), UDP, object())  # type: ignore[arg-type]
    platform.request_received(_answer(stack.responses[-1], "secret"), UDP, object())  # type: ignore[arg-type]
    platform.request_received(keepalive, UDP, object())  # type: ignore[arg-type]
    assert stack.responses[-1].status == 200
    await platform.stop()


async def test_playing_an_unknown_device_is_a_permanent_error() -> None:
    platform, _, _ = _platform()
    with pytest.raises(GbPlayError) as caught:
        await platform.play(DEVICE, CHANNEL, port=40000)
    assert caught.value.permanent and "unknown GB/T 28181 device" in caught.value.reason


def test_only_gb_ids_are_claimed() -> None:
    platform, _, _ = _platform()
    phone = _request("REGISTER")
    phone.headers.set("From", "<sip:alice@example.org>;tag=a")
    assert not platform.claims(phone)
    invite = _request("INVITE")
    assert not platform.claims(invite)


async def test_messages_we_do_not_model_are_accepted_malformed_ones_refused() -> None:
    platform, stack, _ = _platform()
    platform.request_received(_request("REGISTER"), UDP, object())  # type: ignore[arg-type]
    platform.request_received(_answer(stack.responses[-1], "secret"), UDP, object())  # type: ignore[arg-type]
    alarm = (
        b'<?xml version="1.0" encoding="GB2312"?>\r\n<Notify><CmdType>Alarm</CmdType>'
        b"<SN>7</SN><DeviceID>" + DEVICE.encode() + b"</DeviceID></Notify>\r\n"
    )
    platform.request_received(_request("MESSAGE", body=alarm), UDP, object())  # type: ignore[arg-type]
    assert stack.responses[-1].status == 200
    platform.request_received(_request("MESSAGE", body=b"<Notify>"), UDP, object())  # type: ignore[arg-type]
    assert stack.responses[-1].status == 400
    await platform.stop()
