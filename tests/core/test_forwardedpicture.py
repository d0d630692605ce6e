"""Which room video a SIP or plain RTP leg is sent: the floor holder's, else the latest joiner's
with video, never its own; and the sender forwards a source's frames from a keyframe on."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import av

from mediacore.forwardedpicture import ForwardedPicture, candidates
from mediacore.videohub import VideoSource
from mediacore.videosender import VideoSender


@dataclass
class Floor:
    holder: str | None = None
    holder_priority: int | None = None


@dataclass
class Room:
    participants: Mapping[str, object]
    floor: Floor = field(default_factory=Floor)
    name: str = "r"


def test_candidates_prefer_the_floor_holder_then_the_latest_joiners_never_oneself() -> None:
    assert candidates("me", None, ["a", "me", "b", "c"]) == ["c", "b", "a"]
    assert candidates("me", "a", ["a", "me", "b"]) == ["a", "b"]
    assert candidates("me", "me", ["a", "me"]) == ["a"]


def packet(data: bytes, pts: int) -> av.Packet:
    p = av.Packet(data)
    p.pts = pts
    p.time_base = Fraction(1, 90000)
    return p


KEY = b"\x00\x00\x00\x01\x65\x88"  # an IDR slice's first bytes: a keyframe to the hub
DELTA = b"\x00\x00\x00\x01\x41\x9a"


async def test_picture_follows_the_floor_and_skips_participants_without_video() -> None:
    sources = {pid: VideoSource(pid, "H264", participant_id=pid) for pid in ("a", "b")}
    vp8 = VideoSource("v", "VP8", participant_id="v")

    async def find(pid: str) -> VideoSource | None:
        return {**sources, "v": vp8}.get(pid)

    sent: list[tuple[bytes, int | None]] = []
    sender = VideoSender(lambda data, pts: sent.append((data, pts)), "H264")
    room = Room({"a": 1, "b": 2, "phone": 3, "v": 4, "me": 5})
    picture = ForwardedPicture(sender, "me", room, find)  # type: ignore[arg-type]
    # latest first: "v" is VP8 (not forwarded to an H.264 leg), "phone" has no video
    assert await picture.choose() is sources["b"]
    room.floor.holder = "a"
    assert await picture.choose() is sources["a"]
    # frames of the followed source reach the sink from its first keyframe on
    sources["a"].push(packet(DELTA, 0), False)
    sources["a"].push(packet(KEY, 3000), True)
    sources["a"].push(packet(DELTA, 6000), False)
    sources["b"].push(packet(KEY, 0), True)
    await asyncio.sleep(0.01)
    assert [data for data, _ in sent] == [KEY, DELTA]
    # its publisher leaves: the next look falls back to the others
    sources["a"].close()
    await asyncio.sleep(0.01)
    assert sender.source is None
    room.floor.holder = None
    assert await picture.choose() is sources["b"]
    sender.close()


async def test_sender_refuses_a_source_of_another_codec() -> None:
    sender = VideoSender(lambda data, pts: None, "H264")
    assert not sender.follow(VideoSource("v", "VP8"))
    assert sender.source is None


async def test_an_h265_picture_is_sent_as_its_h264_twin_at_the_legs_tier() -> None:
    """A leg that negotiated H.264 cannot take an H.265 camera: it follows the camera's twin,
    `~t2` (a quarter of the bit rate) when its b=TIAS says 150 kbit/s; a VP8 leg asks for none."""
    camera = VideoSource("cam", "H265", participant_id="cam")
    asked: list[str] = []

    async def find(sid: str) -> VideoSource | None:
        asked.append(sid)
        if sid == "cam":
            return camera
        return VideoSource(sid, "H264") if sid.startswith("cam~h264") else None

    room = Room({"cam": 1, "me": 2})
    sender = VideoSender(lambda data, pts: None, "H264")
    limit: list[float | None] = [150_000.0]
    picture = ForwardedPicture(sender, "me", room, find, estimate=lambda: limit[0])  # type: ignore[arg-type]
    chosen = await picture.choose()
    assert chosen is not None and chosen.id == "cam~h264~t2" and sender.source is chosen
    limit[0] = None  # the limit is lifted: up only after the hold, so still the quarter
    assert (await picture.choose()).id == "cam~h264~t2"  # type: ignore[union-attr]
    asked.clear()
    vp8 = ForwardedPicture(VideoSender(lambda d, p: None, "VP8"), "me", room, find)  # type: ignore[arg-type]
    assert await vp8.choose() is None
    assert asked == ["cam"]  # no twin asked for
