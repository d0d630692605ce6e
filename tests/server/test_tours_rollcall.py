"""Tours and roll calls in the conference service (without a video process: what it tells the
process to paint), and the roll-call API in-process: focus, announcement, floor, ending."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mediacore.clock import FakeClock
from mediacore.events import Event, EventBus
from mediacore.server.conferences import ConferenceService
from mediacore.server.roomscenes import RoomScenes
from mediacore.server.roomtours import RoomTours
from mediacore.server.walls import WallService
from mediacore.server.walltours import WallTours
from mediacore.videohub import VideoHub, VideoSource
from mixer.layout import Layout, LayoutError, Tile
from mixer.tours import Tour
from mixer.wall import Scene
from tests.server.test_api import Api, assert_error, make_config, running
from tests.server.test_conferences import FakeProcess

GRID4 = {"layout": {"kind": "grid-4"}, "width": 320, "height": 180, "fps": 10}
TOUR = {"region": 3, "sources": ["c", "d"], "interval": 2}
ROLLCALL = "/api/v1/rooms/command/rollcall"
JSON_BODY = {"content-type": "application/json"}


async def test_a_toured_slot_changes_source_every_interval_in_every_picture() -> None:
    bus, hub, clock = EventBus(), VideoHub(), FakeClock()
    made: list[FakeProcess] = []

    def new_process(name: str) -> Any:
        made.append(FakeProcess(name))
        return made[-1]

    service = ConferenceService(hub, bus, new_process)
    tours = RoomTours(bus, clock)
    service.rules.append(tours)
    events: list[Event] = []
    bus.listen(lambda e: events.append(e) if e.type == "conference.tour" else None)
    bus.publish("room.opened", "r", settings={"name": "r", "video": {**GRID4, "tours": [TOUR]}})
    for pid in "abcd":
        hub.register_source(VideoSource(pid, "H264", participant_id=pid))
        bus.publish("participant.joined", "r", participant={"id": pid, "name": pid.upper()})
    try:
        await service.composed("r", None)
        [process] = made
        # slot 3 shows c; c was in slot 2 of the grid: they swap
        assert process.variants() == {"320x180": ["a", "b", "d", "c"]}
        assert [(e.data["slot"], e.data["source"], e.data["step"]) for e in events] == [(3, "c", 0)]
        clock.advance(2.0)
        assert tours.advance("r") == clock.now() + 2
        await asyncio.sleep(0)  # the event's repaint
        assert process.variants() == {"320x180": ["a", "b", "c", "d"]}
        assert events[-1].data == {"slot": 3, "region": 3, "source": "d", "name": "D", "step": 1}
        last = process.notified[-1][1]["variants"]["320x180"]["tiles"][3]
        assert last["label"] == "D"
        # a PATCH without tours: the slot goes back to the layout's binding
        bus.publish("room.updated", "r", settings={"name": "r", "video": GRID4})
        await asyncio.sleep(0)
        assert process.variants() == {"320x180": ["a", "b", "c", "d"]}
        assert tours.shown("r") == {} and events[-1].data["ended"]
    finally:
        tours.stop()
        await service.stop()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running(make_config(tmp_path)) as started:
        yield started


async def until(check: Any, what: str, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


async def test_a_roll_call_focuses_announces_and_gives_a_radio_the_floor(api: Api) -> None:
    events: list[Event] = []
    api.server.bus.listen(events.append)
    phone = (await api.join(name="Phone")).rsplit("/", 1)[1]
    radio = (await api.join(name="张三", duplex="half")).rsplit("/", 1)[1]
    started = await api.as_role("operator", "POST", ROLLCALL, json={"participant": radio})
    assert started.status_code == 201, started.text
    called = started.json()
    assert called["participant"] == radio and called["name"] == "张三"
    assert called["by"] == "operator user" and called["timeout_s"] == 60
    assert called["floor"] == "pending" and called["announcement"] is not None
    [event] = [e for e in events if e.type == "conference.rollcall"]
    assert event.data["state"] == "started" and event.data["participant"] == radio
    # the picture: the radio in the focus whatever the layout
    rules = api.server.conferences.rules
    assert any(rule.layout("command", Layout("grid")).main == radio for rule in rules)
    slate = (Tile(0, 0, 320, 135, radio, radio), Tile(0, 135, 80, 45, phone, "Phone"))
    labels = [t.label for t in api.server.rollcalls.picture("command", slate, Scene())]
    assert labels == ["张三", "Phone"]  # a radio has no camera: its slate says who it is
    # asked in Chinese, then the floor once it has been said
    [announced] = [e for e in events if e.type == "announcement.started"]
    assert announced.data["id"] == called["announcement"]
    await until(lambda: any(e.type == "announcement.finished" for e in events), "announced")
    floor = "/api/v1/rooms/command/floor"
    await until(lambda: api.server.rollcalls.describe("command")["floor"] == "granted", "floor")
    assert (await api.admin("GET", floor)).json()["holder"] == radio
    assert (await api.admin("GET", ROLLCALL)).json()["participant"] == radio
    # the next roll call replaces it: a full-duplex phone needs no floor
    replaced = await api.admin("POST", ROLLCALL, json={"participant": phone, "announce": False})
    assert replaced.status_code == 201 and replaced.json()["floor"] is None
    ended = [e.data for e in events if e.type == "conference.rollcall"][-2]
    assert (ended["state"], ended["reason"], ended["participant"]) == ("ended", "replaced", radio)
    await until(lambda: api.server.rooms is not None and not _holds(api, radio), "released")
    deleted = await api.as_role("commander", "DELETE", ROLLCALL)
    assert deleted.status_code == 204
    assert events[-1].type == "conference.rollcall" and events[-1].data["reason"] == "ended"
    assert_error(await api.admin("GET", ROLLCALL), 404, "no-rollcall")
    assert_error(await api.admin("DELETE", ROLLCALL), 404, "no-rollcall")


def ended(events: list[Event]) -> list[str]:
    return [
        e.data["reason"] for e in events if e.type == "conference.rollcall" and "reason" in e.data
    ]


def _holds(api: Api, participant: str) -> bool:
    room = api.server.directory.rooms["command"]
    return room.floor.holder == participant


async def test_a_roll_call_times_out_and_ends_when_its_participant_leaves(api: Api) -> None:
    events: list[Event] = []
    api.server.bus.listen(events.append)
    url = await api.join(name="Phone")
    phone = url.rsplit("/", 1)[1]
    body = {"participant": phone, "timeout": 1, "announce": False}
    assert (await api.admin("POST", ROLLCALL, json=body)).status_code == 201
    await until(lambda: ended(events) == ["timeout"], "timed out", 3.0)
    assert (await api.admin("POST", ROLLCALL, json={**body, "timeout": 60})).status_code == 201
    assert (await api.admin("DELETE", url)).status_code == 204
    await until(lambda: ended(events) == ["timeout", "left"], "left")
    assert_error(await api.admin("GET", ROLLCALL), 404, "no-rollcall")


async def test_roll_calls_are_for_dispatchers_and_unknown_names_are_404(api: Api) -> None:
    phone = (await api.join(name="Phone")).rsplit("/", 1)[1]
    body = {"participant": phone, "announce": False}
    assert_error(await api.as_role("expert", "POST", ROLLCALL, json=body), 403, "forbidden")
    assert_error(await api.as_role("expert", "DELETE", ROLLCALL), 403, "forbidden")
    unknown = await api.admin("POST", ROLLCALL, json={"participant": "p-nobody"})
    assert_error(unknown, 404, "participant-not-found")
    nowhere = await api.admin("POST", "/api/v1/rooms/nowhere/rollcall", json=body)
    assert_error(nowhere, 404, "room-not-found")
    for bad in ({}, {"participant": ""}, {**body, "timeout": 0}, {**body, "lang": "fr"}):
        assert (await api.admin("POST", ROLLCALL, json=bad)).status_code == 422
    # an announcement cannot be called on
    played = await api.admin(
        "POST", "/api/v1/rooms/command/announcements", json={"text": "long " * 40, "lang": "en"}
    )
    assert played.status_code == 201, played.text
    refused = await api.admin("POST", ROLLCALL, json={"participant": played.json()["id"]})
    assert_error(refused, 409, "not-callable")


async def test_a_bad_tour_is_a_400_naming_it(api: Api) -> None:
    video = {**GRID4, "tours": [{**TOUR, "region": 7}]}
    response = await api.admin("PATCH", "/api/v1/rooms/command", json={"video": video})
    assert_error(response, 400, "bad-video")
    assert "tours[0].region 7" in response.json()["detail"]
    # kept and answered as given: text a response cannot write is refused, not stored
    surrogate = '{"video": {"tours": [{"region": 0, "sources": ["\\ud800"], "interval": 2}]}}'
    response = await api.admin(
        "PATCH", "/api/v1/rooms/command", content=surrogate, headers=JSON_BODY
    )
    assert_error(response, 400, "bad-video")
    assert "Unicode text only" in response.json()["detail"]
    good = await api.admin(
        "PATCH", "/api/v1/rooms/command", json={"video": {**GRID4, "tours": [TOUR]}}
    )
    assert good.status_code == 200 and good.json()["video"]["tours"] == [TOUR]
    await asyncio.sleep(0)
    assert api.server.tours.shown("command") == {3: "c"}


async def test_a_wall_tours_a_tile_through_its_scene_and_says_so(tmp_path: Path) -> None:
    bus, hub, clock = EventBus(), VideoHub(), FakeClock()
    events: list[Event] = []
    bus.listen(lambda e: events.append(e) if e.type == "wall.tour" else None)
    book = WallTours(bus, clock)
    tour = Tour(1, 1, ("c", "d"), 5.0)
    book.set("hall", "r", (tour,))
    assert book.shown("hall", {"c": "Cam C"}) == {1: "c"}
    assert book.shown("hall", {}) == {1: "c"} and len(events) == 1  # no change, no event
    clock.advance(5.0)
    assert book.shown("hall", {}) == {1: "d"}
    assert events[-1].room == "r" and events[-1].data["wall"] == "hall"
    assert [e.data["source"] for e in events] == ["c", "d"]
    book.set("hall", "r", (tour,))  # the same tours: they go on
    assert book.shown("hall", {}) == {1: "d"}
    book.drop("hall")
    assert book.shown("hall", {}) == {}
    # the wall service sends each toured slot's source with the scene, and refuses bad tours
    made: list[FakeProcess] = []

    def new_process(name: str) -> Any:
        made.append(FakeProcess(name))
        return made[-1]

    walls = WallService(tmp_path, RoomScenes(bus), hub, bus, new_process)
    definition = {
        "canvas": {"width": 320, "height": 180, "fps": 5},
        "layout": {"kind": "grid-4"},
        "tours": [{"region": 2, "sources": ["x", "y"], "interval": 3}],
    }
    await walls.put("hall", definition, persist=False)
    scene = [data for event, data in made[0].notified if event == "wall.scene"][-1]
    assert scene["tours"] == {"2": "x"}
    with pytest.raises(LayoutError, match="tours"):
        await walls.put("hall", {**definition, "tours": [{"region": 9, "sources": ["x"]}]})
    await walls.stop()
