"""The platform's subscriptions to its devices (GB/T 28181-2016 section 9.11): which to hold,
when to send, refresh or retry each SUBSCRIBE, and how a catalog Notify changes a channel list.

No I/O and no clock: every call takes `now` (monotonic seconds). For each online device the
table holds one subscription per enabled kind (Catalog, Alarm, MobilePosition). A kind is due
when the device comes online or registers anew (it forgot its subscriptions when it
restarted), when its refresh time comes (before it expires), or when a refused or
unanswered one waits out its back-off. The I/O side (ingest.gbsubscriber) sends what
`due()` returns and reports the answer with `answered()`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from ingest.gbnotify import SUBSCRIPTION_KINDS, CatalogChange, SubscriptionKind
from ingest.manscdp import CatalogItem

SubscriptionState = Literal["pending", "active", "failed"]
# The Event header of each kind, as WVP-GB28181-pro and the devices that work with it use:
# "Catalog" for the catalog, "presence" for alarms and mobile positions.
EVENT_HEADERS: dict[SubscriptionKind, str] = {
    "Catalog": "Catalog",
    "Alarm": "presence",
    "MobilePosition": "presence",
}
REFRESH_AT = 0.8  # refresh when this share of the granted expiry has passed
MIN_REFRESH = 1.0
RETRY_FIRST = 30.0  # seconds before a refused subscription is tried again, doubling
RETRY_MAX = 3600.0
MAX_EXPIRES = 86400
SUBSCRIPTION_KEYS = frozenset(
    {"subscribe_catalog", "subscribe_alarm", "position_interval", "subscribe_expires"}
)


@dataclass(frozen=True, slots=True)
class GbSubscriptionSettings:
    """`[gb28181]` keys `subscribe_catalog`, `subscribe_alarm` (default on),
    `position_interval` (seconds between MobilePosition notifies; 0, the default, subscribes
    to none) and `subscribe_expires` (seconds a subscription lasts, refreshed before)."""

    catalog: bool = True
    alarm: bool = True
    position_interval: int = 0
    expires: int = 3600

    def kinds(self) -> tuple[SubscriptionKind, ...]:
        wanted = {"Catalog": self.catalog, "Alarm": self.alarm}
        wanted["MobilePosition"] = self.position_interval > 0
        return tuple(kind for kind in SUBSCRIPTION_KINDS if wanted[kind])


def parse_subscription_settings(table: dict[str, Any]) -> GbSubscriptionSettings:
    """The subscription keys of the `[gb28181]` table (others are ignored here). Raises
    ValueError naming the bad key."""
    settings = GbSubscriptionSettings()
    for key in ("subscribe_catalog", "subscribe_alarm"):
        if not isinstance(table.get(key, True), bool):
            raise ValueError(f"gb28181.{key} must be true or false")
    interval = table.get("position_interval", settings.position_interval)
    if isinstance(interval, bool) or not isinstance(interval, int) or not 0 <= interval <= 3600:
        raise ValueError("gb28181.position_interval must be 0 (off) to 3600 seconds")
    expires = table.get("subscribe_expires", settings.expires)
    if (
        isinstance(expires, bool)
        or not isinstance(expires, int)
        or not 10 <= expires <= MAX_EXPIRES
    ):
        raise ValueError(f"gb28181.subscribe_expires must be 10-{MAX_EXPIRES} seconds")
    return GbSubscriptionSettings(
        table.get("subscribe_catalog", True), table.get("subscribe_alarm", True), interval, expires
    )


@dataclass(eq=False)
class Subscription:
    """One subscription of one device. `dialog` is the I/O side's (the SUBSCRIBE dialog once
    a 2xx made one); `in_flight` while a SUBSCRIBE waits for its answer."""

    device_id: str
    kind: SubscriptionKind
    due_at: float
    state: SubscriptionState = "pending"
    expires_at: float = 0.0
    failures: int = 0
    status: int = 0  # the last answer's status
    in_flight: bool = False
    dialog: Any = None
    call_id: str = ""
    event: str = ""  # the Event header (with its id) that refreshes repeat

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "state": self.state,
            "status": self.status or None,
            "expires_in": max(0, round(self.expires_at - now)) if self.state == "active" else 0,
        }


class SubscriptionTable:
    def __init__(self, settings: GbSubscriptionSettings) -> None:
        self.settings = settings
        self._by_device: dict[str, dict[SubscriptionKind, Subscription]] = {}

    def device_online(self, device_id: str, now: float) -> list[Subscription]:
        """The device came online or registered anew: every kind is due now, in a new dialog
        (what it held before is gone with its restart). Returns the dropped subscriptions
        (their Call-IDs are no longer ours)."""
        dropped = self.device_offline(device_id)
        kinds = self.settings.kinds()
        if kinds:
            self._by_device[device_id] = {
                kind: Subscription(device_id, kind, due_at=now) for kind in kinds
            }
        return dropped

    def device_offline(self, device_id: str) -> list[Subscription]:
        """Forget the device's subscriptions; returns them."""
        return list(self._by_device.pop(device_id, {}).values())

    def get(self, device_id: str, kind: SubscriptionKind) -> Subscription | None:
        return self._by_device.get(device_id, {}).get(kind)

    def by_call_id(self, call_id: str) -> Subscription | None:
        for kinds in self._by_device.values():
            for subscription in kinds.values():
                if subscription.call_id and subscription.call_id == call_id:
                    return subscription
        return None

    def due(self, now: float) -> list[Subscription]:
        """Subscriptions to send now (a refresh where `dialog` is set, else a new SUBSCRIBE);
        each is marked in flight until `answered()`."""
        found = [
            subscription
            for kinds in self._by_device.values()
            for subscription in kinds.values()
            if not subscription.in_flight and subscription.due_at <= now
        ]
        for subscription in found:
            subscription.in_flight = True
        return found

    def answered(
        self, subscription: Subscription, status: int, expires: int | None, now: float
    ) -> None:
        """The device's final answer (408 when none came). A 2xx grants `expires` seconds
        (None: what we asked); a 481 to a refresh starts a new dialog at once; other
        refusals are retried after a doubling back-off."""
        subscription.in_flight = False
        subscription.status = status
        if self.get(subscription.device_id, subscription.kind) is not subscription:
            return  # the device went offline or registered anew meanwhile
        if 200 <= status < 300:
            granted = self.settings.expires if expires is None else min(expires, MAX_EXPIRES)
            subscription.state = "active"
            subscription.failures = 0
            subscription.expires_at = now + granted
            subscription.due_at = now + max(MIN_REFRESH, granted * REFRESH_AT)
            if granted == 0:  # the device ended it at once: ask again later
                subscription.state = "failed"
                subscription.due_at = now + RETRY_FIRST
            return
        if status == 481 and subscription.dialog is not None:
            self.restart(subscription, now)
            return
        subscription.failures += 1
        subscription.state = "failed"
        subscription.dialog, subscription.call_id = None, ""
        backoff = RETRY_FIRST * 2 ** (subscription.failures - 1)
        subscription.due_at = now + min(RETRY_MAX, backoff)

    def restart(self, subscription: Subscription, now: float) -> None:
        """The device ended the subscription (NOTIFY with Subscription-State: terminated, or a
        481): subscribe anew in a new dialog now."""
        subscription.dialog, subscription.call_id, subscription.event = None, "", ""
        subscription.state = "pending"
        subscription.due_at = now

    def active(self) -> list[Subscription]:
        """Subscriptions a device granted (with a dialog to end them in)."""
        return [
            subscription
            for kinds in self._by_device.values()
            for subscription in kinds.values()
            if subscription.state == "active" and subscription.dialog is not None
        ]

    def describe(self, device_id: str, now: float) -> dict[str, Any]:
        return {
            kind: subscription.describe(now)
            for kind, subscription in self._by_device.get(device_id, {}).items()
        }


