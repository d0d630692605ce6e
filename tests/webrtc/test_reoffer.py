"""The server's re-offer (adding a video for a subscriber) against offers captured from Chromium
156: it keeps the payload types and header extension ids the browser chose, and numbers the new
section so that no number means two things in the BUNDLE group. Chromium refuses the offer
otherwise ("RTP extension ID reassignment not supported", "codec collision for payload_type");
tests/browser/test_console_media.py shows a real one accepting it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiortc import VideoStreamTrack
from aiortc import sdp as aiortc_sdp

from webrtc.peer import WebRtcLeg
from webrtc.settings import WebRtcSettings

CAPTURES = Path(__file__).parent / "captures"


@pytest.fixture
async def leg() -> AsyncIterator[WebRtcLeg]:
    created = WebRtcLeg(WebRtcSettings(), room_rate=48000, tick_ms=20, accept_video=True)
    yield created
    await created.close("test")


def sections(sdp: str) -> list[aiortc_sdp.MediaDescription]:
    return aiortc_sdp.SessionDescription.parse(sdp).media


def numbering(media: aiortc_sdp.MediaDescription) -> tuple[list[int], dict[str, int]]:
    return list(media.fmt), {e.uri: e.id for e in media.rtp.headerExtensions}


def assert_one_meaning_per_number(offer: str) -> None:
    """Across the group, an extension id names one URI and a payload type one codec."""
    uris: dict[int, str] = {}
    codecs: dict[int, tuple[str, int, str]] = {}
    for media in sections(offer):
        for extension in media.rtp.headerExtensions:
            assert uris.setdefault(extension.id, extension.uri) == extension.uri, extension
        for codec in media.rtp.codecs:
            meaning = (codec.mimeType.lower(), codec.clockRate, str(sorted(codec.parameters)))
            assert codecs.setdefault(codec.payloadType, meaning) == meaning, codec


async def test_adding_a_video_keeps_the_audio_numbers_chromium_chose(leg: WebRtcLeg) -> None:
    offer = (CAPTURES / "chromium-offer-audio.sdp").read_text()
    answer = sections(await leg.answer(offer))
    assert [m.kind for m in answer] == ["audio"]
    leg.add_video_sender(VideoStreamTrack())
    audio, video = sections(await leg.renegotiate())

    assert numbering(audio) == numbering(answer[0])
    assert audio.fmt == [111]  # Chromium's Opus, not aiortc's default 96
    ids = numbering(audio)[1]
    assert (ids["urn:ietf:params:rtp-hdrext:ssrc-audio-level"], ids[MID]) == (1, 4)
    assert {e.uri: e.id for e in video.rtp.headerExtensions}[MID] == 4
    assert_one_meaning_per_number(leg.pc.localDescription.sdp)


async def test_a_camera_publisher_watching_two_sources_gets_no_number_twice(
    leg: WebRtcLeg,
) -> None:
    offer = (CAPTURES / "chromium-offer-audio-video.sdp").read_text()
    answered = sections(await leg.answer(offer))
    assert [m.kind for m in answered] == ["audio", "video"]
    leg.add_video_sender(VideoStreamTrack())  # goes back on the camera's own section
    leg.add_video_sender(VideoStreamTrack())  # needs a new one
    audio, camera, second = sections(await leg.renegotiate())

    assert numbering(audio) == numbering(answered[0])
    assert numbering(camera) == numbering(answered[1])
    assert camera.direction == "sendrecv" and second.direction == "sendonly"
    vp8 = next(c for c in camera.rtp.codecs if c.name == "VP8")
    new_vp8 = next(c for c in second.rtp.codecs if c.name == "VP8")
    # aiortc's default VP8 is 97, which is Chromium's RTX for 96 in the camera section.
    assert new_vp8.payloadType == vp8.payloadType == 96
    assert_one_meaning_per_number(leg.pc.localDescription.sdp)


MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
