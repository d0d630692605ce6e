"""The platform's subscriptions, alarms and positions over SIP: the asyncio side of
ingest.gbsubscriptions and ingest.gbnotify.

It sends each due SUBSCRIBE (Event: Catalog, or presence for Alarm and MobilePosition, with a
MANSCDP Query body) and refreshes it inside its dialog; answers the devices' NOTIFYs (200)
and their Alarm and MobilePosition MESSAGEs (200, and a Response/Alarm MESSAGE for an alarm,
as GB/T 28181-2016 9.4 asks); applies catalog changes to the device's channels; and
publishes `gb.catalog`, `gb.alarm` and `gb.position` events. The latest position and alarm of
each device are kept for the device list of the API.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from ingest.gbdevices import MAX_CHANNELS, GbDeviceTable
from ingest.gbnotify import (
    AlarmNotify,
    AlarmResponse,
    BroadcastResponse,
    CatalogNotify,
    GbEventMessage,
    MobilePosition,
    SubscriptionQuery,
    encode_event_message,
    parse_event_message,
)
from ingest.gbrequest import device_request
from ingest.gbsettings import GbSettings
from ingest.gbsubscriptions import (
    EVENT_HEADERS,
    Subscription,
    SubscriptionTable,
    apply_catalog_changes,
)
from ingest.manscdp import ManscdpError
from mediacore.events import EventBus
from sip.dialog import Dialog
from sip.message import Request, Response, make_response
from sip.stack import SipStack
from sip.transaction import Peer, ServerTransaction

log = logging.getLogger(__name__)

MANSCDP = "Application/MANSCDP+xml"
REQUEST_TIMEOUT = 10.0
UNSUBSCRIBE_WAIT = 2.0  # a stopping server waits this long for devices to end subscriptions
# A device's own id and its channels' carry positions; past this many others, a device's
# positions are kept under its own id only.
MAX_POSITIONS_PER_DEVICE = 64

# Sends a MANSCDP body to a registered device in a MESSAGE; answers the response status.
SendDocument = Callable[[str, bytes], Awaitable[int]]
BroadcastAnswered = Callable[[str, BroadcastResponse], None]


class GbSubscriber:
    def __init__(
        self,
        settings: GbSettings,
        stack: SipStack,
        devices: GbDeviceTable,
        bus: EventBus,
        send: SendDocument,
    ) -> None:
        self.settings = settings
        self.stack = stack
        self.devices = devices
        self.bus = bus
        self.send = send
        self.table = SubscriptionTable(settings.subscriptions)
        self.positions: dict[str, dict[str, MobilePosition]] = {}  # device -> source id ->
        self.alarms: dict[str, AlarmNotify] = {}  # the latest alarm of each device
        self.on_broadcast: BroadcastAnswered | None = None  # voice broadcast answers
        self._register_call_ids: dict[str, str] = {}
        self._sn = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- device life ----------------------------------------------------------------------

    def device_online(self, device_id: str) -> None:
        self.table.device_online(device_id, self.stack.clock.now())

    def device_offline(self, device_id: str) -> None:
        self.table.device_offline(device_id)

    def registered(self, device_id: str, call_id: str, expires: int) -> None:
        """A REGISTER was accepted: one with a new Call-ID from a device still online is a
        restarted device, which forgot what it was subscribed to."""
        if expires <= 0:
            self._register_call_ids.pop(device_id, None)
            return
        previous = self._register_call_ids.get(device_id)
        self._register_call_ids[device_id] = call_id
        if previous is not None and previous != call_id:
            self.device_online(device_id)

    def tick(self) -> None:
        """Send what is due (new subscriptions, refreshes, retries)."""
        for subscription in self.table.due(self.stack.clock.now()):
            self._spawn(self._subscribe(subscription))

    async def stop(self) -> None:
        """End the granted subscriptions (SUBSCRIBE with Expires 0, waiting at most
        UNSUBSCRIBE_WAIT seconds for the answers), then stop sending."""
        for task in list(self._tasks):
            task.cancel()
        ending = [asyncio.ensure_future(self._unsubscribe(s)) for s in self.table.active()]
        if ending:
            _, late = await asyncio.wait(ending, timeout=UNSUBSCRIBE_WAIT)
            for task in late:
                task.cancel()

    async def _unsubscribe(self, subscription: Subscription) -> None:
        dialog: Dialog = subscription.dialog
        request = dialog.request(
            "SUBSCRIBE",
            self.stack.via(dialog.peer),
            headers=[("Event", subscription.event), ("Expires", "0")],
        )
        await self.stack.request(request, dialog.peer)

    # -- SUBSCRIBE ------------------------------------------------------------------------

    async def _subscribe(self, subscription: Subscription) -> None:
        device = self.devices.get(subscription.device_id)
        if device is None or device.state != "online":
            self.table.answered(subscription, 404, None, self.stack.clock.now())
            return
        sn = next(self._sn)
        interval = self.settings.subscriptions.position_interval
        query = SubscriptionQuery(
            subscription.kind,
            subscription.device_id,
            sn,
            interval if subscription.kind == "MobilePosition" else None,
        )
        body = encode_event_message(query)
        expires = str(self.settings.subscriptions.expires)
        dialog: Dialog | None = subscription.dialog
        if dialog is not None:  # a refresh, in the subscription's dialog
            request = dialog.request(
                "SUBSCRIBE",
                self.stack.via(dialog.peer),
                body=body,
                content_type=MANSCDP,
                headers=[("Event", subscription.event), ("Expires", expires)],
            )
            peer = dialog.peer
        else:
            peer = device.source
            request = self._new_subscribe(subscription, peer, body, expires, sn)
            subscription.event = request.headers.get("Event") or ""
        subscription.call_id = request.call_id  # a NOTIFY may come before the 200
        try:
            response = await asyncio.wait_for(self.stack.request(request, peer), REQUEST_TIMEOUT)
        except TimeoutError:
            response = make_response(request, 408)
        if 200 <= response.status < 300 and subscription.dialog is None:
            subscription.dialog = Dialog.as_uac(request, response, peer)
        self.table.answered(
            subscription, response.status, _expires(response), self.stack.clock.now()
        )
        if response.status >= 300:
            log.info(
                "gb28181 subscription refused",
                extra={
                    "device": subscription.device_id,
                    "kind": subscription.kind,
                    "status": response.status,
                },
            )

    def _new_subscribe(
        self, subscription: Subscription, peer: Peer, body: bytes, expires: str, sn: int
    ) -> Request:
        settings = self.settings
        device_id = subscription.device_id
        return device_request(
            "SUBSCRIBE",
            device_id,
            peer,
            settings,
            via=self.stack.via(peer),
            cseq=1,
            headers=[
                ("Contact", f"<{self.stack.contact_uri(settings.server_id, peer)}>"),
                ("Event", f"{EVENT_HEADERS[subscription.kind]};id={sn}"),
                ("Expires", expires),
                ("Content-Type", MANSCDP),
            ],
            body=body,
        )

    # -- what devices send ----------------------------------------------------------------

    def claims_notify(self, request: Request) -> bool:
        """A NOTIFY of one of our subscriptions (by Call-ID)."""
        return self.table.by_call_id(request.call_id) is not None

    def notify_received(
        self, request: Request, source: Peer, transaction: ServerTransaction
    ) -> None:
        """A NOTIFY from a device: of a subscription of ours, or one it pushes unasked."""
        device_id = request.from_.uri.user or ""
        if not self._registered_at(device_id, source):
            self.stack.respond(transaction, make_response(request, 481))
            return
        try:
            message = parse_event_message(request.body) if request.body else None
        except ManscdpError as error:
            self.stack.respond(transaction, make_response(request, 400, f"Bad MANSCDP ({error})"))
            return
        self.stack.respond(transaction, make_response(request, 200))
        subscription = self.table.by_call_id(request.call_id)
        state = (request.headers.get("Subscription-State") or "").strip().lower()
        if subscription is not None and state.startswith("terminated"):
            self.table.restart(subscription, self.stack.clock.now())
        if message is not None:
            self._handle(device_id, message, answer_alarm=False)

    def message_received(
        self, request: Request, source: Peer, transaction: ServerTransaction
    ) -> bool:
        """A MESSAGE with an Alarm, MobilePosition or catalog Notify, or a Broadcast
        response: answered and handled here (True); anything else is left (False)."""
        try:
            message = parse_event_message(request.body)
        except ManscdpError:
            return False  # the platform's own parser says what is wrong with it
        if message is None or isinstance(message, SubscriptionQuery):
            return False
        device_id = request.from_.uri.user or ""
        if not self._registered_at(device_id, source):
            self.stack.respond(transaction, make_response(request, 403, "Not Registered"))
            return True
        self.stack.respond(transaction, make_response(request, 200))
        self._handle(device_id, message, answer_alarm=True)
        return True

    def _registered_at(self, device_id: str, source: Peer) -> bool:
        device = self.devices.get(device_id)
        return device is not None and device.source.host == source.host

    def _handle(self, device_id: str, message: GbEventMessage, answer_alarm: bool) -> None:
        if isinstance(message, CatalogNotify):
            self._catalog(device_id, message)
        elif isinstance(message, AlarmNotify):
            self._alarm(device_id, message, answer_alarm)
        elif isinstance(message, MobilePosition):
            self._position(device_id, message)
        elif isinstance(message, BroadcastResponse) and self.on_broadcast is not None:
            self.on_broadcast(device_id, message)

    def _catalog(self, device_id: str, notify: CatalogNotify) -> None:
        device = self.devices.get(device_id)
        if device is None:
            return
        applied = apply_catalog_changes(device.channels, notify.changes, MAX_CHANNELS)
        if applied:
            self.bus.publish("gb.catalog", None, device=device_id, changes=applied)

    def _alarm(self, device_id: str, alarm: AlarmNotify, answer: bool) -> None:
        self.alarms[device_id] = alarm
        log.info("gb28181 alarm", extra={"device": device_id, "priority": alarm.priority})
        self.bus.publish("gb.alarm", None, device=device_id, **alarm_json(alarm))
        if answer:  # 9.4: the platform confirms an alarm MESSAGE with a Response
            body = encode_event_message(AlarmResponse(alarm.device_id, alarm.sn))
            self._spawn(self._send(device_id, body))

    async def _send(self, device_id: str, body: bytes) -> None:
        status = await self.send(device_id, body)
        if status != 200:
            log.info("gb28181 alarm response refused", extra={"device": device_id})

    def _position(self, device_id: str, position: MobilePosition) -> None:
        known = self.positions.setdefault(device_id, {})
        device = self.devices.get(device_id)
        source = position.device_id
        ours = source == device_id or (device is not None and source in device.channels)
        if not ours and source not in known and len(known) >= MAX_POSITIONS_PER_DEVICE:
            source = device_id
        known[source] = position
        self.bus.publish("gb.position", None, device=device_id, **position_json(position))

    # -- for the API ----------------------------------------------------------------------

    def latest_position(self, device_id: str) -> MobilePosition | None:
        known = self.positions.get(device_id, {})
        return max(known.values(), key=lambda p: (p.time, p.sn), default=None)

    def channel_position(self, device_id: str, channel_id: str) -> MobilePosition | None:
        """The latest position `channel_id` of `device_id` reported, else the device's own."""
        known = self.positions.get(device_id, {})
        return known.get(channel_id) or known.get(device_id)

    def annotate(self, device: dict[str, Any]) -> dict[str, Any]:
        """A device of GbDeviceTable.describe with its latest position (the device's, and
        each channel's), its latest alarm and its subscriptions."""
        device_id = device["id"]
        known = self.positions.get(device_id, {})
        latest = self.latest_position(device_id)
        alarm = self.alarms.get(device_id)
        for channel in device.get("channels", []):
            position = known.get(channel["id"])
            channel["position"] = position_json(position) if position else None
        device["position"] = position_json(latest) if latest else None
        device["alarm"] = alarm_json(alarm) if alarm else None
        device["subscriptions"] = self.table.describe(device_id, self.stack.clock.now())
        return device

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("gb28181 subscription task failed", exc_info=task.exception())


def position_json(position: MobilePosition) -> dict[str, Any]:
    data = asdict(position)
    data["channel"] = data.pop("device_id")
    data.pop("sn")
    return data


def alarm_json(alarm: AlarmNotify) -> dict[str, Any]:
    data = asdict(alarm)
    data["channel"] = data.pop("device_id")
    data.pop("sn")
    return data


def _expires(response: Response) -> int | None:
    text = (response.headers.get("Expires") or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 10:
        return int(text)
    return None
