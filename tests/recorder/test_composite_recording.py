"""The composite track without a server: a stand-in for the composed picture (a hub source of
synthetic H.264) and the room's mix (a tone through the recording's tap), with a real
VideoHub, RecorderService and writer threads; what the file holds, verify, export."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import av
import numpy as np

from mediacore.events import EventBus
from mediacore.participant import Participant
from mediacore.room import Room, RoomSettings
from mediacore.server.recordcomposite import RecordingComposite
from mediacore.videohub import VideoHub, VideoSource
from mixer.audiomixer import AudioMixer
from recorder.live import LiveRecording
from recorder.manifest import write_manifest
from recorder.recovery import recover_recording
from recorder.service import RecorderService
from recorder.site import LocalSite
from recorder.trackkinds import is_video_track
from recorder.verify import verify_recording
from recorder.video import AAC_FRAME, VIDEO_CLOCK, VideoTrackWriter, probe_video
from recorder.videoexport import export_video_slice
from tests.mixer.test_audiomixer import MemoryEndpoint
from tests.recorder.test_video_recording import encode
from tests.recorder.test_video_recording_glue import push

TONE_HZ = 700


def tone_ticks(rate: int, ticks: int, ptime: int = 20) -> list[np.ndarray]:
    samples = rate * ptime // 1000
    t = np.arange(ticks * samples) / rate
    wave = (0.3 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
    return [wave[i * samples : (i + 1) * samples] for i in range(ticks)]


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def test_only_audio_and_video_tracks_are_told_apart_by_kind() -> None:
    assert is_video_track({"kind": "video"}) and is_video_track({"kind": "composite"})
    assert not is_video_track({"kind": "mix"}) and not is_video_track({"kind": "participant"})
    assert not is_video_track(None) and not is_video_track("composite")


async def test_a_recorded_room_with_a_camera_gets_the_picture_with_the_mix(
    tmp_path: Path,
) -> None:
    bus = EventBus()
    room = Room(RoomSettings("r", video={}), bus, make_mixer=AudioMixer)
    site = LocalSite(lambda name: room if name == "r" else None)
    recorder = RecorderService(tmp_path, bus, site)
    await recorder.start()
    hub = VideoHub()
    picture = hub.register_source(VideoSource("composed-r", "H264", room="r"))
    asked: list[str] = []

    async def find(name: str) -> VideoSource | None:
        asked.append(name)
        return picture

    glue = RecordingComposite(recorder, hub, find)
    await glue.start()
    try:
        await recorder.start_recording("r", "test")
        (live,) = recorder.live_recordings()
        await asyncio.sleep(0.6)
        assert asked == [] and not picture.watched  # no camera: nothing to compose
        camera = Participant(name="drone 1", endpoint=MemoryEndpoint(None))
        room.add(camera)
        hub.register_source(VideoSource(camera.id, "H264", participant_id=camera.id))
        room.change(video=None)  # a voice room with a camera: not a video conference
        await asyncio.sleep(0.6)
        assert asked == []
        room.change(video={})
        await asyncio.sleep(0.6)
        assert asked == ["r"] and picture.watched  # the recording is a viewer
        assert picture.keyframe_requests == 1
        frames = encode("libx264", 3.0)
        push(picture, frames[:1])  # the keyframe: from here on the mix goes in beside it
        for tick, pcm in enumerate(tone_ticks(room.settings.rate, 150), start=1):
            live.on_tick(tick, tick * 0.02, [], {}, pcm)
        push(picture, frames[1:])
        manifest = await recorder.stop_room("r")
        await asyncio.sleep(0.6)
        assert not picture.watched  # released with the stop
    finally:
        await glue.stop()
        await recorder.stop()
    (composite,) = [t for t in manifest["tracks"] if t["kind"] == "composite"]
    assert composite["id"] == "composite" and composite["file"] == "composite.mp4"
    assert composite["source"] == "composed-r" and composite["participant"] is None
    assert composite["audio"] == {
        "codec": "aac", "rate": room.settings.rate, "of": "mix", "ticks_dropped": 0
    }  # fmt: skip
    assert composite["frames"] == 75 and composite["segments"]
    directory = tmp_path / "recordings" / manifest["id"]
    assert verify_recording(directory).ok
    path = directory / composite["file"]
    assert probe_video(path)["frames"] == 75
    with av.open(str(path)) as container:
        (audio,) = container.streams.audio
        assert audio.codec_context.name == "aac" and audio.sample_rate == room.settings.rate
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert len(pcm) >= 2.5 * room.settings.rate
    assert abs(dominant_hz(pcm[4096:], room.settings.rate) - TONE_HZ) < 10
    out = tmp_path / "slice.mp4"
    began = datetime.fromisoformat(composite["started_at"])
    result = export_video_slice(
        directory, manifest, start=began, end=began + timedelta(seconds=2), track="composite",
        out=out,
    )  # fmt: skip
    assert result.tracks == ("composite", "mix")
    with av.open(str(out)) as container:
        assert sorted(s.codec_context.name for s in container.streams) == ["h264", "opus"]


async def test_a_picture_not_to_be_had_is_asked_for_again_later(tmp_path: Path) -> None:
    bus = EventBus()
    room = Room(RoomSettings("r", video={}), bus, make_mixer=AudioMixer)
    hub = VideoHub()
    camera = Participant(name="cam", endpoint=MemoryEndpoint(None))
    room.add(camera)
    hub.register_source(VideoSource(camera.id, "H264", participant_id=camera.id))

    class Recorder:
        def __init__(self, live: LiveRecording) -> None:
            self.live = live

        def live_recordings(self) -> list[LiveRecording]:
            return [self.live]

    asked: list[float] = []

    async def find(name: str) -> VideoSource | None:
        asked.append(asyncio.get_running_loop().time())
        return None  # the picture's process did not start

    with ThreadPoolExecutor(max_workers=1) as executor:
        live = LiveRecording("rec-c", room, tmp_path / "rec-c", executor, "t", lambda *a: None)
        live.start()
        glue = RecordingComposite(Recorder(live), hub, find, retry_after=0.3)
        glue.reconcile()
        await asyncio.sleep(0)
        glue.reconcile()  # asked already, not yet due again
        await asyncio.sleep(0.35)
        glue.reconcile()
        await asyncio.sleep(0)
        await glue.stop()
        await live.stop()
    assert len(asked) == 2 and live.video == {}


def test_a_composite_track_cut_short_by_a_crash_is_recovered_and_verifies(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "rec-c"
    directory.mkdir()
    path = directory / "composite.mp4"
    writer = VideoTrackWriter(path, "H264", "rec-c", audio_rate=16000)
    tone = np.concatenate(tone_ticks(16000, 150))
    for index, frame in enumerate(encode("libx264", 3.0)[:60]):
        writer.write(*frame)
        writer.write_audio(tone[index * 640 : (index + 1) * 640])  # 40 ms a frame
    assert len(writer.entries) >= 1  # the rest is still in the muxer: the crash loses it
    writer.abandon()
    at = "2026-11-24T10:00:00.000Z"
    line = {"id": "composite", "kind": "composite", "file": path.name, "rate": VIDEO_CLOCK,
            "participant": None, "codec": "H264", "started_at": at,
            "audio": {"codec": "aac", "rate": 16000, "of": "mix"}}  # fmt: skip
    (directory / "tracks.jsonl").write_text(json.dumps(line) + "\n")
    manifest = {"format": "mediacore-recording/1", "id": "rec-c", "room": "r",
                "state": "recording", "started_at": at, "tracks": []}  # fmt: skip
    write_manifest(directory, manifest)
    report = recover_recording(directory)
    assert report.ok, report.problems
    recovered = json.loads((directory / "manifest.json").read_text())
    (track,) = recovered["tracks"]
    assert track["kind"] == "composite" and track["audio"]["of"] == "mix"
    assert track["frames"] >= 25 and track["data_bytes"] == writer.data_bytes


def test_audio_lost_on_the_way_becomes_silence_keeping_the_sound_in_step(tmp_path: Path) -> None:
    writer = VideoTrackWriter(tmp_path / "composite.mp4", "H264", "rec-c", audio_rate=16000)
    tone = np.concatenate(tone_ticks(16000, 50))  # 1 s
    writer.write_audio(tone[:320], 0)  # before the first keyframe: not kept
    frames = encode("libx264", 2.0)
    writer.write(*frames[0])
    writer.write_audio(tone[:8000], 0)
    writer.write_audio(tone[8000:], 16000)  # half a second lost in between
    for frame in frames[1:]:
        writer.write(*frame)
    writer.close()
    with av.open(str(tmp_path / "composite.mp4")) as container:
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert len(pcm) >= 24000 - AAC_FRAME
    loud = np.abs(pcm) > 0.05
    # the tone, then silence where audio was lost, then the tone again, each where it was
    assert loud[4000:7000].mean() > 0.3 and not loud[9500:15500].any()
    assert loud[17500:22000].mean() > 0.3
