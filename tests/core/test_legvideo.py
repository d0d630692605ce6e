"""A leg's video slot across offers: the first offer with video binds a stream, a re-INVITE
keeps it, port 0 closes it, and our own later offers keep the video line (RFC 3264 section 8)."""

from __future__ import annotations

from mediacore.codecs.base import CodecInfo
from mediacore.legvideo import LegVideo, offer_line, video_line
from mediacore.offeranswer import answer_audio
from mediacore.ports import PortPool
from mediacore.sdp import SessionDescription
from mediacore.videohub import VideoHub
from mediacore.videostream import LocalVideoPlace

PCMU = CodecInfo("PCMU", 8000, 8000, 1, 0)


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
