"""A dial-out with video (cascade to another MCU): our offer's video line, the far end's answer
taken or refused, and keyframe requests from the far end reaching the composed picture."""

from __future__ import annotations

import asyncio

from mediacore.legvideo import LegVideo
from mediacore.ports import PortPool
from mediacore.rtcp import serialize_compound
from mediacore.rtcpfeedback import pli_packet
from mediacore.sdp import SessionDescription
from mediacore.videohub import VideoHub, VideoSource
from mediacore.videooffer import answered_video
from mediacore.videosdp import answer_media, negotiate_video
from mediacore.videostream import LocalVideoPlace
from tests.core.test_legvideo import Member, Room, answer_to

AUDIO_OFFER = "\r\n".join(
    ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
     "m=audio 30000 RTP/AVP 0", "a=sendrecv", ""]
)  # fmt: skip


def far_answer(ours: SessionDescription, port: int) -> SessionDescription:
    """What another MCU answers: audio, and our video line answered on `port`."""
    answer = answer_to(ours)
    index = next(i for i, m in enumerate(ours.media) if m.kind == "video")
    if port:
        answer.media[index] = answer_media(negotiate_video(ours, index), port)
    return answer


async def test_a_dialled_leg_offers_video_and_takes_the_answer() -> None:
    hub = VideoHub()
    slot = LegVideo(PortPool(41200, 41300), LocalVideoPlace(hub)).slot("127.0.0.1", nat=False)
    slot.joined(Room({"far": 1}), Member("far"))  # type: ignore[arg-type]
    offer = SessionDescription.parse(AUDIO_OFFER)
    await slot.offer_into(offer)
    stream = slot.stream
    assert stream is not None and [m.kind for m in offer.media] == ["audio", "video"]
    line = offer.media[1]
    assert line.port == stream.local_port and line.direction == "sendrecv"
    assert line.formats == ["96"] and "packetization-mode=1" in str(line.attribute("fmtp"))
    assert {s.id for s in hub.all()} == set()  # nothing received before the answer

    answer = far_answer(offer, 7000)
    assert answered_video(answer, 1).remote_port == 7000
    await slot.answered(answer)
    assert slot.stream is stream and stream.session.remote == ("127.0.0.1", 7000)
    assert stream.negotiation.direction == "sendrecv" and stream.negotiation.sends
    assert {s.id for s in hub.all()} == {"far"}  # its picture is a source of the room
    again = slot.offer("sendonly")  # a later hold keeps the line, our side only sending
    assert again is not None and again[0] == 1 and again[1].direction == "sendonly"
    await slot.close()


async def test_a_far_end_that_refuses_video_keeps_the_call_without_it() -> None:
    slot = LegVideo(PortPool(41300, 41400), LocalVideoPlace(VideoHub())).slot("127.0.0.1", False)
    offer = SessionDescription.parse(AUDIO_OFFER)
    await slot.offer_into(offer)
    await slot.answered(far_answer(offer, 0))
    assert slot.stream is None and "port 0" in str(slot.refused)
    refused = slot.offer("sendrecv")
    assert refused is not None and refused[1].port == 0  # later offers keep it, refused


async def test_the_far_ends_keyframe_request_reaches_the_composed_picture() -> None:
    hub = VideoHub()
    asked: list[str] = []

    async def composer(
        room: str, participant: str, width: int | None, height: int | None, bitrate: float | None
    ) -> str:
        source_id = f"composed-{room}-{participant}"
        if source_id not in {s.id for s in hub.all()}:
            hub.register_source(
                VideoSource(source_id, "H264", keyframe_requester=lambda: asked.append(source_id))
            )
        return source_id

    slot = LegVideo(PortPool(41400, 41500), LocalVideoPlace(hub, composer)).slot("127.0.0.1", False)
    slot.joined(Room({"far": 1}), Member("far"))  # type: ignore[arg-type]
    offer = SessionDescription.parse(AUDIO_OFFER)
    await slot.offer_into(offer)
    await slot.answered(far_answer(offer, 7002))
    stream = slot.stream
    assert stream is not None
    await asyncio.sleep(0.05)
    assert stream.sender.source is not None and stream.sender.source.id == "composed-r-far"
    assert stream.describe()["picture"] == "composed"
    assert asked == ["composed-r-far"]  # following asks for a keyframe
    await asyncio.sleep(0.5)  # the hub lets one request through each 0.5 s
    pli = serialize_compound([pli_packet(9, stream.session.ssrc)])
    stream.datagram_received(pli, ("127.0.0.1", 7003))
    assert asked == ["composed-r-far"] * 2
    await slot.close()
