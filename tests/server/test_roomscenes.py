"""Rooms as walls see them, followed from events alone (the same for rooms on workers)."""

from __future__ import annotations

from mediacore.events import EventBus
from mediacore.server.roomscenes import RoomScenes


def test_members_talkers_and_floor_follow_the_events() -> None:
    bus = EventBus()
    scenes = RoomScenes(bus)
    bus.publish("room.opened", "ops")
    scene = scenes.get("ops")
    assert scene is not None and scene.members == {} and scene.loudest() is None
    for pid, name in (("p-a", "Alpha"), ("p-b", ""), ("p-c", "Charlie")):
        bus.publish("participant.joined", "ops", participant={"id": pid, "name": name})
    assert list(scene.members) == ["p-a", "p-b", "p-c"]  # join order
    assert scenes.names() == {"p-a": "Alpha", "p-b": "p-b", "p-c": "Charlie"}
    bus.publish("talking", "ops", participant="p-a", talking=True, level_db=-30.0)
    bus.publish("talking", "ops", participant="p-c", talking=True, level_db=-12.0)
    assert scene.loudest() == "p-c"
    bus.publish("talking", "ops", participant="p-c", talking=False, level_db=-40.0)
    assert scene.loudest() == "p-a"
    bus.publish("floor.granted", "ops", participant="p-b", priority=0, source="api")
    assert scene.floor == "p-b"
    bus.publish("floor.revoked", "ops", participant="p-a", reason="admin")  # a queued one
    assert scene.floor == "p-b"
    bus.publish("participant.left", "ops", participant="p-b", reason="left")
    assert scene.floor is None and list(scene.members) == ["p-a", "p-c"]
    bus.publish("participant.left", "ops", participant="p-a", reason="left")
    assert scene.loudest() is None
    bus.publish("room.closed", "ops", reason="closed")
    assert scenes.get("ops") is None and scenes.names() == {}
