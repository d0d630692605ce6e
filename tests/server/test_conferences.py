"""The conference service without a video process: which variants it asks the process to paint,
which viewer each variant's packets reach, and how it follows the room's events."""

from __future__ import annotations

import asyncio
from typing import Any

import av
import pytest

from mediacore.channel import Notification
from mediacore.channelio import RequestFailed
from mediacore.datapath import MediaFrame, video
from mediacore.events import EventBus
from mediacore.server.conferences import ConferenceService
from mediacore.videohub import VideoHub, VideoSource

IDR = b"\x00\x00\x00\x01\x65\x88"  # an IDR slice: a keyframe to the hub's inspector
P = b"\x00\x00\x00\x01\x41\x9a"


class FakeProcess:
    """A video process that records what it is told."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = "starting"
        self.notified: list[tuple[str, dict[str, Any]]] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[MediaFrame] = []
        self.on_notification: Any = None
        self.on_frame: Any = None
        self.on_drop: Any = None
        self.on_lost: Any = None
        self.on_restart: Any = None

    async def start(self) -> None:
        self.state = "running"

    async def stop(self) -> None:
        self.state = "stopped"

    async def wait_running(self) -> None:
        pass

    async def request(self, method: str, timeout: float = 30.0, **data: Any) -> Any:
        self.requests.append((method, data))
        return {"encodes": 0} if method == "conference.status" else None

    def notify(self, event: str, **data: Any) -> None:
        self.notified.append((event, data))

    def send(self, frame: MediaFrame) -> bool:
        self.sent.append(frame)
        return True

    def variants(self) -> dict[str, list[str | None]]:
        """The last variants told, as the sources of their tiles."""
        last = [data for event, data in self.notified if event == "conference.variants"][-1]
        return {vid: [t["source"] for t in v["tiles"]] for vid, v in last["variants"].items()}


@pytest.fixture
async def setup() -> tuple[ConferenceService, EventBus, VideoHub, list[FakeProcess]]:
    bus, hub = EventBus(), VideoHub()
    made: list[FakeProcess] = []

    def new_process(name: str) -> Any:
        made.append(FakeProcess(name))
        return made[-1]

    service = ConferenceService(hub, bus, new_process)
    video_setting = {"layout": {"kind": "grid"}, "width": 320, "height": 180, "fps": 10}
    bus.publish("room.opened", "r", settings={"name": "r", "video": video_setting})
    for pid, name in (("a", "Alice"), ("b", "Bob")):
        hub.register_source(VideoSource(pid, "H264", participant_id=pid))
        bus.publish("participant.joined", "r", participant={"id": pid, "name": name})
    return service, bus, hub, made


async def test_viewers_get_their_variants_and_only_their_packets(setup: Any) -> None:
    service, bus, hub, made = setup
    with pytest.raises(KeyError):
        await service.composed("nowhere", "a")
    assert await service.composed("r", "a") == "composed-r-a"
    [process] = made
    assert process.name == "conference-r"
    assert process.requests[0] == ("conference.start", {"room": "r", "fps": 10.0})
    assert process.variants() == {"320x180-a": ["b"]}  # alice never sees herself
    assert await service.composed("r", None) == "composed-r"
    assert process.variants() == {"320x180-a": ["b"], "320x180": ["a", "b"]}
    # the process decodes what it shows: the service taps exactly those sources
    process.on_notification(Notification("video.wanted", {"sources": ["a", "b"]}))
    for pid in ("a", "b"):
        packet = av.Packet(IDR)
        packet.pts = 0
        hub.get(pid).push(packet, True)
    assert {f.source for f in process.sent} == {"a", "b"}
    # each variant's packets reach its viewers, starting at a keyframe
    alice, player = hub.get("composed-r-a"), hub.get("composed-r")
    process.on_frame(video("r/320x180-a", "H264", P, 0, False))
    assert alice.frames_in == 0  # nothing before a keyframe
    process.on_frame(video("r/320x180-a", "H264", IDR, 9000, True))
    process.on_frame(video("r/320x180", "H264", IDR, 9000, True))
    assert (alice.frames_in, player.frames_in) == (1, 1)
    # alice leaves: her picture ends, the others' no longer need leaving her out
    bus.publish("participant.left", "r", participant="a")
    await asyncio.sleep(0)
    assert alice.closed
    assert process.variants() == {"320x180": ["b"]}


async def test_a_layout_patch_and_a_new_speaker_go_out_at_once(setup: Any) -> None:
    service, bus, _hub, made = setup
    await service.composed("r", "b")
    [process] = made
    focus = {"layout": {"kind": "focus"}, "width": 320, "height": 180, "fps": 10}
    bus.publish("room.updated", "r", settings={"name": "r", "video": focus})
    told = process.variants()["320x180-b"]
    assert told == ["a"]  # bob's picture: alice alone, large
    bus.publish("talking", "r", participant="a", talking=True, level_db=-20.0)
    await asyncio.sleep(0)  # the burst of events is through
    last = [d for e, d in process.notified if e == "conference.variants"][-1]
    [tile] = last["variants"]["320x180-b"]["tiles"]
    assert (tile["source"], tile["talking"], tile["w"], tile["h"]) == ("a", True, 320, 180)
    # a viewer switching variants asks the running encoder for a keyframe
    await service.composed("r", None)
    bus.publish("talking", "r", participant="b", talking=True, level_db=-10.0)
    await asyncio.sleep(0)
    assert service.room_fields("r")["composed"]["variants"] == ["320x180", "320x180-b"]
    await service.stop()
    assert process.state == "stopped"


class FakeWorker:
    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}


async def test_legs_in_workers_ask_for_a_picture_of_their_own_size(setup: Any) -> None:
    service, _bus, hub, made = setup
    worker = FakeWorker()
    service.serve_workers([worker])
    ask = worker.handlers["video.composed"]
    answer = await ask({"room": "r", "participant": "a", "width": 640, "height": 360})
    assert answer == {"source": "composed-r-a"} and hub.get("composed-r-a").codec_name == "H264"
    assert made[0].variants() == {"640x360-a": ["b"]}
    for bad in (
        {"room": "nowhere"},
        {"room": "r", "width": 641, "height": 360},
        {"room": "r", "width": 640},
    ):
        with pytest.raises(RequestFailed):
            await ask(bad)


async def test_a_viewer_moved_to_another_room_loses_this_rooms_picture(setup: Any) -> None:
    service, bus, hub, _made = setup
    await service.composed("r", "a")
    for name in ("r", "s"):
        bus.publish("participant.moved", name, participant="a", **{"from": "r", "to": "s"})
    with pytest.raises(KeyError):
        hub.get("composed-r-a")


async def test_a_viewer_with_a_low_estimate_gets_a_lower_tier_and_its_own_encode(
    setup: Any,
) -> None:
    """Quality tiers: a receiver that can take 150 kbit/s (b=TIAS, TMMBR) of a 500 kbit/s
    picture is painted a quarter-rate variant; the others keep the full one, and the room
    says who is at which tier."""
    service, _bus, hub, made = setup
    await service.composed("r", None)
    await service.composed("r", "a", bitrate=150_000)
    [process] = made
    last = [d for e, d in process.notified if e == "conference.variants"][-1]["variants"]
    assert {vid: v["share"] for vid, v in last.items()} == {"320x180": 1.0, "320x180-a~t2": 0.25}
    for alias in ("composed-r", "composed-r-a"):
        hub.get(alias).track()  # watched
    assert service.room_fields("r")["composed"]["tiers"] == {"player": "full", "a": "quarter"}
    service.estimate("r", "a", None)  # the limit is gone: up, but only after the hold
    await asyncio.sleep(0)
    assert "320x180-a~t2" in process.variants()


async def test_a_leg_in_a_worker_moves_tier_by_request_and_bad_bitrates_are_refused(
    setup: Any,
) -> None:
    service, _bus, _hub, made = setup

    class Worker:
        handlers: dict[str, Any] = {}

    worker = Worker()
    service.serve_workers([worker])  # type: ignore[list-item]
    answer = await worker.handlers["video.composed"]({"room": "r", "participant": "a"})
    assert answer == {"source": "composed-r-a"}
    assert "320x180-a" in made[0].variants()
    await worker.handlers["video.estimate"]({"room": "r", "participant": "a", "bitrate": 2e5})
    await asyncio.sleep(0)
    assert "320x180-a~t2" in made[0].variants()
    for bad in ("fast", -5, True, [1]):
        with pytest.raises(RequestFailed, match="bitrate"):
            await worker.handlers["video.estimate"]({"room": "r", "bitrate": bad})
        with pytest.raises(RequestFailed, match="bitrate"):
            await worker.handlers["video.composed"]({"room": "r", "bitrate": bad})


async def test_a_browsers_estimate_on_its_picture_moves_its_tier(setup: Any) -> None:
    """A browser says what it can take through the picture it watches (its REMB and receiver
    reports, read by the hub from its sender, mediacore.senderestimate): the viewer's source
    hears it and the viewer moves to the tier that fits; the room shows its estimate."""
    service, _bus, hub, made = setup
    source = hub.get(await service.composed("r", "a"))
    track = source.track()  # the browser's subscription
    assert "320x180-a" in made[0].variants()
    source.report_estimate(track, 150_000)
    await asyncio.sleep(0)
    assert "320x180-a~t2" in made[0].variants()
    composed = service.room_fields("r")["composed"]
    assert composed["tiers"] == {"a": "quarter"} and composed["estimates"] == {"a": 150_000}
    track.stop()  # the browser unsubscribed: its estimate goes with it
    assert service.room_fields("r")["composed"]["estimates"] == {}
