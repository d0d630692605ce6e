"""The composite recording end to end, on a server in worker mode: two ffmpeg field cameras of
known colours (the blue one sends a tone) in a room with a conference picture; a recording
started and stopped through the API has the composite track (the picture with the mix, in one
chained MP4) beside the cameras' own, which verifies, is found by a search, shows both colours
at their grid positions, carries the tone, and exports as the other video tracks do."""

from __future__ import annotations

import io
import time
from datetime import datetime, timedelta
from typing import Any

import av
import numpy as np
import pytest

from tests.e2e.server import ServerProcess
from tests.ingest.test_field_sources import H264
from tests.ingest.test_source_audio import TONE, sine
from tests.recorder.test_composite_recording import dominant_hz
from tests.walls.test_video_processes import AAC
from tests.walls.wallreceiver import near, rtmp_camera

pytestmark = pytest.mark.slow

SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)
ROOM_SETTINGS = {"video": {"layout": {"kind": "grid"}, "width": 640, "height": 360, "fps": 10}}
CAMERA = [*H264, "-r", "10"]
RED, BLUE = (255, 0, 0), (0, 0, 255)
RECORD_SECONDS = 3.0


def until(check: Any, timeout: float, what: str) -> Any:
    start = time.monotonic()
    while not (found := check()):
        assert time.monotonic() - start < timeout, f"not within {timeout} s: {what}"
        time.sleep(0.1)
    return found


def composite_of(manifest: dict[str, Any]) -> dict[str, Any] | None:
    return next((t for t in manifest.get("tracks", []) if t["kind"] == "composite"), None)


def colour(picture: np.ndarray, x: int, y: int) -> tuple[int, int, int]:
    mean = picture[y - 4 : y + 4, x - 4 : x + 4].reshape(-1, 3).mean(axis=0)
    return int(mean[0]), int(mean[1]), int(mean[2])


def test_a_recording_has_the_conference_picture_with_the_mix(
    server: ServerProcess, room: str
) -> None:
    client = server.client
    with (
        rtmp_camera("red", "320x180", CAMERA) as (red_url, _),
        rtmp_camera("blue", "320x180", CAMERA, sound=[*sine(44100), *AAC]) as (blue_url, _),
    ):
        for url, name in ((red_url, "Red"), (blue_url, "Blue")):
            added = client.post(f"/api/v1/rooms/{room}/sources", json={"url": url, "name": name})
            assert added.status_code == 201, added.text
        started = client.post(f"/api/v1/rooms/{room}/recordings")
        assert started.status_code == 201, started.text
        recording = started.json()["id"]

        def recorded_long_enough() -> bool:
            live = client.get(f"/api/v1/recordings/{recording}").json()
            track = composite_of(live)
            return track is not None and track["duration_ms"] >= RECORD_SECONDS * 1000

        until(recorded_long_enough, 30, "3 s of the composite track")
        described = client.get(f"/api/v1/rooms/{room}").json()["composed"]
        assert described["viewers"] >= 1  # the recording watches the picture
        stopped = client.post(f"/api/v1/recordings/{recording}/stop")
        assert stopped.status_code == 200, stopped.text

        def viewers() -> int:
            return int(client.get(f"/api/v1/rooms/{room}").json()["composed"]["viewers"])

        until(lambda: viewers() == 0, 5, "the picture released by the stopped recording")

    manifest = client.get(f"/api/v1/recordings/{recording}").json()
    composite = composite_of(manifest)
    assert composite is not None, manifest["tracks"]
    assert composite["file"] == "composite.mp4" and composite["source"] == f"composed-{room}"
    assert (composite["width"], composite["height"]) == (640, 360)
    assert composite["audio"]["of"] == "mix" and composite["frames_dropped"] == 0
    assert len([t for t in manifest["tracks"] if t["kind"] == "video"]) == 2  # the cameras'
    assert composite["id"] in manifest["hashes"]["tracks"]
    verdict = client.get(f"/api/v1/recordings/{recording}/verify").json()
    assert verdict == {"ok": True, "problems": []}
    found = client.get("/api/v1/recordings", params={"room": room, "track_kind": "composite"})
    assert [r["id"] for r in found.json()] == [recording]

    fetched = client.get(f"/api/v1/recordings/{recording}/tracks/composite")
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "video/mp4"
    assert len(fetched.content) == composite["data_bytes"]
    with av.open(io.BytesIO(fetched.content)) as container:
        pictures = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(io.BytesIO(fetched.content)) as container:
        rate = container.streams.audio[0].sample_rate
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert len(pictures) == composite["frames"] >= 2 * 10
    # the grid, in join order: red on the left, blue on the right
    last = pictures[-1]
    assert near(colour(last, 160, 180), RED, 50) and near(colour(last, 480, 180), BLUE, 50)
    assert len(pcm) >= 2 * rate
    assert abs(dominant_hz(pcm[-rate:], rate) - TONE) < 15  # the blue camera's tone, mixed

    # (the picture starts later than the recording: its process starts for it)
    began = datetime.fromisoformat(composite["started_at"])
    start, end = ((began + timedelta(seconds=s)).isoformat() for s in (0.5, 2.5))
    job = client.post(
        f"/api/v1/recordings/{recording}/exports",
        json={"format": "video", "tracks": ["composite"], "start": start, "end": end},
    )
    assert job.status_code == 202, job.text

    def finished() -> dict[str, Any] | None:
        state: dict[str, Any] = client.get(f"/api/v1/exports/{job.json()['id']}").json()
        return state if state["state"] in ("done", "failed") else None

    done = until(finished, 20, "the export")
    assert done["state"] == "done", str(done)
    clip = client.get(str(done["url"]))
    assert clip.status_code == 200
    with av.open(io.BytesIO(clip.content)) as container:
        assert sorted(s.codec_context.name for s in container.streams) == ["h264", "opus"]
