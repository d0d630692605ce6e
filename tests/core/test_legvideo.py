"""A leg's video slot across offers: the first offer with video binds a stream, a re-INVITE
keeps it, port 0 closes it, and our own later offers keep the video line (RFC 3264 section 8)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from mediacore.codecs.base import CodecInfo
from mediacore.legvideo import LegVideo, offer_line, video_line
from mediacore.offeranswer import answer_audio
from mediacore.ports import PortPool
from mediacore.rtcp import serialize_compound
from mediacore.rtcpfeedback import pli_packet
from mediacore.sdp import SessionDescription
from mediacore.videohub import VideoHub, VideoSource
from mediacore.videosdp import negotiate_video
from mediacore.videostream import LocalVideoPlace, VideoStream

PCMU = CodecInfo("PCMU", 8000, 8000, 1, 0)
PEER = ("127.0.0.1", 5000)


@dataclass
class Floor:
    holder: str | None = None


@dataclass
class Room:
    participants: dict[str, int]
    floor: Floor = field(default_factory=Floor)
    name: str = "r"


@dataclass
class Member:
    id: str


def offer(video_port: int, direction: str = "sendrecv", version: int = 1) -> SessionDescription:
    return SessionDescription.parse(
        "\r\n".join(
            [
                "v=0",
                f"o=- 1 {version} IN IP4 127.0.0.1",
                "s=-",
                "c=IN IP4 127.0.0.1",
                "t=0 0",
                f"m=video {video_port} RTP/AVP 96",  # video first: the order is kept
                "a=rtpmap:96 H264/90000",
                "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1",
                f"a={direction}",
                "m=audio 4000 RTP/AVP 0",
                "",
            ]
        )
    )


def answer_to(sdp: SessionDescription) -> SessionDescription:
    answer, _ = answer_audio(sdp, [PCMU], "127.0.0.1", 30000, session_id=1)
    return answer


async def test_video_is_added_kept_removed_and_re_offered() -> None:
    hub = VideoHub()
    slot = LegVideo(PortPool(41000, 41100), LocalVideoPlace(hub)).slot("127.0.0.1", nat=False)

    first = offer(0)
    answer = answer_to(first)
    await slot.answer(first, answer)
    assert slot.stream is None and answer.media[0].port == 0
    assert slot.offer("sendrecv") == (0, offer_line(answer.media[0], "sendrecv"))
    assert slot.offer("sendonly")[1].port == 0  # type: ignore[index]

    added = offer(5000, version=2)
    answer = answer_to(added)
    await slot.answer(added, answer)
    stream = slot.stream
    assert stream is not None and answer.media[0].port == stream.local_port
    assert answer.media[1].kind == "audio" and answer.media[1].port == 30000

    moved = offer(5002, direction="sendonly", version=3)
    answer = answer_to(moved)
    await slot.answer(moved, answer)
    assert slot.stream is stream and stream.session.remote == ("127.0.0.1", 5002)
    assert answer.media[0].port == stream.local_port and answer.media[0].direction == "recvonly"

    held = slot.offer("sendonly")
    assert held is not None and held[0] == 0
    assert held[1].port == stream.local_port and held[1].direction == "inactive"  # we only receive
    resumed = slot.offer("sendrecv")
    assert resumed is not None and resumed[1].direction == "recvonly"

    removed = offer(0, version=4)
    answer = answer_to(removed)
    await slot.answer(removed, answer)
    assert slot.stream is None and answer.media[0].port == 0
    assert video_line(answer) == (0, answer.media[0])
    await slot.close()


async def test_keyframe_requests_cross_the_leg_both_ways() -> None:
    """A PLI from the terminal asks the source it is sent; a subscriber of the terminal's
    camera makes the leg send a PLI to the terminal."""
    hub = VideoHub()
    asked: list[int] = []
    camera = VideoSource(
        "cam", "H264", participant_id="cam", keyframe_requester=lambda: asked.append(1)
    )
    hub.register_source(camera)
    video = negotiate_video(offer(5000), 0)
    stream = VideoStream(video, LocalVideoPlace(hub))
    room = Room({"cam": 1, "me": 2})
    stream.joined(room, Member("me"))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert stream.sender.source is camera and asked == [1]  # following asks for a keyframe
    await asyncio.sleep(0.5)  # the hub lets one request through each 0.5 s
    stream.datagram_received(serialize_compound([pli_packet(9, stream.session.ssrc)]), PEER)
    assert asked == [1, 1] and stream.session.keyframe_requests_received == 1

    hub.get("me").request_keyframe()  # a browser subscribing to the terminal's camera
    assert stream.session.keyframe_requests_sent == 1
    await stream.close()
    assert stream.source is None and "me" not in {s.id for s in hub.all()}
