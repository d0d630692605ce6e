"""Cascade up (级联), the sans-I/O parts: `[[gb28181.upstream]]` settings, the registration and
keepalive state, our catalog and its paging, the upper platform's offer and our answer, and the
PS over RTP we send."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

import ingest.gbcascadecatalog as ours
from ingest.gbpsrtp import PsRtpPacketizer, with_ssrc
from ingest.gbrecords import (
    RecordInfoResponse,
    RecordItem,
    encode_records_message,
    parse_records_message,
)
from ingest.gbrtp import PsRtpReceiver
from ingest.gbsdp import GbSdpError, parse_answer
from ingest.gbupperplay import build_answer, read_offer
from ingest.gbupstream import UpstreamSession
from ingest.gbupstreamlink import UpstreamLink
from ingest.gbupstreamsettings import parse_upstreams
from ingest.manscdp import (
    CatalogItem,
    CatalogResponse,
    encode_message,
    parse_envelope,
    parse_message,
)
from mediacore.clock import MONOTONIC
from mediacore.events import EventBus
from mediacore.rtp import RtpPacket, build_rtp
from mediacore.server.config import ConfigError, load_config
from sip.digest import Credentials, DigestServer, Verdict
from sip.message import Request, Response, make_response
from sip.peer import Peer
from tests.waiting import wait_for

LOCAL = "34020000002000000001"
UPPER = "34010000002000000001"
CHANNEL = "34020000001320000001"

# -- settings ---------------------------------------------------------------------------------


def test_an_upstream_takes_the_contracts_keys_with_defaults() -> None:
    (upstream,) = parse_upstreams(
        [{"server_id": UPPER, "domain": "3401000000", "address": "10.1.2.3", "password": "p"}],
        LOCAL,
    )
    assert (upstream.port, upstream.local_id, upstream.transport) == (5060, LOCAL, "udp")
    assert (upstream.expires, upstream.keepalive_interval, upstream.label) == (3600, 60.0, UPPER)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"server_id": "123", "address": "h"}, "server_id must be"),
        ({"server_id": UPPER, "address": "h", "domain": "34"}, "domain must be"),
        ({"server_id": UPPER}, "address must be"),
        ({"server_id": UPPER, "address": "h", "port": 70000}, "port must be"),
        ({"server_id": UPPER, "address": "h", "local_id": "x"}, "local_id must be"),
        ({"server_id": UPPER, "address": "h", "transport": "tls"}, "transport must be"),
        ({"server_id": UPPER, "address": "h", "expires": 5}, "expires must be"),
        ({"server_id": UPPER, "address": "h", "keepalive_interval": "1"}, "keepalive_interval"),
        ({"server_id": UPPER, "address": "h", "colour": "red"}, "unknown key"),
    ],
)
def test_bad_upstreams_are_refused_naming_the_key(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_upstreams([entry], LOCAL)


def test_upstreams_need_our_own_id_and_unique_server_ids() -> None:
    entry = {"server_id": UPPER, "address": "h"}
    with pytest.raises(ValueError, match="needs \\[gb28181\\]"):
        parse_upstreams([entry], "")
    with pytest.raises(ValueError, match="unique"):
        parse_upstreams([entry, entry], LOCAL)


def test_the_config_file_reads_upstream_tables_under_gb28181(tmp_path: Path) -> None:
    path = tmp_path / "mediacore.toml"
    path.write_text(
        '[gb28181]\ndomain = "3402000000"\npassword = "x"\n'
        f'[[gb28181.upstream]]\nserver_id = "{UPPER}"\naddress = "10.0.0.9"\nport = 5061\n'
        'password = "city"\nname = "市局"\n'
    )
    config = load_config(path, environ={})
    (upstream,) = config.gb28181_upstreams
    assert (upstream.port, upstream.name, upstream.local_id) == (5061, "市局", LOCAL)
    path.write_text(f'[gb28181]\n[[gb28181.upstream]]\nserver_id = "{UPPER}"\naddress = "h"\n')
    with pytest.raises(ConfigError, match="needs \\[gb28181\\]"):
        load_config(path, environ={})


# -- registration and keepalive ---------------------------------------------------------------


def test_registration_is_refreshed_before_expiry_and_keepalives_go_every_interval() -> None:
    session = UpstreamSession(keepalive_interval=10.0, misses=3)
    assert session.due(0.0) == "register"
    change = session.registered(0.0, 100)
    assert change is not None and change.state == "registered"
    assert session.due(5.0) is None and session.wait(5.0) == 5.0
    assert session.due(10.0) == "keepalive"
    assert session.keepalive_answered(10.0, 200) is None
    assert session.due(19.0) is None and session.due(20.0) == "keepalive"
    session.keepalive_answered(75.0, 200)
    assert session.due(79.0) is None and session.due(80.0) == "register"  # 80 % of 100 s
    assert session.registered(80.0, 100) is None  # a refresh changes no state
    assert session.describe(80.0)["expires_in"] == 100


def test_unanswered_keepalives_fail_the_link_and_registration_backs_off() -> None:
    session = UpstreamSession(keepalive_interval=1.0, misses=2, backoff=(1.0, 4.0))
    session.registered(0.0, 3600)
    assert session.keepalive_answered(1.0, 408) is None  # one miss is not yet lost
    change = session.keepalive_answered(2.0, 408)
    assert change is not None and change.state == "failed" and "2 keepalives" in change.reason
    assert session.due(2.0) == "register"  # at once
    assert session.register_failed(2.0, "408 No Answer") is None  # already failed
    assert session.due(2.5) is None and session.due(3.0) == "register"
    session.register_failed(3.0, "408 No Answer")
    assert session.due(6.9) is None and session.due(7.0) == "register"  # the back-off grew
    session.register_failed(7.0, "408")
    assert session.wait(7.0) == 4.0  # and stays at its last step
    assert session.registered(11.0, 60) is not None and session.failures == 0


def test_a_refused_keepalive_means_the_upper_platform_forgot_us() -> None:
    session = UpstreamSession(keepalive_interval=1.0, misses=3)
    session.registered(0.0, 3600)
    change = session.keepalive_answered(1.0, 403, "Forbidden")
    assert change is not None and change.reason == "keepalive refused: 403 Forbidden"
    assert session.describe(1.0)["state"] == "failed"


# -- catalog ----------------------------------------------------------------------------------


def test_wall_channels_have_stable_distinct_ids_in_our_domain() -> None:
    first = ours.wall_channels(LOCAL, {"hall": True, "ops": False})
    again = ours.wall_channels(LOCAL, {"ops": False, "hall": True, "new": True})
    ids = {c.wall: c.channel_id for c in first}
    assert {c.wall: c.channel_id for c in again if c.wall in ids} == ids
    assert all(len(i) == 20 and i.startswith("34020000001319") for i in ids.values())
    assert len(set(ids.values())) == 2
    items = ours.wall_items(LOCAL, first)
    assert [(i.name, i.status, i.parent_id) for i in items] == [
        ("wall hall", "ON", LOCAL),
        ("wall ops", "OFF", LOCAL),
    ]


def test_room_channels_are_stable_and_apart_from_the_walls() -> None:
    rooms = ours.room_channels(LOCAL, ["command", "hall"])
    walls = ours.wall_channels(LOCAL, {"command": True, "hall": True})
    assert ours.room_channels(LOCAL, ["hall", "new", "command"])[0] == rooms[0]
    assert all(c.channel_id.startswith("34020000001318") for c in rooms)
    assert not {c.channel_id for c in rooms} & {c.channel_id for c in walls}
    items = ours.room_items(LOCAL, rooms)
    assert [(i.name, i.status, i.parent_id) for i in items] == [
        ("command", "ON", LOCAL),
        ("hall", "ON", LOCAL),
    ]


def test_a_catalog_goes_a_few_items_per_message_each_with_the_total() -> None:
    items = [CatalogItem(f"3402000000131000000{i}", name=f"c{i}", status="ON") for i in range(9)]
    pages = ours.catalog_pages(LOCAL, 7, items, page=4)
    assert [len(p.items) for p in pages] == [4, 4, 1]
    assert {(p.sum_num, p.sn, p.device_id) for p in pages} == {(9, 7, LOCAL)}
    back = parse_message(encode_message(pages[2]))
    assert isinstance(back, CatalogResponse) and back.items == (items[8],)
    assert ours.catalog_pages(LOCAL, 8, []) == [CatalogResponse(LOCAL, 8, 0, ())]
    assert [i.status for i in ours.device_items(items[:2], online=False)] == ["OFF", "OFF"]


def test_a_devices_recordings_go_up_a_few_a_message_each_with_the_total() -> None:
    items = [
        RecordItem(CHANNEL, "r", start=1_700_000_000 + i, end=1_700_000_001 + i) for i in range(10)
    ]
    pages = ours.record_pages(CHANNEL, 5, items, page=8)
    assert [(len(p.items), p.sum_num, p.sn, p.device_id) for p in pages] == [
        (8, 10, 5, CHANNEL),
        (2, 10, 5, CHANNEL),
    ]
    back = parse_records_message(encode_records_message(pages[1]))
    assert isinstance(back, RecordInfoResponse) and back.items == tuple(items[8:])
    assert ours.record_pages(CHANNEL, 6, []) == [RecordInfoResponse(CHANNEL, 6, 0)]


def test_device_status_answer_is_well_formed_manscdp() -> None:
    body = ours.device_status_body(LOCAL, 5, True, datetime(2026, 1, 2, 3, 4, 5))
    envelope = parse_envelope(body)
    assert (envelope.root, envelope.cmd_type, envelope.device_id, envelope.sn) == (
        "Response",
        "DeviceStatus",
        LOCAL,
        5,
    )
    assert b"<Online>ONLINE</Online>" in body and b"2026-01-02T03:04:05" in body


def test_an_envelope_is_read_from_commands_this_side_does_not_model() -> None:
    control = (
        b'<?xml version="1.0" encoding="GB2312"?>\r\n<Control><CmdType>DeviceControl</CmdType>'
        b"<SN>11</SN><DeviceID>34020000001310000001</DeviceID><PTZCmd>A50F01</PTZCmd></Control>"
    )
    envelope = parse_envelope(control)
    assert (envelope.root, envelope.cmd_type, envelope.sn) == ("Control", "DeviceControl", 11)


# -- the upper platform's INVITE --------------------------------------------------------------

OFFER = (
    "v=0\r\no={upper} 0 0 IN IP4 10.0.0.1\r\ns=Play\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
    "m=video 30000 {proto} 96 98\r\na=recvonly\r\na=rtpmap:96 PS/90000\r\n"
    "a=rtpmap:98 H264/90000\r\n{setup}y=0100000042\r\n"
)


@pytest.mark.parametrize(
    ("proto", "setup", "mode", "ours"),
    [
        ("RTP/AVP", "", "udp", None),
        ("TCP/RTP/AVP", "a=setup:passive\r\n", "tcp-active", "active"),
        ("TCP/RTP/AVP", "a=setup:active\r\n", "tcp-passive", "passive"),
    ],
)
def test_the_offer_says_where_and_how_and_the_answer_mirrors_it(
    proto: str, setup: str, mode: str, ours: str | None
) -> None:
    body = OFFER.format(upper=UPPER, proto=proto, setup=setup).encode()
    offer = read_offer(body, LOCAL)
    assert (offer.address, offer.port, offer.mode, offer.ssrc) == (
        "10.0.0.1",
        30000,
        mode,
        "0100000042",
    )
    answer = build_answer(offer, channel_id="34020000001310000001", address="10.0.0.2", port=20002)
    read = parse_answer(answer.serialize())
    assert (read.address, read.port, read.ssrc, read.setup) == ("10.0.0.2", 20002, 100000042, ours)
    assert read.transport == ("udp" if mode == "udp" else "tcp") and read.encoding == "PS"
    assert "a=sendonly" in answer.serialize()


def test_playback_and_download_offers_carry_their_range_and_speed() -> None:
    live = OFFER.format(upper=UPPER, proto="RTP/AVP", setup="")
    playback = live.replace("s=Play", "s=Playback").replace("t=0 0", "t=1700000000 1700000060")
    offer = read_offer(playback.encode(), LOCAL)
    assert (offer.kind, offer.playback, offer.download_speed) == (
        "Playback",
        (1700000000, 1700000060),
        None,
    )
    answer = build_answer(offer, channel_id="34020000001310000001", address="10.0.0.2", port=2)
    assert "s=Playback" in answer.serialize() and "t=1700000000 1700000060" in answer.serialize()
    download = playback.replace("s=Playback", "s=Download") + "a=downloadspeed:4\r\n"
    assert read_offer(download.encode(), LOCAL).download_speed == 4
    assert read_offer(live.encode(), LOCAL).playback is None


def test_offers_we_cannot_serve_are_refused() -> None:
    live = OFFER.format(upper=UPPER, proto="RTP/AVP", setup="")
    for session, timing in (("s=Talk", "t=0 0"), ("s=Playback", "t=0 0"), ("s=Playback", "t=9 1")):
        wrong = live.replace("s=Play", session).replace("t=0 0", timing)
        with pytest.raises(GbSdpError):
            read_offer(wrong.encode(), LOCAL)
    week = live.replace("s=Play", "s=Download").replace("t=0 0", "t=1 999999")
    with pytest.raises(GbSdpError, match="at most 7 days"):
        read_offer(week.encode(), LOCAL)
    nowhere = OFFER.format(upper=UPPER, proto="RTP/AVP", setup="").replace("10.0.0.1", "0.0.0.0")
    with pytest.raises(GbSdpError, match="no address"):
        read_offer(nowhere.encode(), LOCAL)
    with pytest.raises(GbSdpError):
        read_offer(b"not sdp", LOCAL)


# -- media out --------------------------------------------------------------------------------


def test_relayed_packets_carry_the_upper_platforms_ssrc_and_nothing_else_changes() -> None:
    packet = build_rtp(96, 1234, 90000, 0x11111111, b"\x00\x00\x01\xba payload", True)
    out = with_ssrc(packet, 100000042)
    assert out is not None
    parsed = RtpPacket.parse(out)
    assert (parsed.ssrc, parsed.sequence_number, parsed.timestamp, parsed.marker) == (
        100000042,
        1234,
        90000,
        True,
    )
    assert parsed.payload == RtpPacket.parse(packet).payload
    assert with_ssrc(b"\x00" * 12, 1) is None and with_ssrc(b"\x80", 1) is None


def test_our_own_h264_goes_out_as_ps_over_rtp_that_demuxes_back() -> None:
    sps = b"\x00\x00\x00\x01\x67\x42\xc0\x1e\xda\x02\x80\xbf\xe5\x84\x00\x00\x03\x00\x04"
    idr = sps + b"\x00\x00\x00\x01\x68\xce\x3c\x80" + b"\x00\x00\x00\x01\x65" + bytes(3000)
    packetizer = PsRtpPacketizer(100000042, payload_size=1000)
    receiver = PsRtpReceiver(100000042)
    frames = []
    for pts in (0, 3600, 7200):
        for packet in packetizer.packets(idr, pts):
            assert len(packet) <= 1012
            frames += receiver.receive(packet)
    assert receiver.packets == packetizer.packets_sent and receiver.lost == 0
    assert [(f.kind, f.pts, f.keyframe) for f in frames][:2] == [
        ("video", 0, True),
        ("video", 3600, True),
    ]
    assert frames[0].data.endswith(bytes(3000))


# -- the REGISTER we send ---------------------------------------------------------------------


class _Upper:
    """Stands in for the SIP stack: answers our requests as an upper platform would, checking
    the digest with the server side of sip.digest (SHA-256 challenged first, then MD5)."""

    def __init__(self) -> None:
        self.clock = MONOTONIC
        self.digest = DigestServer("3401000000", algorithms=("SHA-256", "MD5"))
        self.sent: list[Request] = []

    def via(self, peer: Peer) -> str:
        return "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKtest;rport"

    def contact_uri(self, user: str, peer: Peer) -> str:
        return f"sip:{user}@127.0.0.1:5060"

    async def request(self, request: Request, peer: Peer) -> Response:
        self.sent.append(request)
        header = request.headers.get("Authorization")
        if request.method == "REGISTER" and header is None:
            challenge = make_response(request, 401, to_tag="t")
            for value in self.digest.challenges(time.time()):
                challenge.headers.add("WWW-Authenticate", value.header_value())
            return challenge
        if request.method == "REGISTER":
            assert header is not None
            verdict = self.digest.verify(
                Credentials.parse(header),
                method="REGISTER",
                request_uri=request.uri,
                password="city",
                now=time.time(),
            )
            if verdict is not Verdict.OK:
                return make_response(request, 403)
            ok = make_response(request, 200, to_tag="t")
            ok.headers.add("Expires", "600")
            return ok
        return make_response(request, 200)


async def test_the_link_registers_answering_sha256_and_keeps_alive() -> None:
    (upstream,) = parse_upstreams(
        [{"server_id": UPPER, "address": "127.0.0.1", "password": "city", "expires": 3600}],
        LOCAL,
    )
    upper = _Upper()
    bus = EventBus()
    events: list[dict[str, object]] = []
    bus.listen(lambda event: events.append(dict(event.data)))
    link = UpstreamLink(replace(upstream, keepalive_interval=0.1), upper, bus)  # type: ignore[arg-type]
    link.start()
    try:
        await wait_for(lambda: link.session.keepalives >= 1, 3)
    finally:
        await link.stop()
    register, authorized = upper.sent[:2]
    assert register.uri == f"sip:{UPPER}@3401000000"
    assert str(register.from_.uri) == f"sip:{LOCAL}@3402000000" and register.to.uri.user == LOCAL
    assert "algorithm=SHA-256" in (authorized.headers.get("Authorization") or "")
    assert link.session.expires_at - link.session.registered_at == 600  # type: ignore[operator]
    keepalive = upper.sent[2]
    assert keepalive.method == "MESSAGE" and b"<CmdType>Keepalive</CmdType>" in keepalive.body
    assert events[0] == {
        "upstream": UPPER,
        "name": UPPER,
        "state": "registered",
        "reason": "registered",
    }
    assert upper.sent[-1].headers.get("Expires") == "0"  # stopping unregisters
