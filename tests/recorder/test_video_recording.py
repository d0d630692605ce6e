"""Video tracks without a server: synthetic H.264 (PyAV's libx264) and VP8 (libvpx) frames
remuxed into keyframe-aligned, chained segments; verify and recovery over them."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from mediacore.events import EventBus
from mediacore.room import Room, RoomSettings
from mixer.audiomixer import AudioMixer
from recorder.chain import SegmentEntry, genesis, link_digest
from recorder.chainedfile import journal_path
from recorder.export import ExportError
from recorder.live import LiveRecording
from recorder.manifest import write_manifest
from recorder.recovery import recover_recording
from recorder.verify import verify_recording
from recorder.video import VIDEO_CLOCK, VideoTrackWriter, probe_video
from recorder.videoexport import export_video_slice
from recorder.videolive import LiveVideoTrack

FPS = 25
SIZE = (320, 240)
RED = (220, 20, 20)
Frame = tuple[bytes, int, bool]  # data, 90 kHz pts, keyframe


def encode(codec: str, seconds: float, colour: tuple[int, int, int] = RED) -> list[Frame]:
    """Frames of a plain colour, a keyframe every second, as a camera or browser sends them:
    H.264 as Annex B access units with the parameter sets before every IDR."""
    context = av.CodecContext.create(codec, "w")
    context.width, context.height = SIZE  # type: ignore[attr-defined]
    context.pix_fmt = "yuv420p"  # type: ignore[attr-defined]
    context.time_base = Fraction(1, FPS)
    context.framerate = FPS  # type: ignore[attr-defined]
    context.gop_size = FPS  # type: ignore[attr-defined]
    if codec == "libx264":
        context.options = {"preset": "ultrafast", "tune": "zerolatency",
                           "x264-params": "repeat-headers=1:annexb=1"}  # fmt: skip
    elif codec == "libx265":
        context.options = {"preset": "ultrafast",
                           "x265-params": "repeat-headers=1:bframes=0:log-level=error"}  # fmt: skip
    else:
        context.options = {"deadline": "realtime"}
    image = np.full((SIZE[1], SIZE[0], 3), colour, np.uint8)
    frames: list[Frame] = []
    for index in range(round(seconds * FPS)):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        packets = context.encode(frame)  # type: ignore[attr-defined]
        frames += [(bytes(p), int(p.pts) * VIDEO_CLOCK // FPS, p.is_keyframe) for p in packets]
    flushed = context.encode(None)  # type: ignore[attr-defined]
    frames += [(bytes(p), int(p.pts) * VIDEO_CLOCK // FPS, p.is_keyframe) for p in flushed]
    return frames


def nal_units(data: bytes, length_prefixed: bool) -> list[bytes]:
    """The NAL units of an Annex B access unit or of an MP4 (4-byte length) sample."""
    if not length_prefixed:
        return [unit.rstrip(b"\x00") for unit in data.split(b"\x00\x00\x01") if unit.strip(b"\0")]
    units, position = [], 0
    while position < len(data):
        size = int.from_bytes(data[position : position + 4], "big")
        units.append(data[position + 4 : position + 4 + size])
        position += 4 + size
    return units


def write_track(path: Path, codec: str, frames: list[Frame]) -> VideoTrackWriter:
    writer = VideoTrackWriter(path, codec, "rec-v")
    for frame in frames:
        writer.write(*frame)
    writer.close()
    return writer


def mean_colour(path: Path) -> tuple[float, float, float]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        rgb = frame.to_ndarray(format="rgb24")
    return tuple(float(v) for v in rgb.reshape(-1, 3).mean(axis=0))  # type: ignore[return-value]


def test_h264_is_remuxed_to_fragmented_mp4_with_the_very_same_nal_units(tmp_path: Path) -> None:
    frames = encode("libx264", 3.0)
    writer = write_track(tmp_path / "cam.mp4", "H264", frames)
    path = tmp_path / "cam.mp4"
    assert (writer.width, writer.height) == SIZE and writer.frames == len(frames) == 75
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", *SIZE)
        recorded = [bytes(p) for p in container.demux(stream) if p.size]
    assert len(recorded) == len(frames)
    # Not re-encoded: every sample holds the source's NAL units, byte for byte.
    for sample, (source, _, _) in zip(recorded, frames, strict=True):
        assert nal_units(sample, True) == nal_units(source, False)
    assert probe_video(path)["duration_ms"] == 3000
    red, green, blue = mean_colour(path)
    assert red > 180 and green < 60 and blue < 60


def test_segments_start_at_keyframes_and_are_chained_from_the_recording_id(
    tmp_path: Path,
) -> None:
    writer = write_track(tmp_path / "cam.mp4", "H264", encode("libx264", 3.0))
    data = (tmp_path / "cam.mp4").read_bytes()
    entries = writer.entries
    # the init segment with the first GOP, then one fragment per second of video
    assert len(entries) == 3 and entries[-1].end == len(data) == writer.data_bytes
    assert data[4:8] == b"ftyp"
    for entry in entries[1:]:
        assert data[entry.offset + 4 : entry.offset + 8] == b"moof"
    chain = genesis("rec-v")
    for index, entry in enumerate(entries):
        segment = data[entry.offset : entry.end]
        assert entry.index == index and entry.sha256 == hashlib.sha256(segment).hexdigest()
        chain = link_digest(chain, entry.sha256)
        assert entry.chain == chain
    journal = journal_path(tmp_path / "cam.mp4").read_text().splitlines()
    assert [SegmentEntry.from_json(json.loads(line)) for line in journal] == list(entries)


def test_vp8_goes_to_webm_one_cluster_per_segment(tmp_path: Path) -> None:
    frames = encode("libvpx", 3.0, (20, 20, 220))
    writer = write_track(tmp_path / "cam.webm", "VP8", frames)
    data = (tmp_path / "cam.webm").read_bytes()
    assert data[:4] == bytes.fromhex("1a45dfa3")  # EBML
    assert len(writer.entries) >= 2
    for entry in writer.entries[1:]:
        assert data[entry.offset : entry.offset + 4] == bytes.fromhex("1f43b675")  # Cluster
    found = probe_video(tmp_path / "cam.webm")
    assert found["codec"] == "vp8" and (found["width"], found["height"]) == SIZE
    assert found["frames"] == len(frames)
    assert writer.duration_ms == found["duration_ms"] == 3000
    red, green, blue = mean_colour(tmp_path / "cam.webm")
    assert blue > 180 and red < 60


@pytest.mark.skipif("libx265" not in av.codecs_available, reason="no libx265 in this PyAV")
def test_h265_goes_to_mp4_tagged_hev1_keeping_every_nal_unit(tmp_path: Path) -> None:
    frames = encode("libx265", 2.0)
    writer = write_track(tmp_path / "cam.mp4", "H265", frames)
    assert (writer.width, writer.height) == SIZE and writer.frames == len(frames)
    with av.open(str(tmp_path / "cam.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_tag) == ("hevc", "hev1")
        recorded = [bytes(p) for p in container.demux(stream) if p.size]
    for sample, (source, _, _) in zip(recorded, frames, strict=True):
        assert nal_units(sample, True) == nal_units(source, False)


def test_frames_before_the_first_keyframe_are_skipped(tmp_path: Path) -> None:
    frames = encode("libx264", 2.0)
    writer = write_track(tmp_path / "cam.mp4", "H264", frames[5:])  # starts mid-GOP
    assert writer.frames_skipped == FPS - 5 and writer.frames == FPS
    assert probe_video(tmp_path / "cam.mp4")["frames"] == FPS


def record(tmp_path: Path, frames: list[Frame], executor: ThreadPoolExecutor) -> LiveRecording:
    room = Room(RoomSettings("r"), EventBus(), make_mixer=AudioMixer)
    live = LiveRecording("rec-v", room, tmp_path / "rec-v", executor, "test", lambda *a: None)
    live.start()
    requests: list[int] = []
    track = live.add_video("cam/1", "cam", "H264", lambda: requests.append(1))
    assert track is not None and requests == [1]  # a keyframe is asked for at once
    for frame in frames:
        track.offer(*frame)
    return live


async def test_a_recording_lists_and_verifies_its_video_track_and_detects_a_changed_byte(
    tmp_path: Path,
) -> None:
    with ThreadPoolExecutor(max_workers=1) as executor:
        live = record(tmp_path, encode("libx264", 3.0), executor)
        manifest = await live.stop()
    video = next(t for t in manifest["tracks"] if t["kind"] == "video")
    assert video["id"] == "video-cam_1" and video["file"] == "video-cam_1.mp4"
    assert (video["codec"], video["width"], video["height"]) == ("H264", *SIZE)
    assert video["participant"] == "cam" and video["source"] == "cam/1"
    assert video["content_type"] == "video/mp4" and video["frames"] == 75
    assert video["duration_ms"] == 3000 and video["started_at"].endswith("Z")
    assert manifest["hashes"]["tracks"][video["id"]] == video["segments"][-1]["chain"]
    directory = tmp_path / "rec-v"
    assert verify_recording(directory).ok
    path = directory / video["file"]
    data = bytearray(path.read_bytes())
    position = video["segments"][1]["offset"] + 100
    data[position] ^= 0x01
    path.write_bytes(bytes(data))
    report = verify_recording(directory)
    assert not report.ok
    assert [(p["track"], p["segment"], p["problem"]) for p in report.problems] == [
        (video["id"], 1, "segment-hash")
    ]


def test_recovery_hashes_a_truncated_last_segment_like_audio(tmp_path: Path) -> None:
    directory = tmp_path / "rec-v"
    directory.mkdir()
    frames = encode("libx264", 3.0)
    path = directory / "video-cam.mp4"
    writer = VideoTrackWriter(path, "H264", "rec-v")
    for frame in frames[:60]:
        writer.write(*frame)
    journalled = writer.data_bytes  # two segments; the third GOP is still in the muxer
    assert len(writer.entries) == 2
    whole = write_track(tmp_path / "whole.mp4", "H264", frames)
    tail = (tmp_path / "whole.mp4").read_bytes()[journalled : journalled + 700]
    with path.open("ab") as file:  # the crash: half a fragment reached the disk
        file.write(tail)
    at = "2026-11-24T10:00:00.000Z"
    line = {"id": "video-cam", "kind": "video", "file": path.name, "rate": VIDEO_CLOCK,
            "participant": "cam", "codec": "H264", "started_at": at}  # fmt: skip
    (directory / "tracks.jsonl").write_text(json.dumps(line) + "\n")
    manifest = {"format": "mediacore-recording/1", "id": "rec-v", "room": "r",
                "state": "recording", "started_at": at, "tracks": []}  # fmt: skip
    write_manifest(directory, manifest)
    report = recover_recording(directory)
    assert report.ok, report.problems
    recovered = json.loads((directory / "manifest.json").read_text())
    track = recovered["tracks"][0]
    assert recovered["state"] == "recovered" and track["id"] == "video-cam"
    assert len(track["segments"]) == 3 and track["data_bytes"] == journalled + 700
    assert track["segments"][2]["length"] == 700
    # the two whole GOPs play, and the frames of the torn one whose bytes arrived
    assert 50 <= track["frames"] < 75 and track["duration_ms"] == track["frames"] * 40
    record_ = next(r for r in recovered["recovery"] if r["track"] == "video-cam")
    assert record_["journal_segments"] == 2 and record_["tail_bytes"] == 700
    assert whole.frames == 75


def test_a_slow_disk_drops_frames_with_a_count_and_never_blocks_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    original = VideoTrackWriter.write

    def slow(self: VideoTrackWriter, *args: Any) -> Any:
        gate.wait(10)
        return original(self, *args)

    monkeypatch.setattr(VideoTrackWriter, "write", slow)
    requests: list[int] = []
    track = LiveVideoTrack(
        track_id="video-cam", directory=tmp_path, recording_id="rec-v", codec="H264",
        participant="cam", source="cam", name="cam", request_keyframe=lambda: requests.append(1),
        queue_frames=10,
    )  # fmt: skip
    track.start()
    frames = encode("libx264", 3.0)
    began = time.perf_counter()
    for frame in frames:
        track.offer(*frame)
    assert time.perf_counter() - began < 0.05  # 75 frames: queue copies only
    assert track.frames_dropped > 0 and len(requests) >= 2  # at start, then after the drop
    gate.set()
    track.close()
    described = track.describe()
    assert described["state"] == "ended" and described["frames_dropped"] == track.frames_dropped
    # after the drop it waited for the next keyframe: what was written decodes
    assert described["frames"] + track.frames_dropped + track.frames_waiting == len(frames)
    assert probe_video(tmp_path / "video-cam.mp4")["frames"] == described["frames"]


async def test_a_video_slice_is_exported_from_the_keyframe_before_it_with_the_mix(
    tmp_path: Path,
) -> None:
    with ThreadPoolExecutor(max_workers=1) as executor:
        live = record(tmp_path, encode("libx264", 3.0), executor)
        for tick in range(1, 151):  # 3 s of the mix (silence) beside the video
            live.on_tick(tick, tick * 0.02, [], {}, None)
        manifest = await live.stop()
    video = next(t for t in manifest["tracks"] if t["kind"] == "video")
    began = datetime.fromisoformat(video["started_at"])
    out = tmp_path / "slice.mp4"
    result = export_video_slice(
        tmp_path / "rec-v", manifest, start=began + timedelta(seconds=1.2),
        end=began + timedelta(seconds=2.5), track=video["id"], out=out,
    )  # fmt: skip
    # cut at the keyframe of second 1: frames 25 to 62, copied as they were
    assert result.tracks == (video["id"], "mix") and result.duration_s == pytest.approx(1.52)
    source = encode("libx264", 3.0)[25:63]
    with av.open(str(out)) as container:
        kinds = sorted(s.codec_context.name for s in container.streams)
        packets = [bytes(p) for p in container.demux(video=0) if p.size]
    assert kinds == ["h264", "opus"]
    assert [nal_units(p, True) for p in packets] == [nal_units(f[0], False) for f in source]
    assert not list(tmp_path.glob("slice.mp4.*"))  # no partial or audio file left behind


def test_a_video_slice_without_video_in_it_is_refused(tmp_path: Path) -> None:
    writer = write_track(tmp_path / "video-cam.mp4", "H264", encode("libx264", 1.0))
    at = "2026-11-24T10:00:00.000+00:00"
    manifest = {"id": "rec-v", "state": "stopped", "tracks": [
        {"id": "video-cam", "kind": "video", "codec": "H264", "file": "video-cam.mp4",
         "started_at": at, "data_bytes": writer.data_bytes}]}  # fmt: skip
    began = datetime.fromisoformat(at)
    with pytest.raises(ExportError, match="no video"):
        export_video_slice(
            tmp_path, manifest, start=began + timedelta(seconds=5),
            end=began + timedelta(seconds=6), track="video-cam", out=tmp_path / "x.mp4",
        )  # fmt: skip
    with pytest.raises(ExportError, match="no video track"):
        export_video_slice(tmp_path, manifest, start=began, end=began + timedelta(seconds=1),
                           track="mix", out=tmp_path / "x.mp4")  # fmt: skip
