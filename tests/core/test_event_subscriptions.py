"""Subscriptions of the event bus: filtered to a room, with types that pass from every room."""

from __future__ import annotations

import asyncio

from mediacore.events import EventBus, Subscription


async def drained(subscription: Subscription) -> list[tuple[str, str | None]]:
    """What the subscription holds now."""
    events = []
    while True:
        try:
            event = await asyncio.wait_for(subscription.get(), 0.05)
        except TimeoutError:
            return events
        events.append((event.type, event.room))


async def test_a_room_subscription_gets_its_room_the_servers_and_everywhere_types() -> None:
    bus = EventBus()
    north = bus.subscribe("north", everywhere=frozenset({"alarm.raised"}))
    plain = bus.subscribe("north")
    everything = bus.subscribe()
    bus.publish("talking", "north")
    bus.publish("talking", "south")
    bus.publish("sip.registered", None)
    bus.publish("alarm.raised", "south")
    assert await drained(north) == [
        ("talking", "north"),
        ("sip.registered", None),
        ("alarm.raised", "south"),
    ]
    assert await drained(plain) == [("talking", "north"), ("sip.registered", None)]
    assert len(await drained(everything)) == 4
