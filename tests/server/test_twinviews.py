"""Each browser's view of an H.265 camera's twin, without a video process: a view of its own
per participant, fed from the tier its estimate picks, moved to another tier at that tier's
keyframe only, tapping only the tiers it shows or moves to, and ending when nobody watches it
or the camera ends. WHEP players (no participant) and H.264 sources are given what they were."""

from __future__ import annotations

from typing import Any

import pytest

from mediacore.datapath import video
from mediacore.server.twinviews import TwinViews
from mediacore.videohub import VideoHub
from tests.server.test_conferences import IDR, FakeProcess, P
from tests.server.test_transcodes import Clock, transcoding
from tests.waiting import wait_for


@pytest.fixture
def setup() -> tuple[TwinViews, VideoHub, list[FakeProcess], Clock]:
    transcodes, hub, made, clock = transcoding(640, 360)
    return TwinViews(hub, transcodes, clock=clock, idle_stop_s=10.0), hub, made, clock


def _send(process: FakeProcess, tier: int, keyframe: bool, pts: int) -> None:
    process.on_frame(video(f"cam~h264/t{tier}", "H264", IDR if keyframe else P, pts, keyframe))


async def test_each_browser_gets_a_view_and_players_share_the_twin(setup: Any) -> None:
    views, hub, _made, _clock = setup
    assert views.playable("web", "alice") == "web"  # H.264: as it is
    assert views.playable("cam", None) == "cam~h264"  # a WHEP player: the shared twin
    mine = views.playable("cam", "alice")
    assert mine == "cam~h264~v~alice" and views.playable("cam", "alice") == mine
    assert views.playable("cam", "bob") == "cam~h264~v~bob"
    view = hub.get(mine)
    assert view.codec_name == "H264" and view.participant_id == "cam"  # same watchers
    tiers = views.fields("cam")["transcode"]["tiers"]
    assert set(tiers) == {"full"}  # both views tap the full tier's one encode


async def test_a_view_moves_to_the_tier_its_estimate_allows_at_a_keyframe(setup: Any) -> None:
    views, hub, made, clock = setup
    view = hub.get(views.playable("cam", "alice"))
    view.track()  # the browser's subscription
    await wait_for(lambda: made and made[0].notified, 2)
    [process] = made
    _send(process, 0, True, 0)
    _send(process, 0, False, 3600)
    assert view.frames_in == 2
    assert views.fields("cam")["transcode"]["views"] == {"cam~h264~v~alice": "full"}

    view.report_estimate("browser", 100_000.0)  # its REMB: a narrow link
    await wait_for(lambda: "t2" in process.variants(), 2)  # the quarter tier is encoded now
    keyframes = [d for e, d in process.notified if e == "conference.keyframe"]
    assert {"room": "cam~h264", "variant": "t2"} in keyframes  # asked for its keyframe
    _send(process, 2, False, 7200)  # the new tier's predicted frame: not yet
    _send(process, 0, False, 7200)  # the old tier goes on until then
    assert view.frames_in == 3
    _send(process, 2, True, 10800)  # the new tier's keyframe: the move
    _send(process, 0, False, 10800)  # the old tier no longer reaches the view
    assert view.frames_in == 4
    assert views.fields("cam")["transcode"]["views"] == {"cam~h264~v~alice": "quarter"}
    # the full tier is no longer tapped by the view: nobody watches it, it ends in time
    assert not hub.get("cam~h264~t2").closed and not hub.get("cam~h264").watched

    view.report_estimate("browser", None)  # the link cleared: up again, after the hold
    clock.t = 1.0
    views._choose(views._views["cam~h264~v~alice"], clock.t)  # noqa: SLF001 - a round
    assert views.fields("cam")["transcode"]["views"] == {"cam~h264~v~alice": "quarter"}
    clock.t = 7.0
    views._choose(views._views["cam~h264~v~alice"], clock.t)  # noqa: SLF001
    _send(process, 0, True, 14400)
    assert views.fields("cam")["transcode"]["views"] == {"cam~h264~v~alice": "full"}


async def test_unwatched_views_end_and_the_camera_ending_ends_them(setup: Any) -> None:
    views, hub, _made, clock = setup
    await views.start()
    alice = hub.get(views.playable("cam", "alice"))
    bob = hub.get(views.playable("cam", "bob"))
    alice.track()
    clock.t = 25.0
    await wait_for(lambda: bob.closed, 3)  # never watched
    assert not alice.closed
    hub.get("cam").close()
    assert alice.closed
    assert views.playable("web", "alice") == "web"
    await views.stop()
