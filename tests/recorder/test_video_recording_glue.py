"""The server's glue between the video hub and the recorder: which sources get a track, and
when their tracks end, with a real VideoHub, RecorderService and writer threads."""

from __future__ import annotations

import asyncio
from pathlib import Path

import av

from mediacore.events import EventBus
from mediacore.participant import Participant
from mediacore.room import Room, RoomSettings
from mediacore.server.recordvideo import RecordingVideo
from mediacore.videohub import TIME_BASE, VideoHub, VideoSource
from mixer.audiomixer import AudioMixer
from recorder.service import RecorderService
from recorder.site import LocalSite
from recorder.verify import verify_recording
from recorder.video import probe_video
from tests.mixer.test_audiomixer import MemoryEndpoint
from tests.recorder.test_video_recording import encode


def push(source: VideoSource, frames: list[tuple[bytes, int, bool]]) -> None:
    for data, pts, keyframe in frames:
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = TIME_BASE
        source.push(packet, keyframe)


async def test_a_source_of_a_recorded_room_gets_a_track_that_ends_when_it_leaves(
    tmp_path: Path,
) -> None:
    bus = EventBus()
    room = Room(RoomSettings("r"), bus, make_mixer=AudioMixer)
    site = LocalSite(lambda name: room if name == "r" else None)
    recorder = RecorderService(tmp_path, bus, site)
    await recorder.start()
    hub = VideoHub()
    glue = RecordingVideo(recorder, hub, bus)
    await glue.start()
    try:
        await recorder.start_recording("r", "test")
        (live,) = recorder.live_recordings()
        camera = Participant(name="drone 1", endpoint=MemoryEndpoint(None))
        room.add(camera)  # joins after the start
        source = hub.register_source(VideoSource(camera.id, "H264", participant_id=camera.id))
        outsider = hub.register_source(VideoSource("elsewhere", "H264", participant_id="x"))
        await asyncio.sleep(0.6)  # a reconcile round
        assert [t["source"] for t in glue.statistics()] == [camera.id]
        assert source.keyframe_requests == 1 and outsider.keyframe_requests == 0
        frames = encode("libx264", 2.0)
        push(source, frames[3:])  # mid-GOP first: waits for the keyframe of second 1
        push(outsider, frames)
        source.close()  # the camera leaves: its track ends, its file is finished
        await asyncio.sleep(0.6)
        assert glue.statistics() == []
        (track,) = live.video.values()
        track.close()
        assert track.state == "ended" and track.frames_waiting == 22
        manifest = await recorder.stop_room("r")
    finally:
        await glue.stop()
        await recorder.stop()
    (video,) = [t for t in manifest["tracks"] if t["kind"] == "video"]
    assert video["participant"] == camera.id and video["name"] == "drone 1"
    assert video["frames"] == 25 and video["ended_at"] is not None
    assert camera.id in {p["id"] for p in manifest["participants"]}
    directory = tmp_path / "recordings" / manifest["id"]
    assert probe_video(directory / video["file"])["frames"] == 25
    assert verify_recording(directory).ok
