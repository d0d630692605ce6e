"""GB/T 28181 devices done properly, without sockets: who is a device (the 20-digit rule), the
digest algorithms offered, the registry kept on disk, the CANCEL of an unanswered play INVITE
and the TCP active offer."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ingest.gbdevices import MAX_CHANNELS, GbDeviceTable
from ingest.gbidentity import is_device_type, is_device_user, type_code
from ingest.gbinvite import send_invite
from ingest.gbplatform import GbPlatform, GbPlayError
from ingest.gbreader import MEDIA_MODES, GbReader, gb_target
from ingest.gbsdp import build_offer, parse_answer
from ingest.gbsettings import GbDeviceAccount, GbSettings, parse_gb28181_settings
from ingest.gbsnapshot import SnapshotError, device_record, restore_device
from ingest.gbstore import STORE_FILE, GbDeviceStore
from ingest.manscdp import (
    CatalogItem,
    CatalogQuery,
    CatalogResponse,
    DeviceInfoQuery,
    DeviceInfoResponse,
    Keepalive,
    encode_message,
    parse_message,
)
from ingest.netpolicy import NetworkPolicy
from ingest.puller import PullError
from mediacore.events import Event, EventBus
from sip.cancel import cancel_for
from sip.digest import Challenge
from sip.message import Headers, Request, Response, make_response
from sip.message import parse_message as parse_sip
from sip.transaction import Peer
from tests.ingest.test_gb28181_units import (
    CHANNEL,
    DEVICE,
    DOMAIN,
    SERVER_ID,
    RecordingStack,
    _request,
)
from tools.gbdevice_auth import knowing, register_authorization

UDP = Peer("udp", "10.0.0.7", 5060)
PHONE = "34020000004000000001"  # type 400: a terminal user (a person), not a device


def _platform(
    settings: GbSettings | None = None, store: GbDeviceStore | None = None
) -> tuple[GbPlatform, RecordingStack, list[Event]]:
    stack, bus, events = RecordingStack(), EventBus(), []
    bus.listen(events.append)
    settings = settings or GbSettings(DOMAIN, SERVER_ID, "secret", keepalive_interval=1.0)
    return GbPlatform(settings, stack, bus, store=store), stack, events  # type: ignore[arg-type]


def _register(
    platform: GbPlatform,
    stack: RecordingStack,
    *,
    algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
    password: str = "secret",
) -> int:
    platform.request_received(_request("REGISTER"), UDP, object())  # type: ignore[arg-type]
    challenge = stack.responses[-1]
    request = _request("REGISTER", cseq=2)
    answered = register_authorization(
        challenge, algorithms=algorithms, username=DEVICE, password=password, uri=request.uri
    )
    if answered is None:
        return challenge.status
    request.headers.add(*answered[0])
    platform.request_received(request, UDP, object())  # type: ignore[arg-type]
    return stack.responses[-1].status


def _from(method: str, user: str, host: str) -> Request:
    request = _request(method)
    request.headers.set("From", f"<sip:{user}@{host}>;tag=x")
    return request


# -- who is a device ---------------------------------------------------------------------------


def test_type_codes_of_devices_and_platforms_but_not_of_people() -> None:
    assert type_code(DEVICE) == 132 and type_code("alice") is None
    assert all(is_device_type(f"3402000000{code}0000001") for code in (111, 118, 131, 132, 199))
    assert all(is_device_type(f"3402000000{code}0000001") for code in (200, 216, 299))
    assert not any(is_device_type(f"3402000000{code}0000001") for code in (100, 300, 400, 500))


@pytest.mark.parametrize(
    ("user", "host", "listed", "known", "device"),
    [
        (DEVICE, DOMAIN, False, False, True),  # a camera of our domain
        (DEVICE, "192.168.1.64", False, False, True),  # From names its IP: the id's domain
        ("44010000001320000001", DOMAIN, False, False, True),  # another id prefix, our domain
        ("44010000001320000001", "192.168.1.64", False, False, False),  # neither is ours
        (PHONE, DOMAIN, False, False, False),  # a person's number in our domain
        ("12345678901234567890", "127.0.0.1", False, False, False),  # a phone extension
        ("12345678901234567890", "127.0.0.1", True, False, True),  # listed as a device
        (PHONE, DOMAIN, False, True, True),  # the registry knows it
        ("3402000000132000001", DOMAIN, True, True, False),  # 19 digits: never
    ],
)
def test_a_20_digit_user_is_a_device_only_when_known_or_its_type_and_domain_say_so(
    user: str, host: str, listed: bool, known: bool, device: bool
) -> None:
    assert is_device_user(user, host, domain=DOMAIN, listed=listed, known=known) is device


def test_a_configured_sip_user_is_a_phone_unless_gb28181_lists_it() -> None:
    def rule(listed: bool, known: bool) -> bool:
        return is_device_user(DEVICE, DOMAIN, domain=DOMAIN, listed=listed, known=known, phone=True)

    assert not rule(listed=False, known=False)  # looks like a camera of our domain: a phone
    assert not rule(listed=False, known=True)
    assert rule(listed=True, known=False)


def test_the_platform_leaves_20_digit_phones_to_the_sip_user_agent() -> None:
    platform, _, _ = _platform()
    assert platform.claims(_from("REGISTER", DEVICE, DOMAIN))
    assert not platform.claims(_from("REGISTER", PHONE, DOMAIN))
    assert not platform.claims(_from("MESSAGE", "12345678901234567890", "127.0.0.1"))
    listed = GbSettings(DOMAIN, SERVER_ID, "secret", devices=(GbDeviceAccount(PHONE, "pw"),))
    platform, _, _ = _platform(listed)
    assert platform.claims(_from("REGISTER", PHONE, DOMAIN))
    stack, bus = RecordingStack(), EventBus()
    settings = GbSettings(DOMAIN, SERVER_ID, "secret")
    configured = GbPlatform(settings, stack, bus, phones={DEVICE}.__contains__)  # type: ignore[arg-type]
    assert not configured.claims(_from("REGISTER", DEVICE, DOMAIN))


# -- digest algorithms -------------------------------------------------------------------------


def test_digest_algorithms_setting() -> None:
    base = {"domain": DOMAIN, "password": "x"}
    assert parse_gb28181_settings(base).digest_algorithms == ("MD5",)
    both = parse_gb28181_settings(base | {"digest_algorithms": ["SHA-256", "MD5"]})
    assert both.digest_algorithms == ("SHA-256", "MD5")
    for bad in ([], ["SHA-1"], ["MD5", "MD5"], "MD5", [5]):
        with pytest.raises(ValueError, match="digest_algorithms"):
            parse_gb28181_settings(base | {"digest_algorithms": bad})


def _offered(settings: GbSettings) -> list[str]:
    platform, stack, _ = _platform(settings)
    platform.request_received(_request("REGISTER"), UDP, object())  # type: ignore[arg-type]
    values = stack.responses[-1].headers.get_all("WWW-Authenticate")
    return [Challenge.parse(value).algorithm for value in values]


async def test_sha256_is_offered_first_when_configured_and_either_answer_registers() -> None:
    both = GbSettings(DOMAIN, SERVER_ID, "secret", digest_algorithms=("SHA-256", "MD5"))
    assert _offered(GbSettings(DOMAIN, SERVER_ID, "secret")) == ["MD5"]
    assert _offered(both) == ["SHA-256", "MD5"]
    for knows in (("SHA-256", "MD5"), ("MD5",)):
        platform, stack, _ = _platform(both)
        assert _register(platform, stack, algorithms=knows) == 200
        await platform.stop()
    only = GbSettings(DOMAIN, SERVER_ID, "secret", digest_algorithms=("SHA-256",))
    platform, stack, _ = _platform(only)
    assert _register(platform, stack, algorithms=("MD5",)) == 401  # it cannot answer
    assert platform.devices.get(DEVICE) is None
    platform, stack, _ = _platform(only)
    assert _register(platform, stack, password="wrong") == 403


def test_the_simulator_answers_the_first_challenge_it_knows() -> None:
    challenge = make_response(_request("REGISTER"), 401)
    for algorithm in ("SHA-256", "MD5"):
        challenge.headers.add(
            "WWW-Authenticate", Challenge(DOMAIN, "n" * 32, algorithm, "auth").header_value()
        )
    assert len(knowing(challenge, ("MD5",)).headers.get_all("WWW-Authenticate")) == 1
    for knows, used in ((("SHA-256", "MD5"), "SHA-256"), (("MD5",), "MD5")):
        answered = register_authorization(
            challenge, algorithms=knows, username=DEVICE, password="p", uri="sip:x@y"
        )
        assert answered is not None and answered[1] == used


# -- the registry on disk ----------------------------------------------------------------------


def _catalog(count: int) -> CatalogResponse:
    items = tuple(
        CatalogItem(f"{DOMAIN}131{i:07d}", name=f"通道 {i}", status="ON", longitude=116.4)
        for i in range(1, count + 1)
    )
    return CatalogResponse(DEVICE, 1, count, items)


def test_a_snapshot_restores_the_device_offline_on_the_new_clock() -> None:
    table = GbDeviceTable()
    table.register(DEVICE, expires=600, source=UDP, contact="sip:d@h", now=100.0, wall_now=5e8)
    table.catalog(_catalog(2))
    table.device_info(DeviceInfoResponse(DEVICE, 2, device_name="门口", manufacturer="Hik"))
    device = table.get(DEVICE)
    assert device is not None
    record = json.loads(json.dumps(device_record(device, now=160.0, wall_now=5e8 + 60)))
    channels = [{"device_id": c, "name": "x", "future_field": 1} for c in device.channels]
    restored = restore_device(DEVICE, record, channels, now=7.0, wall_now=5e8 + 100)
    assert restored.state == "offline" and restored.source == UDP
    assert restored.expires_at == pytest.approx(7.0 + 500)  # 600 s from wall time 5e8
    assert restored.info is not None and restored.info.device_name == "门口"
    assert sorted(restored.channels) == sorted(device.channels)
    for broken in ({}, {"source": ["udp", "h"], "expires_at": 1}, {"source": 5}):
        with pytest.raises(SnapshotError):
            restore_device(DEVICE, broken, [], now=0.0, wall_now=0.0)
    bad_port = record | {"source": ["udp", "h", 0]}
    with pytest.raises(SnapshotError):
        restore_device(DEVICE, bad_port, [], now=0.0, wall_now=0.0)


def test_restored_device_comes_back_online_by_keepalive_while_its_registration_lasts() -> None:
    table = GbDeviceTable()
    record = {"source": ["udp", UDP.host, 5060], "expires_at": 1000.0}
    table.restore(restore_device(DEVICE, record, [], now=0.0, wall_now=900.0))
    assert table.get(DEVICE).state == "offline"  # type: ignore[union-attr]
    assert table.keepalive(DEVICE, Peer("udp", "10.9.9.9", 5060), 1.0) is None  # another host
    changes = table.keepalive(DEVICE, Peer("udp", UDP.host, 6000), 1.0)  # NAT: a new port
    assert changes is not None and [(c.state, c.reason) for c in changes] == [
        ("online", "keepalive")
    ]
    expired = GbDeviceTable()
    expired.restore(restore_device(DEVICE, record, [], now=0.0, wall_now=1001.0))
    assert expired.keepalive(DEVICE, UDP, 1.0) is None  # 403: register again


def test_restore_keeps_the_tables_bounds() -> None:
    table = GbDeviceTable()
    record = {"source": ["udp", UDP.host, 5060], "expires_at": 1000.0}
    many = [{"device_id": f"{DOMAIN}131{i:07d}"} for i in range(MAX_CHANNELS + 5)]
    device = restore_device(DEVICE, record, many, now=0.0, wall_now=0.0)
    assert table.restore(device) and len(device.channels) == MAX_CHANNELS
    assert not table.restore(restore_device(DEVICE, record, [], now=0.0, wall_now=0.0))


async def test_the_platform_keeps_its_registry_across_a_restart(tmp_path: Path) -> None:
    store = GbDeviceStore(tmp_path)
    platform, stack, _ = _platform(store=store)
    platform.start()
    assert _register(platform, stack) == 200
    for message in (_catalog(3), DeviceInfoResponse(DEVICE, 2, manufacturer="Dahua")):
        body = encode_message(message)
        platform.request_received(_request("MESSAGE", body=body), UDP, object())  # type: ignore[arg-type]
    await platform.stop()  # closes the store

    again, stack, events = _platform(store=GbDeviceStore(tmp_path))
    again.start()
    [listed] = again.describe()
    assert listed["state"] == "offline" and listed["manufacturer"] == "Dahua"
    assert len(listed["channels"]) == 3 and listed["channels"][0]["name"] == "通道 1"
    assert listed["expires_in"] > 3500
    keepalive = _request("MESSAGE", body=encode_message(Keepalive(DEVICE, 9)))
    assert again.claims(keepalive)
    again.request_received(keepalive, UDP, object())  # type: ignore[arg-type]
    assert stack.responses[-1].status == 200
    assert [(e.data["state"], e.data["reason"]) for e in events] == [("online", "keepalive")]
    await asyncio.sleep(0.05)  # back online: it is asked for DeviceInfo and its catalog
    asked = [type(parse_message(r.body)) for r in stack.requests]
    assert asked == [DeviceInfoQuery, CatalogQuery]
    assert not again.forget(DEVICE)  # online: kept
    await again.stop()

    third, _, events = _platform(store=GbDeviceStore(tmp_path))
    third.start()
    assert third.forget(DEVICE) and third.describe() == []
    assert events[-1].data == {"device": DEVICE, "state": "removed", "reason": "deleted"}
    await third.stop()
    fourth, _, _ = _platform(store=GbDeviceStore(tmp_path))
    fourth.start()
    assert fourth.describe() == []  # forgotten on disk too
    await fourth.stop()


def test_a_broken_store_is_moved_aside_and_the_server_starts_empty(tmp_path: Path) -> None:
    (tmp_path / STORE_FILE).write_bytes(b"not a database" * 100)
    store = GbDeviceStore(tmp_path)
    assert store.load(0.0, 0.0) == []
    assert (tmp_path / (STORE_FILE + ".broken")).exists()
    store.close()
    store = GbDeviceStore(tmp_path)
    assert store.load(0.0, 0.0) == []
    store.close()
    with sqlite3.connect(tmp_path / STORE_FILE) as db:  # a record edited by hand is skipped
        db.execute("INSERT INTO devices VALUES (?, ?, ?)", (DEVICE, 1.0, "{broken"))
    store = GbDeviceStore(tmp_path)
    assert store.load(0.0, 0.0) == []
    store.close()


# -- CANCEL of an unanswered INVITE ------------------------------------------------------------


def _invite() -> Request:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKinv1;rport"),
            ("Max-Forwards", "70"),
            ("Route", "<sip:proxy.example;lr>"),
            ("From", f"<sip:{SERVER_ID}@{DOMAIN}>;tag=p1"),
            ("To", f"<sip:{CHANNEL}@{DOMAIN}>"),
            ("Call-ID", "play-1"),
            ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:{SERVER_ID}@10.0.0.1:5060>"),
            ("Content-Type", "APPLICATION/SDP"),
        ]
    )
    return Request(headers, b"v=0\r\n", "INVITE", f"sip:{CHANNEL}@10.0.0.7:5060")


def test_cancel_copies_the_invites_transaction_identity() -> None:
    cancel = parse_sip(cancel_for(_invite()).serialize())
    assert isinstance(cancel, Request)
    assert cancel.method == "CANCEL" and cancel.uri == f"sip:{CHANNEL}@10.0.0.7:5060"
    assert cancel.top_via.branch == "z9hG4bKinv1"
    assert cancel.cseq == (1, "CANCEL") and cancel.call_id == "play-1"
    assert cancel.headers.get("To") == f"<sip:{CHANNEL}@{DOMAIN}>"  # no tag: not a dialog yet
    assert cancel.headers.get("Route") == "<sip:proxy.example;lr>"
    assert cancel.body == b"" and cancel.headers.get("Content-Type") is None


class ThinkingDevice:
    """A stack whose device answers INVITE 100 Trying after `trying` seconds and then thinks;
    a CANCEL gets 200 and the INVITE 487, unless `late_ok` answers it 200 first."""

    def __init__(self, trying: float | None = 0.0, late_ok: bool = False) -> None:
        self.trying = trying
        self.late_ok = late_ok
        self.requests: list[Request] = []
        self.stateless: list[Request] = []
        self.invite: asyncio.Future[Response] | None = None

    async def request(
        self, request: Request, destination: Peer, on_provisional: Any = None
    ) -> Response:
        self.requests.append(request)
        if request.method == "INVITE":
            self.invite = asyncio.get_running_loop().create_future()
            if self.trying is not None:
                await asyncio.sleep(self.trying)
                on_provisional(make_response(request, 100))
            if self.late_ok:
                ok = make_response(request, 200, to_tag="dev")
                ok.headers.add("Contact", f"<sip:{CHANNEL}@10.0.0.7:5060>")
                asyncio.get_running_loop().call_later(0.05, self.invite.set_result, ok)
            return await self.invite
        if request.method == "CANCEL":
            assert self.invite is not None
            if not self.invite.done():
                self.invite.set_result(make_response(self.requests[0], 487, to_tag="dev"))
        return make_response(request, 200)

    def via(self, peer: Peer) -> str:
        return "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnew"

    def send_stateless(self, message: Request | Response, destination: Peer) -> None:
        assert isinstance(message, Request)
        self.stateless.append(message)


async def _give_up(stack: ThinkingDevice, after: float, wait: float = 2.0) -> None:
    task = asyncio.ensure_future(send_invite(stack, _invite(), UDP, wait=wait))
    await asyncio.sleep(after)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_abandoned_invite_is_cancelled_after_its_provisional() -> None:
    stack = ThinkingDevice(trying=0.0)
    await _give_up(stack, after=0.05)
    invite, cancel = stack.requests
    assert cancel.method == "CANCEL" and cancel.top_via.branch == invite.top_via.branch
    assert stack.invite is not None and stack.invite.result().status == 487
    assert stack.stateless == []  # the 487's ACK is the INVITE transaction's own


async def test_no_cancel_before_a_provisional_and_none_when_nothing_ever_comes() -> None:
    stack = ThinkingDevice(trying=0.3)
    await _give_up(stack, after=0.05)  # gave up at once: the CANCEL waits for the 100
    assert [r.method for r in stack.requests] == ["INVITE", "CANCEL"]
    silent = ThinkingDevice(trying=None)
    await _give_up(silent, after=0.05, wait=0.2)
    assert [r.method for r in silent.requests] == ["INVITE"]  # section 9.1: never without one


async def test_an_answer_that_crossed_the_cancel_is_acked_and_ended_with_bye() -> None:
    stack = ThinkingDevice(trying=None, late_ok=True)
    await _give_up(stack, after=0.01)
    assert [r.method for r in stack.stateless] == ["ACK"]
    assert [r.method for r in stack.requests] == ["INVITE", "BYE"]
    assert stack.requests[1].headers.get("To") == f"<sip:{CHANNEL}@{DOMAIN}>;tag=dev"


# -- TCP active and passive --------------------------------------------------------------------


def test_transport_names_of_the_source_url() -> None:
    for name in ("udp", "tcp", "tcp-passive", "tcp-active", "TCP-ACTIVE"):
        target = gb_target(f"gb28181://{DEVICE}/{CHANNEL}?transport={name}")
        assert target.options["transport"] == name.lower()
    assert MEDIA_MODES["tcp"] == MEDIA_MODES["tcp-passive"]
    assert (MEDIA_MODES["tcp-active"].transport, MEDIA_MODES["tcp-active"].setup) == (
        "tcp",
        "active",
    )
    with pytest.raises(PullError, match="tcp-active") as caught:
        gb_target(f"gb28181://{DEVICE}/{CHANNEL}?transport=tcp-both")
    assert caught.value.permanent


def test_the_tcp_active_offer_says_the_platform_connects() -> None:
    offer = build_offer(
        platform_id=SERVER_ID,
        channel_id=CHANNEL,
        address="10.0.0.1",
        port=30000,
        ssrc="0200001234",
        transport="tcp",
        setup="active",
    )
    text = offer.serialize()
    assert "m=video 30000 TCP/RTP/AVP 96 97 98" in text
    assert "a=setup:active\r\na=connection:new" in text
    assert parse_answer(text).setup == "active"


async def test_a_device_that_answers_active_to_our_active_offer_is_refused() -> None:
    platform, stack, _ = _platform()
    assert _register(platform, stack) == 200
    answer = (
        "v=0\r\no=x 0 0 IN IP4 10.0.0.7\r\ns=Play\r\nc=IN IP4 10.0.0.7\r\nt=0 0\r\n"
        "m=video 40000 TCP/RTP/AVP 96\r\na=sendonly\r\na=rtpmap:96 PS/90000\r\n"
        "a=setup:active\r\na=connection:new\r\ny=0200001234\r\n"
    )

    async def answering(
        request: Request, destination: Peer, on_provisional: Any = None
    ) -> Response:
        stack.requests.append(request)
        if request.method != "INVITE":
            return make_response(request, 200)
        ok = make_response(request, 200, to_tag="dev")
        ok.headers.add("Contact", f"<sip:{CHANNEL}@10.0.0.7:5060>")
        ok.body = answer.encode()
        return ok

    stack.request = answering  # type: ignore[method-assign]
    stack.send_stateless = lambda message, destination: None  # type: ignore[attr-defined]
    with pytest.raises(GbPlayError, match="setup:active"):
        await platform.play(DEVICE, CHANNEL, port=30000, transport="tcp", setup="active")
    [invite] = [r for r in stack.requests if r.method == "INVITE"]
    assert parse_answer(invite.body).setup == "active"
    assert "BYE" in [r.method for r in stack.requests]
    await platform.stop()


def test_tcp_active_connects_only_where_the_outbound_networks_allow() -> None:
    platform, _, _ = _platform()
    target = gb_target(f"gb28181://{DEVICE}/{CHANNEL}?transport=tcp-active")
    policy = NetworkPolicy.parse("0.0.0.0/0", "169.254.0.0/16")  # loopback not allowed
    loop = asyncio.new_event_loop()
    reader = GbReader(target, platform, loop, networks=policy)
    for host in ("127.0.0.1", "169.254.169.254", "camera.example"):
        with socket.socket() as sock, pytest.raises(PullError, match="outbound") as caught:
            reader._connect(sock, (host, 9))
        assert caught.value.permanent
    loop.close()
