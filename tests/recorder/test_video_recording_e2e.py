"""A field camera recorded end to end: an ffmpeg test-pattern camera over RTMP pulled into the
room, a recording started and stopped through the API, the video track fetched back and
checked with PyAV and ffprobe against the packets the camera sent."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import av
import pytest

from tests.ingest.test_field_sources import FFMPEG, add_source, free_port
from tests.recorder.test_video_recording import nal_units
from tests.server.test_api import Api, make_config, running
from tests.waiting import wait_for

FPS = 25
CAMERA = ["-re", "-f", "lavfi", "-i", f"color=c=red:s=320x240:r={FPS}"]
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", str(FPS)]
RECORD_SECONDS = 4.0


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running(make_config(tmp_path / "data")) as started:
        yield started


@pytest.fixture
def camera() -> Iterator[str]:
    url = f"rtmp://127.0.0.1:{free_port()}/live/x"
    command = [FFMPEG, "-hide_banner", "-loglevel", "error", *CAMERA, *H264]
    process = subprocess.Popen([*command, "-f", "flv", "-listen", "1", url])
    yield url
    process.kill()
    process.wait()


def access_unit_hash(units: list[bytes]) -> str:
    return hashlib.sha256(b"".join(len(u).to_bytes(4, "big") + u for u in units)).hexdigest()


@pytest.mark.slow
async def test_a_field_camera_is_recorded_as_sent_and_served_with_range(
    api: Api, camera: str, tmp_path: Path
) -> None:
    await asyncio.sleep(0.5)  # the camera listens
    source_id = await add_source(api, camera)
    hub = api.server.webrtc.video_hub
    assert hub is not None
    await wait_for(lambda: any(s["id"] == source_id and s["keyframes"] for s in hub.sources()), 10)
    sent: list[str] = []  # what the camera sent, frame by frame
    hub.get(source_id).add_tap(
        lambda packet, keyframe: sent.append(access_unit_hash(nal_units(bytes(packet), False)))
    )

    started = await api.as_role("commander", "POST", "/api/v1/rooms/command/recordings")
    assert started.status_code == 201, started.text
    recording = started.json()["id"]
    await asyncio.sleep(RECORD_SECONDS)
    stopped = await api.as_role("commander", "POST", f"/api/v1/recordings/{recording}/stop")
    assert stopped.status_code == 200, stopped.text

    manifest = (await api.as_role("reviewer", "GET", f"/api/v1/recordings/{recording}")).json()
    videos = [t for t in manifest["tracks"] if t["kind"] == "video"]
    assert len(videos) == 1, manifest["tracks"]
    video = videos[0]
    assert video["participant"] == source_id and video["name"] == "drone 1"
    assert (video["codec"], video["width"], video["height"]) == ("H264", 320, 240)
    assert video["container"] == "mp4" and video["frames_dropped"] == 0
    assert source_id in {p["id"] for p in manifest["participants"]}
    verdict = (
        await api.as_role("reviewer", "GET", f"/api/v1/recordings/{recording}/verify")
    ).json()
    assert verdict == {"ok": True, "problems": []}

    found = await api.as_role("reviewer", "GET", "/api/v1/recordings?participant=drone")
    assert [r["id"] for r in found.json()] == [recording]  # the camera is searchable
    indexed = api.server.recorder.index.get(recording)
    assert indexed is not None
    (row,) = [t for t in indexed["tracks"] if t["kind"] == "video"]
    assert row["duration_ms"] == video["duration_ms"] and row["bytes"] == video["data_bytes"]

    url = f"/api/v1/recordings/{recording}/tracks/{video['id']}"
    whole = await api.as_role("reviewer", "GET", url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert len(whole.content) == video["data_bytes"]
    part = await api.as_role("reviewer", "GET", url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    path = tmp_path / "fetched.mp4"
    path.write_bytes(whole.content)

    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_name,width,height,nb_read_frames", "-of", "json", str(path)],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    stream = json.loads(probe.stdout)["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 320, 240)
    frames = int(stream["nb_read_frames"])
    assert frames == video["frames"]
    # It started at a keyframe asked for at the start (the camera sends one a second).
    assert abs(frames - video["duration_ms"] / 1000 * FPS) <= 1
    assert (RECORD_SECONDS - 1.5) * FPS <= frames <= (RECORD_SECONDS + 0.5) * FPS

    with av.open(str(path)) as container:
        packets = [bytes(p) for p in container.demux(video=0) if p.size]
        container.seek(0)
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    red, green, blue = rgb.reshape(-1, 3).mean(axis=0)
    assert red > 200 and green < 40 and blue < 40  # the pattern's colour
    # Never re-encoded: the recorded frames are a run of the frames the camera sent, NAL unit
    # for NAL unit.
    recorded = [access_unit_hash(nal_units(p, True)) for p in packets]
    first = sent.index(recorded[0])
    assert sent[first : first + len(recorded)] == recorded

    # A slice of it, exported through the API: copied from the keyframe before its start.
    job = await api.as_role(
        "reviewer", "POST", f"/api/v1/recordings/{recording}/exports",
        json={"format": "video", "tracks": [video["id"]], "from_s": 1.5, "to_s": 3.0},
    )  # fmt: skip
    assert job.status_code == 202, job.text

    async def finished() -> dict[str, object] | None:
        state = await api.as_role("reviewer", "GET", f"/api/v1/exports/{job.json()['id']}")
        return state.json() if state.json()["state"] in ("done", "failed") else None

    for _ in range(100):
        done = await finished()
        if done:
            break
        await asyncio.sleep(0.05)
    assert done is not None and done["state"] == "done", done
    clip = await api.as_role("reviewer", "GET", str(done["url"]))
    assert clip.headers["content-type"] == "video/mp4"
    (tmp_path / "clip.mp4").write_bytes(clip.content)
    with av.open(str(tmp_path / "clip.mp4")) as container:
        kinds = sorted(s.codec_context.name for s in container.streams)
        cut = [access_unit_hash(nal_units(bytes(p), True)) for p in container.demux(video=0)
               if p.size]  # fmt: skip
    assert kinds == ["h264", "opus"]
    start = recorded.index(cut[0])
    assert recorded[start : start + len(cut)] == cut and FPS <= len(cut) <= 3 * FPS