def apply_catalog_changes(
    channels: dict[str, CatalogItem], changes: tuple[CatalogChange, ...], limit: int
) -> list[dict[str, str]]:
    """Apply a catalog Notify to a device's channel list (by channel id): ADD and UPDATE
    add or change a channel (fields the notify leaves empty keep their value), DEL removes
    it, ON and OFF set its status, VLOST and DEFECT too. A new channel past `limit` is left
    out. Returns what changed, as {"channel", "event"} for the `gb.catalog` event."""
    applied: list[dict[str, str]] = []
    for change in changes:
        item, event = change.item, change.event
        known = channels.get(item.device_id)
        if event == "DEL":
            if channels.pop(item.device_id, None) is None:
                continue
        elif known is None and len(channels) >= limit:
            continue
        elif event in ("ADD", "UPDATE"):
            channels[item.device_id] = _merged(known, item)
        else:  # ON, OFF, VLOST, DEFECT
            channels[item.device_id] = replace(_merged(known, item), status=event)
        applied.append({"channel": item.device_id, "event": event})
    return applied


def _merged(known: CatalogItem | None, item: CatalogItem) -> CatalogItem:
    if known is None:
        return item
    changes = {
        spec.name: getattr(item, spec.name)
        for spec in fields(item)
        if getattr(item, spec.name) not in ("", None)
    }
    return replace(known, **changes)
