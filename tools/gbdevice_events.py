"""The device simulator's subscriptions, alarms and positions (GB/T 28181-2016 9.4, 9.11).

Plugged into tools.gbdevice.GbDeviceSimulator (`DeviceEvents.attach(device)`):
- answers SUBSCRIBE (Query Catalog, Alarm or MobilePosition in the body) with 200 and the
  granted Expires, keeping each subscription's dialog; a refresh in the dialog is answered
  the same way, Expires 0 ends it;
- sends NOTIFYs in those dialogs: catalog changes (Event ADD/DEL/UPDATE/ON/OFF per item),
  alarms, and every `Interval` seconds its position (MobilePosition), moving a little each time;
- sends alarms and positions as plain MESSAGEs too (devices do, without any subscription),
  and records the platform's Response/Alarm.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from ingest.gbnotify import (
    AlarmNotify,
    AlarmResponse,
    CatalogChange,
    CatalogNotify,
    GbEventMessage,
    MobilePosition,
    SubscriptionKind,
    encode_event_message,
    parse_event_message,
    parse_subscription_query,
)
from ingest.manscdp import CatalogItem, ManscdpError
from sip.message import Request, make_response
from tools.gbdevice import GbDeviceSimulator

log = logging.getLogger("gbdevice.events")

MANSCDP = "Application/MANSCDP+xml"


@dataclass
class _Subscription:
    kind: SubscriptionKind
    call_id: str
    our_tag: str
    theirs: str  # the platform's From (with its tag): our NOTIFYs' To
    ours: str  # the platform's To with our tag: our NOTIFYs' From
    target: str  # the platform's Contact: our NOTIFYs' Request-URI
    event: str
    expires: int
    interval: int | None
    task: asyncio.Task[None] | None = None


@dataclass
class EventStats:
    subscribes: list[tuple[str, int, str]] = field(default_factory=list)  # kind, expires, Event
    notifies_sent: int = 0
    notify_statuses: list[int] = field(default_factory=list)
    alarm_responses: list[AlarmResponse] = field(default_factory=list)


class DeviceEvents:
    def __init__(self, device: GbDeviceSimulator) -> None:
        self.device = device
        self.stats = EventStats()
        self.subscriptions: dict[SubscriptionKind, _Subscription] = {}
        self.longitude = device.config.longitude
        self.latitude = device.config.latitude
        self._sn = itertools.count(1000)

    @classmethod
    def attach(cls, device: GbDeviceSimulator) -> DeviceEvents:
        events = cls(device)
        device.extensions.append(events)
        return events

    def request_received(self, request: Request) -> bool:
        if request.method == "SUBSCRIBE":
            self._subscribe(request)
            return True
        if request.method == "MESSAGE":
            try:
                message = parse_event_message(request.body)
            except ManscdpError:
                return False
            if isinstance(message, AlarmResponse):
                self.device.respond(make_response(request, 200))
                self.stats.alarm_responses.append(message)
                return True
        return False

    # -- SUBSCRIBE ------------------------------------------------------------------------

    def _subscribe(self, request: Request) -> None:
        try:
            query = parse_subscription_query(request.body)
        except ManscdpError as error:
            self.device.respond(make_response(request, 400, f"Bad Query ({error})"))
            return
        text = (request.headers.get("Expires") or "3600").strip()
        expires = int(text) if text.isdigit() else 3600
        event = request.headers.get("Event") or ""
        self.stats.subscribes.append((query.kind, expires, event))
        known = self.subscriptions.get(query.kind)
        if known is not None and known.call_id != request.call_id:
            self._end(known)
            known = None
        tag = known.our_tag if known is not None else secrets.token_hex(4)
        response = make_response(request, 200, to_tag=tag)
        response.headers.add("Expires", str(expires))
        response.headers.add(
            "Contact", f"<sip:{self.device.config.device_id}@{self.device.hostport}>"
        )
        self.device.respond(response)
        if expires == 0:
            if known is not None:
                self._end(known)
            return
        if known is not None:
            known.expires = expires
            return
        contacts = request.contacts
        subscription = _Subscription(
            query.kind,
            request.call_id,
            tag,
            request.headers.get("From") or "",
            f"{request.headers.get('To') or ''};tag={tag}",
            str(contacts[0].uri) if contacts else str(request.from_.uri),
            event,
            expires,
            query.interval,
        )
        self.subscriptions[query.kind] = subscription
        if query.kind == "MobilePosition" and query.interval:
            subscription.task = asyncio.get_running_loop().create_task(
                self._positions(subscription, query.interval)
            )

    def _end(self, subscription: _Subscription) -> None:
        if subscription.task is not None:
            subscription.task.cancel()
        self.subscriptions.pop(subscription.kind, None)

    def stop(self) -> None:
        for subscription in list(self.subscriptions.values()):
            self._end(subscription)

    async def _positions(self, subscription: _Subscription, interval: int) -> None:
        while True:
            await self.notify("MobilePosition", self.position())
            await asyncio.sleep(interval)

    # -- what the device sends ------------------------------------------------------------

    async def notify(self, kind: SubscriptionKind, message: GbEventMessage) -> int:
        """A NOTIFY in the platform's `kind` subscription; 481 when there is none."""
        subscription = self.subscriptions.get(kind)
        if subscription is None:
            return 481
        request = self.device.new_request(
            "NOTIFY",
            subscription.target,
            subscription.call_id,
            subscription.ours,
            subscription.theirs,
        )
        request.headers.add("Event", subscription.event)
        request.headers.add("Subscription-State", f"active;expires={subscription.expires}")
        request.headers.add("Content-Type", MANSCDP)
        request.body = encode_event_message(message)
        status = (await self.device.request(request)).status
        self.stats.notifies_sent += 1
        self.stats.notify_statuses.append(status)
        return status

    def catalog_change(self, event: str, item: CatalogItem) -> CatalogNotify:
        """A catalog Notify of one channel (e.g. ADD a new one, OFF an old one)."""
        return CatalogNotify(
            self.device.config.device_id, next(self._sn), 1, (CatalogChange(item, event),)
        )

    def alarm(self, description: str = "越界报警", priority: int = 1) -> AlarmNotify:
        config = self.device.config
        return AlarmNotify(
            config.device_id,
            next(self._sn),
            priority=priority,
            method="2",
            time=_now(),
            description=description,
            longitude=self.longitude,
            latitude=self.latitude,
            alarm_type="1",
        )

    def position(self) -> MobilePosition:
        """Where the device is now; it walks north-east a little with every fix."""
        self.longitude = round(self.longitude + 0.0001, 6)
        self.latitude = round(self.latitude + 0.0001, 6)
        return MobilePosition(
            self.device.config.device_id,
            next(self._sn),
            self.longitude,
            self.latitude,
            time=_now(),
            speed=5.0,
            direction=45.0,
            altitude=50.0,
        )

    async def send_message(self, message: GbEventMessage) -> int:
        """An alarm or a position as a plain MESSAGE (no subscription needed)."""
        return await self.device.send_document(encode_event_message(message))


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
