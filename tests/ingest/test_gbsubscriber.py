"""The platform's subscriptions and what devices push, without sockets (GB/T 28181-2016 9.4
alarms, 9.11 subscriptions): the SUBSCRIBEs it sends, its answers to NOTIFY and MESSAGE, the
events and the device list they change."""

from __future__ import annotations

import asyncio

from ingest.gbnotify import (
    AlarmNotify,
    AlarmResponse,
    CatalogChange,
    CatalogNotify,
    MobilePosition,
    encode_event_message,
    parse_event_message,
    parse_subscription_query,
)
from ingest.gbplatform import GbPlatform
from ingest.gbreader import gb_target
from ingest.gbrosterposition import position_fields
from ingest.manscdp import CatalogItem
from sip.message import Request, Response, make_response
from sip.transaction import Peer
from tests.ingest.test_gb28181_units import (
    DEVICE,
    UDP,
    RecordingStack,
    _answer,
    _platform,
    _request,
)

NEW_CHANNEL = "34020000001310000009"


async def registered() -> tuple[GbPlatform, RecordingStack, list]:  # type: ignore[type-arg]
    platform, stack, events = _platform()
    platform.request_received(_request("REGISTER"), UDP, object())  # type: ignore[arg-type]
    platform.request_received(_answer(stack.responses[-1], "secret"), UDP, object())  # type: ignore[arg-type]
    assert stack.responses[-1].status == 200
    return platform, stack, events


def pushed(method: str, body: bytes) -> Request:
    request = _request(method, body=body)
    request.headers.set("Call-ID", f"{method.lower()}-1")
    return request


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_an_online_device_is_subscribed_and_a_refusal_is_shown() -> None:
    platform, stack, _ = await registered()
    stack.status = 489  # Bad Event: a device without subscriptions
    platform.subscriber.tick()
    await settle()
    subscribes = [r for r in stack.requests if r.method == "SUBSCRIBE"]
    assert [(r.headers.get("Event") or "").split(";")[0] for r in subscribes] == [
        "Catalog",
        "presence",
    ]
    assert [parse_subscription_query(r.body).kind for r in subscribes] == ["Catalog", "Alarm"]
    assert all(r.headers.get("Expires") == "3600" for r in subscribes)
    [device] = platform.describe()
    assert device["subscriptions"]["Catalog"] == {"state": "failed", "status": 489, "expires_in": 0}
    await platform.stop()


async def test_a_catalog_notify_adds_and_removes_a_channel() -> None:
    platform, stack, events = await registered()
    item = CatalogItem(NEW_CHANNEL, name="后门", status="ON")
    for event in ("ADD", "DEL"):
        notify = CatalogNotify(DEVICE, 3, 1, (CatalogChange(item, event),))
        platform.request_received(pushed("NOTIFY", encode_event_message(notify)), UDP, object())  # type: ignore[arg-type]
        assert stack.responses[-1].status == 200
        names = [c["name"] for c in platform.describe()[0]["channels"]]
        assert ("后门" in names) == (event == "ADD")
    changes = [e.data["changes"] for e in events if e.type == "gb.catalog"]
    assert changes == [[{"channel": NEW_CHANNEL, "event": e}] for e in ("ADD", "DEL")]
    await platform.stop()


async def test_an_alarm_message_is_evented_and_confirmed_with_a_response() -> None:
    platform, stack, events = await registered()
    alarm = AlarmNotify(DEVICE, 41, 1, "2", "2024-01-01T00:00:00", "越界", 116.4, 39.9, "1")
    platform.request_received(pushed("MESSAGE", encode_event_message(alarm)), UDP, object())  # type: ignore[arg-type]
    assert stack.responses[-1].status == 200
    [event] = [e for e in events if e.type == "gb.alarm"]
    assert event.data["description"] == "越界" and event.data["priority"] == 1
    await settle()
    answers = [parse_event_message(r.body) for r in stack.requests if r.method == "MESSAGE"]
    assert AlarmResponse(DEVICE, 41, "OK") in answers
    assert platform.describe()[0]["alarm"]["description"] == "越界"
    await platform.stop()


async def test_positions_show_on_the_device_and_its_channel() -> None:
    platform, stack, events = await registered()
    position = MobilePosition(NEW_CHANNEL, 5, 116.5, 39.8, "2024-01-01T00:00:05", 3.0)
    platform.request_received(pushed("NOTIFY", encode_event_message(position)), UDP, object())  # type: ignore[arg-type]
    assert stack.responses[-1].status == 200
    [event] = [e for e in events if e.type == "gb.position"]
    assert (event.data["device"], event.data["channel"]) == (DEVICE, NEW_CHANNEL)
    device = platform.describe()[0]
    assert device["position"]["longitude"] == 116.5 and device["position"]["speed"] == 3.0
    await platform.stop()


