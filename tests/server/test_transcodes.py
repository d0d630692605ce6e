"""The transcode service without a video process: an H.265 source's H.264 twin is made when
first asked for, every receiver at one tier shares it, tiers are variants of one runner, and
a tier nobody receives ends (the last one ends the transcode and the process)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mediacore.datapath import video
from mediacore.server.transcodes import TranscodeService
from mediacore.videohub import VideoHub, VideoSource
from tests.server.test_conferences import IDR, FakeProcess
from tests.waiting import wait_for


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t


def transcoding(
    width: int = 320, height: int = 180
) -> tuple[TranscodeService, VideoHub, list[FakeProcess], Clock]:
    """A transcode service on a hub with an H.265 camera "cam" of that size and an H.264
    source "web"; the video processes it makes are fakes, listed as made."""
    hub, clock = VideoHub(), Clock()
    made: list[FakeProcess] = []

    def new_process(name: str) -> Any:
        made.append(FakeProcess(name))
        return made[-1]

    service = TranscodeService(hub, new_process, clock=clock, idle_stop_s=10.0)
    hub.resolver = service.resolve
    camera = VideoSource("cam", "H265", participant_id="cam")
    camera.width, camera.height = width, height
    hub.register_source(camera)
    hub.register_source(VideoSource("web", "H264", participant_id="web"))
    return service, hub, made, clock


@pytest.fixture
def setup() -> tuple[TranscodeService, VideoHub, list[FakeProcess], Clock]:
    return transcoding()


async def test_the_twin_is_made_on_first_ask_and_shared(setup: Any) -> None:
    service, hub, made, _clock = setup
    assert service.playable("web") == "web"  # H.264: as it is
    assert service.playable("cam") == "cam~h264"
    assert service.playable("nothing") == "nothing"
    with pytest.raises(KeyError):
        hub.get("web~h264")  # no twin of what needs none
    twin = hub.get("cam~h264")
    assert hub.get("cam~h264") is twin and twin.codec_name == "H264"
    assert twin.participant_id == "cam"  # whoever may watch the camera may watch its twin
    await wait_for(lambda: made and made[0].notified, 2)
    [process] = made
    assert process.name == "transcodes"
    assert process.requests == [("conference.start", {"room": "cam~h264", "fps": 25.0})]
    told = [d for e, d in process.notified if e == "conference.variants"][-1]
    assert told["room"] == "cam~h264"
    assert told["variants"] == {
        "t0": {
            "width": 320,
            "height": 180,
            "share": 1.0,
            "tiles": [
                {
                    "x": 0,
                    "y": 0,
                    "w": 320,
                    "h": 180,
                    "source": "cam",
                    "label": "",
                    "highlight": False,
                    "talking": False,
                }
            ],
        }
    }
    # a lower tier is a variant of the same runner, with its own twin
    quarter = hub.get("cam~h264~t2")
    await wait_for(lambda: "t2" in process.variants(), 2)
    told = [d for e, d in process.notified if e == "conference.variants"][-1]
    assert {v: d["share"] for v, d in told["variants"].items()} == {"t0": 1.0, "t2": 0.25}
    assert len(process.requests) == 1  # still one transcoder
    # each tier's encoded pictures reach its twin only
    process.on_frame(video("cam~h264/t2", "H264", IDR, 0, True))
    assert (twin.frames_in, quarter.frames_in) == (0, 1)
    assert service.fields("cam")["transcode"]["tiers"] == {
        "full": {"source": "cam~h264", "subscribers": 0},
        "quarter": {"source": "cam~h264~t2", "subscribers": 0},
    }
    assert service.statistics() == {"transcodes": 1, "encodes": 2, "started_total": 1}


async def test_unwatched_tiers_end_and_the_last_ends_the_process(setup: Any) -> None:
    service, hub, made, clock = setup
    await service.start()
    twin = hub.get("cam~h264")
    twin.track()  # a subscriber
    quarter = hub.get("cam~h264~t2")
    clock.t = 11.0  # the twin is watched, the quarter has been idle for 11 s
    await wait_for(lambda: quarter.closed, 3)  # unwatched since 0 s
    assert not twin.closed
    assert set(service.fields("cam")["transcode"]["tiers"]) == {"full"}
    for track in twin.subscribers:
        track.stop()
    clock.t = 30.0
    await wait_for(lambda: twin.closed, 3)
    assert service.fields("cam") == {}
    [process] = made
    await wait_for(lambda: process.state == "stopped", 3)
    assert ("conference.stop", {"room": "cam~h264"}) in process.requests
    await service.stop()


async def test_the_camera_ending_ends_its_twins(setup: Any) -> None:
    service, hub, _made, _clock = setup
    twin = hub.get("cam~h264")
    hub.get("cam").close()
    assert twin.closed and service.statistics()["transcodes"] == 0
    with pytest.raises(KeyError):
        hub.get("cam~h264")  # no camera, no twin
    await service.stop()


async def test_a_process_that_cannot_start_is_tried_again_by_the_next_ask(
    setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, hub, made, _clock = setup
    failing = [True]

    async def start(self: FakeProcess) -> None:
        if failing[0]:
            raise OSError("no fork")
        self.state = "running"

    monkeypatch.setattr(FakeProcess, "start", start)
    first = hub.get("cam~h264")
    await wait_for(lambda: made, 2)
    await asyncio.sleep(0.1)
    assert not service.fields("cam")["transcode"]["running"]
    first.close()
    failing[0] = False
    hub.get("cam~h264")
    await wait_for(lambda: service.fields("cam")["transcode"]["running"], 2)
    assert len(made) == 2
    await service.stop()
