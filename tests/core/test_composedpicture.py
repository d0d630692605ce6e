"""A leg's picture is the room's composed one (at the size it asked for), else the forwarded
camera: when there is no composer, the composer fails, or the leg cannot take H.264."""

from __future__ import annotations

from mediacore.clock import FakeClock
from mediacore.composedpicture import RETRY_S, ComposedPicture
from mediacore.forwardedpicture import ForwardedPicture
from mediacore.videohub import VideoSource
from mediacore.videosender import VideoSender
from tests.core.test_forwardedpicture import Room


def setup(
    codec: str = "H264",
    fail: bool = False,
    size: tuple[int, int] | None = None,
    estimate: list[float | None] | None = None,
) -> tuple[ComposedPicture, VideoSender, list[tuple[object, ...]], dict[str, VideoSource]]:
    cameras = {"a": VideoSource("a", "H264", participant_id="a")}
    asked: list[tuple[object, ...]] = []
    composed: dict[str, VideoSource] = {}

    async def find(pid: str) -> VideoSource | None:
        return cameras.get(pid)

    async def compose(
        room: str, participant: str, width: int | None, height: int | None, bitrate: float | None
    ) -> VideoSource | None:
        asked.append((room, participant, width, height) + ((bitrate,) if bitrate else ()))
        if fail:
            raise TimeoutError("no video process")
        source = composed.get("current")
        if source is None or source.closed:
            source = composed["current"] = VideoSource(f"composed-{room}-{participant}", "H264")
        return source

    sender = VideoSender(lambda data, pts: None, codec)
    room = Room({"a": 1, "me": 2})
    clock = FakeClock()
    forwarded = ForwardedPicture(sender, "me", room, find, clock=clock)  # type: ignore[arg-type]
    said = estimate if estimate is not None else [None]
    picture = ComposedPicture(
        sender, "me", "r", compose, forwarded, size=size, estimate=lambda: said[0], clock=clock
    )
    composed["camera"] = cameras["a"]
    return picture, sender, asked, composed


async def test_a_leg_follows_its_composed_picture_at_the_size_it_asked() -> None:
    picture, sender, asked, composed = setup(size=(640, 360))
    source = await picture.choose()
    assert source is composed["current"] and sender.source is source
    assert picture.mode == "composed"
    assert asked == [("r", "me", 640, 360)]
    assert await picture.choose() is source and len(asked) == 1  # kept while it lasts
    source.close()  # the room's video process restarted: the next look composes again
    again = await picture.choose()
    assert again is composed["current"] and again is not source and len(asked) == 2
    picture.stop()
    sender.close()


async def test_without_composition_the_leg_gets_the_forwarded_camera_and_retries_later() -> None:
    picture, sender, asked, composed = setup(fail=True)
    assert await picture.choose() is composed["camera"]
    assert picture.mode == "forwarded" and asked == [("r", "me", None, None)]
    await picture.choose()
    assert len(asked) == 1  # not asked again before the retry time
    clock = picture.clock
    assert isinstance(clock, FakeClock)
    clock.advance(RETRY_S + 0.1)
    await picture.choose()
    assert len(asked) == 2
    sender.close()


async def test_a_vp8_leg_cannot_take_the_composed_h264_picture() -> None:
    picture, sender, asked, composed = setup(codec="VP8")
    assert await picture.choose() is None  # the only camera is H.264 too
    assert picture.mode == "forwarded" and asked == []  # no picture made for nobody
    sender.close()


async def test_no_composer_is_the_forwarded_mode() -> None:
    picture, sender, _, composed = setup()
    picture.compose = None
    assert await picture.choose() is composed["camera"]
    sender.close()


async def test_a_new_estimate_asks_again_so_the_leg_moves_to_the_tier_that_fits() -> None:
    estimate: list[float | None] = [2e6]
    picture, sender, asked, composed = setup(estimate=estimate)
    source = await picture.choose()
    assert asked == [("r", "me", None, None, 2e6)]
    assert await picture.choose() is source and len(asked) == 1  # the same estimate
    estimate[0] = 300_000.0  # a TMMBR: the same picture, asked for at the new rate
    assert await picture.choose() is source and sender.source is source
    assert asked[-1] == ("r", "me", None, None, 300_000.0) and len(asked) == 2
    picture.stop()
    sender.close()
