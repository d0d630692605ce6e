"""H.265 field cameras: forwarded as received (Annex B, parameter sets on keyframes) to walls and
recorders, given to WebRTC subscribers as an H.264 twin that every such subscriber shares (one
transcode); other codecs fail for good."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from ingest.annexb import START_CODE
from ingest.annexb_hevc import IRAP, PPS, SPS, VPS, nal_type
from ingest.puller import PullError, SourceReader, pull_options_for_file
from ingest.source import FieldSource, FieldSourceSettings
from mediacore.events import Event
from mediacore.participant import Participant
from mediacore.videohub import CodecMismatchError
from tests.e2e.test_conference_video import Picture, until
from tests.ingest.test_annexb_hevc import encode_hevc_mp4
from tests.ingest.test_source_audio import rtp_camera, write_black_video
from tests.server.test_api import SDP, Api, make_config, running
from tests.waiting import wait_for

RED = (255, 0, 0)
H265 = ["-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency"]
H265 += ["-x265-params", "keyint=25:min-keyint=25:scenecut=0:log-level=error"]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running(make_config(tmp_path)) as started:
        yield started


def units_of(annexb: bytes) -> list[bytes]:
    assert annexb.startswith(START_CODE)
    return annexb[len(START_CODE) :].split(START_CODE)


@pytest.mark.slow
async def whep(api: Api, source: str) -> tuple[RTCPeerConnection, list[Picture], Any]:
    player = RTCPeerConnection()
    pictures: list[Picture] = []
    player.addTransceiver("audio", direction="recvonly")
    player.addTransceiver("video", direction="recvonly")
    player.on("track", lambda t: pictures.append(Picture(t)) if t.kind == "video" else None)
    await player.setLocalDescription(await player.createOffer())
    answer = await api.admin(
        "POST",
        "/api/v1/rooms/command/whep",
        params={"video": source},
        content=player.localDescription.sdp,
        headers=SDP,
    )
    if answer.status_code == 201:
        await player.setRemoteDescription(RTCSessionDescription(answer.text, "answer"))
    return player, pictures, answer


@pytest.mark.slow
async def test_h265_rtp_camera_goes_live_as_h265_for_walls_and_webrtc_gets_an_h264_twin(
    api: Api, tmp_path: Path
) -> None:
    events: list[Event] = []
    api.server.bus.listen(events.append)
    room = api.server.directory.get("command")
    hub = api.server.webrtc.video_hub
    assert hub is not None
    with rtp_camera(tmp_path / "camera.sdp", H265) as sdp:
        target = pull_options_for_file(str(sdp), read_timeout=3)
        source = FieldSource(str(sdp), target, hub, FieldSourceSettings(max_attempts=1))
        participant = room.add(Participant(name="drone h265", endpoint=source))
        assert source.video is not None
        tapped: list[tuple[bytes, bool]] = []
        source.video.add_tap(lambda packet, keyframe: tapped.append((bytes(packet), keyframe)))
        await wait_for(
            lambda: any(e.type == "source.state" and e.data["state"] == "live" for e in events),
            8,
        )
        await wait_for(lambda: sum(key for _, key in tapped) >= 2, 5)
        hub_entry = next(s for s in hub.sources() if s["id"] == participant.id)

        # a WHEP player asking for the H.265 camera (refused before) sees its red picture,
        # transcoded to H.264 in a video process; a second player shares that transcode
        first, seen, answer = await whep(api, participant.id)
        assert answer.status_code == 201, answer.text
        second, seen_too, answer_too = await whep(api, participant.id)
        assert answer_too.status_code == 201, answer_too.text
        try:
            await until(lambda: bool(seen) and bool(seen_too), 10, "video tracks")
            took = await until(lambda: seen[0].shows((160, 120, RED)), 20, "the twin (first)")
            await until(lambda: seen_too[0].shows((160, 120, RED)), 10, "the twin (second)")
            print(f"the transcoded picture arrived {took:.1f} s after the WHEP answer")
            transcodes = api.server.transcodes.statistics()
            listed = (await api.admin("GET", "/api/v1/rooms/command/sources")).json()
            metrics = (await api.admin("GET", "/metrics")).text
        finally:
            await first.close()
            await second.close()
        with pytest.raises(CodecMismatchError, match="H265"):
            await hub.subscribe(RTCPeerConnection(), participant.id)  # the hub never transcodes
    (entry,) = listed
    assert (entry["codec"], entry["state"]) == ("H265", "live")
    assert (entry["width"], entry["height"]) == (320, 240)
    assert entry["audio_codec"] is None  # a camera without audio stays out of the mix
    assert source.audio_input is None
    assert hub_entry["codec"] == "H265" and hub_entry["keyframes"] >= 2
    # one transcode, one encode (both players at the full tier), said in the listing
    assert transcodes == {"transcodes": 1, "encodes": 1, "started_total": 1}
    twin = f"{participant.id}~h264"
    assert entry["transcode"]["source"] == twin and entry["transcode"]["running"]
    assert entry["transcode"]["tiers"] == {"full": {"source": twin, "subscribers": 2}}
    assert (entry["transcode"]["width"], entry["transcode"]["height"]) == (320, 240)
    assert "mediacore_transcodes 1.0" in metrics

    # what a wall or recorder gets decodes from a keyframe on, with no other setup
    start = next(i for i, (_, key) in enumerate(tapped) if key)
    types = [nal_type(u) for u in units_of(tapped[start][0])]
    first_slice = next(i for i, t in enumerate(types) if t in IRAP)
    assert [t for t in types[:first_slice] if t in (VPS, SPS, PPS)] == [VPS, SPS, PPS]
    decoder = av.CodecContext.create("hevc", "r")
    pictures = []
    for data, _ in tapped[start:]:
        pictures += decoder.decode(av.Packet(data))
    assert len(pictures) >= len(tapped[start:]) - 5  # x265's reorder delay at the end
    assert (pictures[0].width, pictures[0].height) == (320, 240)


def test_hvcc_stream_leaves_the_reader_as_annexb_h265(tmp_path: Path) -> None:
    """The HVCC path (RTMP, MP4, Matroska): length prefixes off, hvcC parameter sets on."""
    path = tmp_path / "camera.mp4"
    path.write_bytes(encode_hevc_mp4(frames=30, gop=10))
    reader = SourceReader(pull_options_for_file(str(path)))
    opened: list[dict[str, Any]] = []
    frames: list[tuple[bytes, int | None, bool]] = []
    reader.run(opened.append, lambda d, p, k: frames.append((d, p, k)), lambda p, r: None)
    assert opened[0]["codec"] == "hevc" and (opened[0]["width"], opened[0]["height"]) == (160, 128)
    keyframes = [data for data, _, key in frames if key]
    assert len(keyframes) >= 2
    for data in keyframes:
        assert [nal_type(u) for u in units_of(data)][:3] == [VPS, SPS, PPS]
    pts = [p for _, p, _ in frames if p is not None]
    assert {b - a for a, b in zip(sorted(pts), sorted(pts)[1:], strict=False)} == {3600}


async def test_mjpeg_source_fails_for_good_with_a_clear_reason(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "camera.mkv"
    write_black_video(path, "mjpeg", "yuvj420p")
    with pytest.raises(PullError) as raised:
        SourceReader(pull_options_for_file(str(path))).run(
            lambda i: None, lambda d, p, k: None, lambda p, r: None
        )
    assert raised.value.permanent
    assert "mjpeg" in raised.value.reason and "H.264 or H.265" in raised.value.reason

    hub = api.server.webrtc.video_hub
    assert hub is not None
    source = FieldSource(str(path), pull_options_for_file(str(path)), hub)
    api.server.directory.get("command").add(Participant(name="old cam", endpoint=source))
    await wait_for(lambda: source.state == "failed", 5)
    assert source.reconnects == 0  # permanent: no retry
    assert "mjpeg" in source.reason


async def test_a_camera_that_reconnects_as_h265_ends_its_h264_subscribers(api: Api) -> None:
    """The codec is learned per connection: a camera reconfigured from H.264 to H.265 ends
    the WebRTC tracks negotiated for H.264, and later subscriptions are refused."""
    hub = api.server.webrtc.video_hub
    assert hub is not None
    settings = FieldSourceSettings(max_attempts=100, backoff_initial=30)
    url = "rtmp://127.0.0.1:1/live/none"  # never connects: the test plays the reader
    source = FieldSource(url, pull_options_for_file(url), hub, settings)
    participant = api.server.directory.get("command").add(Participant(name="cam", endpoint=source))
    assert source.video is not None and source.describe()["codec"] is None  # not known yet
    source._opened({"codec": "h264", "width": 320, "height": 240, "audio_codec": None})
    track = source.video.track()
    assert source.describe()["codec"] == "H264" and source.video.codec is not None
    source._opened({"codec": "hevc", "width": 320, "height": 240, "audio_codec": None})
    assert track.readyState == "ended"
    assert source.describe()["codec"] == "H265" and source.video.codec_name == "H265"
    with pytest.raises(CodecMismatchError):
        await hub.subscribe(RTCPeerConnection(), participant.id)
