"""The event bus: every state change of a room is published here once.

WebSocket clients, the recorder's timeline and metrics all subscribe. Publishing never blocks
the publisher: a subscriber that falls behind loses its oldest events and is told how many."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mediacore.clock import iso8601, utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # e.g. "participant.joined", "talking", "floor.granted"
    room: str | None
    data: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=utc_now)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "room": self.room, "at": iso8601(self.at), **self.data}


class Subscription:
    """A bounded queue of events for one consumer, optionally filtered to one room; event types
    in `everywhere` pass whatever their room (alarms: every console sees every room's)."""

    def __init__(
        self,
        bus: EventBus,
        room: str | None,
        capacity: int,
        everywhere: frozenset[str] = frozenset(),
    ) -> None:
        self._bus = bus
        self.room = room
        self.everywhere = everywhere
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=capacity)
        self.dropped = 0

    def offer(self, event: Event) -> None:
        if (
            self.room is not None
            and event.room not in (self.room, None)
            and event.type not in self.everywhere
        ):
            return
        if self._queue.full():
            self._queue.get_nowait()  # a slow reader loses the oldest event, not the newest
            self.dropped += 1
        self._queue.put_nowait(event)

    async def get(self) -> Event:
        return await self._queue.get()

    def close(self) -> None:
        self._bus.unsubscribe(self)


class EventBus:
    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._listeners: list[Callable[[Event], None]] = []

    def subscribe(
        self,
        room: str | None = None,
        capacity: int = 1000,
        everywhere: frozenset[str] = frozenset(),
    ) -> Subscription:
        subscription = Subscription(self, room, capacity, everywhere)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def listen(self, listener: Callable[[Event], None]) -> None:
        """Call `listener` synchronously for every event (metrics, logs, tests)."""
        self._listeners.append(listener)

    def unlisten(self, listener: Callable[[Event], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def publish(self, type: str, room: str | None, **data: Any) -> Event:
        return self.deliver(Event(type, room, data))

    def deliver(self, event: Event) -> Event:
        """Publish an event made elsewhere (a media worker's), keeping its time."""
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # one broken listener must not stop the others or the room
                log.exception("event listener failed", extra={"event_type": event.type})
        self.relay(event)
        return event

    def relay(self, event: Event) -> None:
        """An event another cluster node published: to the subscribers (streams) only, never
        to the listeners, which act on and record this node's own events."""
        for subscription in self._subscriptions:
            subscription.offer(event)
