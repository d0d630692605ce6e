"""A room's shared content on the server (mediacore.server.roomcontent): announced once its
source is in the hub, shown large in every composed picture at once, and ended by its sharer,
an operator, a newer sharer, the sharer leaving or its source ending."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mediacore.events import Event, EventBus
from mediacore.server.roomcontent import RoomContent
from mediacore.videohub import VideoHub, VideoSource
from mixer.contentlayout import ContentRule
from tests.server.test_conferences import FakeProcess, setup

__all__ = ["setup"]


def content_events(bus: EventBus) -> list[Event]:
    seen: list[Event] = []
    bus.listen(lambda e: seen.append(e) if e.type.startswith("content.") else None)
    return seen


def test_a_share_is_announced_when_its_source_is_there_and_ends_with_it() -> None:
    bus, hub = EventBus(), VideoHub()
    seen = content_events(bus)
    content = RoomContent(bus, hub)
    noted: list[Event] = []
    content.timeline = noted.append  # what rooms recorded in workers get
    content.start("r", "p-1", "Alice", "p-1/content")  # its first frame is still on the way
    assert seen == [] and content.shown("r") is None
    assert content.room_fields("r")["content"]["live"] is False
    source = hub.register_source(VideoSource("p-1/content", "H264", participant_id="p-1"))
    assert [(e.type, e.data["source"], e.data["name"]) for e in seen] == [
        ("content.started", "p-1/content", "Alice")
    ]
    assert content.shown("r") == ("p-1/content", "Alice · content / 共享")
    source.close()
    assert (seen[-1].type, seen[-1].data["reason"]) == ("content.stopped", "ended")
    assert content.current("r") is None and content.room_fields("r") == {}
    assert noted == seen


def test_a_new_sharer_replaces_the_first_and_leaving_or_an_operator_ends_it() -> None:
    bus, hub = EventBus(), VideoHub()
    seen = content_events(bus)
    content = RoomContent(bus, hub)
    for pid in ("p-1", "p-2"):
        hub.register_source(VideoSource(f"{pid}/content", "H264", participant_id=pid))
    content.start("r", "p-1", "Alice", "p-1/content")
    content.start("r", "p-2", "Bob", "p-2/content")
    assert [(e.type, e.data["participant"], e.data.get("reason")) for e in seen] == [
        ("content.started", "p-1", None),
        ("content.stopped", "p-1", "replaced"),
        ("content.started", "p-2", None),
    ]
    assert seen[1].data["by"] == "Bob"
    assert content.stop("r", "unshared", participant="p-1") is None  # not its share any more
    bus.publish("participant.left", "r", participant="p-2", name="Bob", reason="left")
    assert (seen[-1].type, seen[-1].data["reason"]) == ("content.stopped", "left")
    content.start("r", "p-1", "Alice", "p-1/content")
    stopped = content.stop("r", "stopped", by="operator")
    assert stopped is not None and stopped.participant == "p-1"
    assert (seen[-1].data["reason"], seen[-1].data["by"]) == ("stopped", "operator")
    content.start("r", "p-1", "Alice", "p-1/content")
    bus.publish("room.closed", "r")
    assert seen[-1].data["reason"] == "room-closed"


async def test_every_picture_shows_the_content_large_and_returns_to_normal(setup: Any) -> None:
    service, bus, hub, made = setup
    content = RoomContent(bus, hub)
    service.rules.append(ContentRule(content.shown))
    await service.composed("r", "a")
    await service.composed("r", None)
    process: FakeProcess = made[0]
    assert process.variants() == {"320x180-a": ["b"], "320x180": ["a", "b"]}
    hub.register_source(VideoSource("a/content", "H264", participant_id="a"))
    content.start("r", "a", "Alice", "a/content")
    await asyncio.sleep(0)  # the event's burst is through: told at once
    # the sharer's own picture too: the content is not a self-view
    assert process.variants() == {
        "320x180-a": ["a/content", "b"],
        "320x180": ["a/content", "a", "b"],
    }
    last = [d for e, d in process.notified if e == "conference.variants"][-1]
    main = last["variants"]["320x180"]["tiles"][0]
    assert (main["w"], main["h"], main["label"]) == (320, 136, "Alice · content / 共享")
    assert last["available"]["a/content"] == "H264"
    content.stop("r", "unshared", participant="a")
    await asyncio.sleep(0)
    assert process.variants() == {"320x180-a": ["b"], "320x180": ["a", "b"]}
    await service.stop()


@pytest.mark.parametrize("reason", ["left", "moved"])
def test_a_sharer_gone_from_the_room_ends_its_share(reason: str) -> None:
    bus, hub = EventBus(), VideoHub()
    content = RoomContent(bus, hub)
    content.start("r", "p-1", "Alice", "p-1/content")
    data: dict[str, Any] = {"participant": "p-1"}
    if reason == "moved":
        bus.publish("participant.moved", "r", participant="p-1", **{"from": "r", "to": "s"})
    else:
        bus.publish("participant.left", "r", **data)
    assert content.current("r") is None