async def test_a_channel_source_carries_its_channels_position_else_its_devices() -> None:
    platform, _, _ = await registered()
    fields = position_fields(platform.subscriber.channel_position)
    target = gb_target(f"gb28181://{DEVICE}/{NEW_CHANNEL}")
    assert fields(target) == {"position": None}
    for position in (
        MobilePosition(DEVICE, 5, 116.1, 39.1, "2024-01-01T00:00:05"),
        MobilePosition(NEW_CHANNEL, 6, 116.5, 39.8, "2024-01-01T00:00:06"),
        MobilePosition(DEVICE, 7, 116.2, 39.2, "2024-01-01T00:00:07"),
    ):
        platform.request_received(pushed("NOTIFY", encode_event_message(position)), UDP, object())  # type: ignore[arg-type]
        if position.sn == 5:  # only the device's own so far
            assert fields(target)["position"]["longitude"] == 116.1
    assert fields(target) == {
        "position": {"longitude": 116.5, "latitude": 39.8, "time": "2024-01-01T00:00:06"}
    }
    await platform.stop()


async def test_pushes_from_unregistered_devices_are_refused() -> None:
    platform, stack, events = _platform()
    position = encode_event_message(MobilePosition(DEVICE, 5, 116.5, 39.8))
    platform.request_received(pushed("NOTIFY", position), UDP, object())  # type: ignore[arg-type]
    assert stack.responses[-1].status == 481
    platform.request_received(pushed("MESSAGE", position), UDP, object())  # type: ignore[arg-type]
    assert stack.responses[-1].status == 403
    assert not [e for e in events if e.type == "gb.position"]
    await platform.stop()


async def test_a_device_registering_anew_is_subscribed_anew() -> None:
    platform, stack, _ = await registered()
    stack.status = 489
    platform.subscriber.tick()
    await settle()
    first = len([r for r in stack.requests if r.method == "SUBSCRIBE"])
    platform.subscriber.tick()
    await settle()
    assert len([r for r in stack.requests if r.method == "SUBSCRIBE"]) == first  # backing off
    restarted = _request("REGISTER")
    restarted.headers.set("Call-ID", "reg-after-reboot")  # a restarted device: a new Call-ID
    platform.request_received(restarted, UDP, object())  # type: ignore[arg-type]
    answer = _answer(stack.responses[-1], "secret")
    answer.headers.set("Call-ID", "reg-after-reboot")
    platform.request_received(answer, UDP, object())  # type: ignore[arg-type]
    platform.subscriber.tick()
    await settle()
    assert len([r for r in stack.requests if r.method == "SUBSCRIBE"]) == 2 * first
    await platform.stop()


class GrantingStack(RecordingStack):
    """A device that grants every SUBSCRIBE for 10 s, in a dialog (To tag, Contact)."""

    async def request(self, request: Request, destination: Peer) -> Response:
        self.requests.append(request)
        response = make_response(request, 200, to_tag="dev-tag")
        response.headers.add("Contact", f"<sip:{DEVICE}@10.0.0.7:5060>")
        response.headers.add("Expires", "10")
        return response


async def test_a_refresh_goes_in_the_subscription_dialog_with_the_same_event_id() -> None:
    platform, stack, _ = await registered()
    granting = GrantingStack()
    platform.subscriber.stack = granting  # type: ignore[assignment]
    platform.subscriber.tick()
    await settle()
    catalog = platform.subscriber.table.get(DEVICE, "Catalog")
    assert catalog is not None and catalog.state == "active"
    assert 7 <= catalog.due_at - granting.clock.now() <= 8  # refreshed at 80 % of 10 s
    catalog.due_at = 0.0  # the refresh time has come
    platform.subscriber.tick()
    await settle()
    first, refresh = [r for r in granting.requests if r.call_id == catalog.call_id]
    assert refresh.to.tag == "dev-tag" and refresh.cseq[0] == first.cseq[0] + 1
    assert refresh.headers.get("Event") == first.headers.get("Event")
    assert refresh.uri == f"sip:{DEVICE}@10.0.0.7:5060"
    await platform.stop()  # ends both subscriptions: SUBSCRIBE Expires 0 in their dialogs
    ends = [r for r in granting.requests if r.headers.get("Expires") == "0"]
    assert {r.call_id for r in ends} == {
        catalog.call_id,
        platform.subscriber.table.get(DEVICE, "Alarm").call_id,
    }  # type: ignore[union-attr]
