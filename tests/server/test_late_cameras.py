"""A camera that sends its first frame late (after its peer joined and asked for the composed
picture) or is renegotiated, on its way from a media worker's hub to the composed picture:
the worker announces it to control with its first frame and again after a renegotiation,
and the conference service puts a camera that reaches the hub after its viewer's picture was
made into everyone's picture at its next round. And a source a worker imports for a join is
kept until the join subscribes."""

from __future__ import annotations

import asyncio
from typing import Any

import av

from mediacore.clock import FakeClock
from mediacore.datapath import MediaFrame
from mediacore.server.workervideo import IMPORT_GRACE_S, WorkerVideo
from mediacore.videohub import VideoHub, VideoSource
from tests.server.test_conferences import IDR, P, setup

__all__ = ["setup"]  # the conference fixture, shared


class FakeChannel:
    def __init__(self) -> None:
        self.notified: list[tuple[str, dict[str, Any]]] = []
        self.handlers: dict[str, Any] = {}

    def notify(self, event: str, **data: Any) -> None:
        self.notified.append((event, data))


class FakeData:
    def __init__(self) -> None:
        self.sent: list[MediaFrame] = []
        self.on_drop: Any = None
        self.on_frame: Any = None

    def send(self, frame: MediaFrame) -> bool:
        self.sent.append(frame)
        return True


def push(source: VideoSource, data: bytes, pts: int, keyframe: bool) -> None:
    packet = av.Packet(data)
    packet.pts = pts
    source.push(packet, keyframe)


async def test_a_worker_announces_a_camera_with_its_first_frame_however_late() -> None:
    hub, channel, data = VideoHub(), FakeChannel(), FakeData()
    video = WorkerVideo(hub, channel, data)  # type: ignore[arg-type]
    camera = hub.register_source(VideoSource("p-late", "H264", participant_id="p-late"))
    video.export()  # at the join: no frame yet, nothing to announce
    assert channel.notified == [] and data.sent == []
    await asyncio.sleep(0.05)  # ... the camera starts later
    push(camera, IDR, 0, True)
    push(camera, P, 3000, False)
    [(event, published)] = channel.notified
    assert event == "video.published"
    assert (published["source"], published["participant"]) == ("p-late", "p-late")
    assert published["codec"]["name"] == "H264"
    assert [(f.source, f.keyframe) for f in data.sent] == [("p-late", True), ("p-late", False)]
    # renegotiated (a new codec: a new source of the same id): ended, then announced again
    camera.close()
    again = hub.register_source(VideoSource("p-late", "VP8", participant_id="p-late"))
    video.export()
    push(again, b"\x10\x02\x00\x9d\x01\x2a\x40\x01\xf0\x00", 0, True)
    assert [event for event, _ in channel.notified] == [
        "video.published",
        "video.ended",
        "video.published",
    ]
    assert channel.notified[-1][1]["codec"]["name"] == "VP8"


async def test_a_camera_reaching_the_hub_after_its_viewers_picture_is_shown(setup: Any) -> None:
    service, bus, hub, made = setup
    await service.start()
    try:
        bus.publish("participant.joined", "r", participant={"id": "c", "name": "Carol"})
        await service.composed("r", "c")  # asked before its camera sent anything
        await service.composed("r", None)
        [process] = made
        assert process.variants() == {"320x180": ["a", "b"]}
        hub.register_source(VideoSource("c", "H264", participant_id="c"))  # its first frame
        await asyncio.sleep(0.5)  # a round or two
        assert process.variants() == {"320x180-c": ["a", "b"], "320x180": ["a", "b", "c"]}
    finally:
        await service.stop()


class AnsweringChannel(FakeChannel):
    async def request(self, method: str, **data: Any) -> dict[str, Any]:
        assert method == "video.import"
        return {"codec": {"name": "H264"}, "participant": None}


async def test_a_just_imported_source_outlives_a_cleanup_until_its_importer_subscribes() -> None:
    # A WHEP join imports the composed picture, then applies the offer before it subscribes:
    # the worker's once-a-second cleanup must not drop the picture in between.
    clock = FakeClock()
    hub, channel = VideoHub(), AnsweringChannel()
    video = WorkerVideo(hub, channel, None, clock=clock)  # type: ignore[arg-type]
    await video.ensure("composed-r")
    video.release_unwatched()
    assert "composed-r" in {s.id for s in hub.all()}
    clock.advance(IMPORT_GRACE_S + 0.1)  # nobody came: released as before
    video.release_unwatched()
    assert "composed-r" not in {s.id for s in hub.all()}
    assert ("video.release", {"source": "composed-r"}) in channel.notified
