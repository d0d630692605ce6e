"""Field cameras end to end: a real ffmpeg camera pulled over RTMP and over RTP/SDP."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.annexb import START_CODE
from ingest.puller import SourceReader, pull_options_for_file
from ingest.source import FieldSourceSettings
from mediacore.events import Event
from tests.server.test_api import Api, assert_error, make_config, running
from tests.waiting import wait_for

FFMPEG = "/usr/bin/ffmpeg"
CAMERA = ["-re", "-f", "lavfi", "-i", "color=c=red:s=320x240:r=25"]
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25"]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running(make_config(tmp_path)) as started:
        yield started


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def rtmp_camera() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    url = f"rtmp://127.0.0.1:{free_port()}/live/x"
    command = [FFMPEG, "-hide_banner", "-loglevel", "error", *CAMERA, *H264]
    process = subprocess.Popen([*command, "-f", "flv", "-listen", "1", url])
    time.sleep(0.5)  # listening
    yield url, process
    process.kill()
    process.wait()


def state_log(api: Api) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []

    def listen(event: Event) -> None:
        if event.type == "source.state":
            events.append(dict(event.data))

    api.server.bus.listen(listen)
    return events


async def add_source(api: Api, url: str) -> str:
    response = await api.admin(
        "POST", "/api/v1/rooms/command/sources", json={"url": url, "name": "drone 1"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "connecting"
    return str(response.json()["id"])


def states(events: list[dict[str, Any]], participant: str) -> list[str]:
    return [e["state"] for e in events if e["participant"] == participant]


@pytest.mark.slow
async def test_rtmp_camera_goes_live_forwards_keyframes_then_stalls_and_fails(
    api: Api, rtmp_camera: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, camera = rtmp_camera
    api.server.ingest.settings = FieldSourceSettings(max_attempts=2, backoff_initial=0.2)
    events = state_log(api)
    source_id = await add_source(api, url)
    await wait_for(lambda: "live" in states(events, source_id), 5)

    def hub_entry() -> dict[str, Any]:
        return next(s for s in api.server.webrtc.video_hub.sources() if s["id"] == source_id)  # type: ignore[union-attr]

    await wait_for(lambda: hub_entry()["keyframes"] >= 2, 5)  # -g 25 at 25 fps: one a second
    entry = hub_entry()
    assert entry["participant_id"] == source_id and entry["codec"] == "H264"
    assert (entry["width"], entry["height"]) == (320, 240)  # read from the forwarded SPS
    assert entry["frames_in"] >= 25
    roster = (await api.admin("GET", "/api/v1/rooms/command/participants")).json()
    mine = next(p for p in roster if p["id"] == source_id)
    assert mine["kind"] == "video" and mine["state"] == "live" and mine["bitrate"] > 0

    camera.send_signal(signal.SIGSTOP)  # the connection stays open, packets stop
    await wait_for(lambda: "stalled" in states(events, source_id), 5)
    camera.kill()
    await wait_for(lambda: "failed" in states(events, source_id), 10)
    seen = states(events, source_id)
    assert seen[:3] == ["connecting", "live", "stalled"]
    assert "reconnecting" in seen and seen[-1] == "failed"
    listed = (await api.admin("GET", "/api/v1/rooms/command/sources")).json()
    assert [s["state"] for s in listed] == ["failed"]
    assert listed[0]["reconnects"] >= 1 and "gave up after 2 attempts" in listed[0]["reason"]


@pytest.mark.slow
async def test_unreachable_source_reconnects_with_backoff_then_fails_with_a_reason(
    api: Api,
) -> None:
    api.server.ingest.settings = FieldSourceSettings(max_attempts=3, backoff_initial=0.1)
    events = state_log(api)
    source_id = await add_source(api, f"rtmp://127.0.0.1:{free_port()}/live/none")
    await wait_for(lambda: "failed" in states(events, source_id), 10)
    seen = states(events, source_id)
    assert seen.count("reconnecting") == 3 and seen[-1] == "failed"
    failure = [e for e in events if e["state"] == "failed"][0]
    # everyone reads the events: they do not quote the network (a port scanner otherwise)
    assert failure["reason"] == "gave up after 3 attempts: could not open the source"
    (listed,) = (await api.admin("GET", "/api/v1/rooms/command/sources")).json()
    assert "gave up after 3 attempts" in listed["reason"]
    assert "refused" in listed["reason"].lower()  # admins read the whole story


async def test_bad_scheme_is_refused_with_400(api: Api) -> None:
    for url in ("file:///etc/passwd", "ftp://cam/x", "http://cam/clip.mp4"):
        response = await api.admin(
            "POST", "/api/v1/rooms/command/sources", json={"url": url, "name": "x"}
        )
        assert_error(response, 400, "bad-source-url")
    listed = await api.admin("GET", "/api/v1/rooms/command/sources")
    assert listed.json() == []


async def test_an_expert_cannot_add_a_source(api: Api) -> None:
    response = await api.as_role(
        "expert", "POST", "/api/v1/rooms/command/sources", json={"url": "rtmp://cam/x"}
    )
    assert response.status_code == 403


@pytest.mark.slow
async def test_deleting_a_source_removes_the_participant_and_its_video(api: Api) -> None:
    api.server.ingest.settings = FieldSourceSettings(max_attempts=100, backoff_initial=5)
    source_id = await add_source(api, f"rtmp://127.0.0.1:{free_port()}/live/none")
    hub = api.server.webrtc.video_hub
    assert hub is not None and source_id in {s["id"] for s in hub.sources()}
    response = await api.admin("DELETE", f"/api/v1/rooms/command/sources/{source_id}")
    assert response.status_code == 204
    assert source_id not in {s["id"] for s in hub.sources()}
    roster = (await api.admin("GET", "/api/v1/rooms/command/participants")).json()
    assert source_id not in {p["id"] for p in roster}
    again = await api.admin("DELETE", f"/api/v1/rooms/command/sources/{source_id}")
    assert_error(again, 404, "source-not-found")


@pytest.mark.slow
def test_rtp_udp_sdp_source_is_read_as_annexb_with_90khz_timestamps(tmp_path: Path) -> None:
    """Stands in for RTSP/UDP (no RTSP server here): the same RTP/UDP depacketizer path."""
    sdp = tmp_path / "camera.sdp"
    port = free_port(socket.SOCK_DGRAM) & ~1
    command = [FFMPEG, "-hide_banner", "-loglevel", "error", *CAMERA, *H264]
    command += ["-f", "rtp", "-sdp_file", str(sdp), f"rtp://127.0.0.1:{port}"]
    camera = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 5
        while not sdp.exists() or not sdp.read_text().strip().endswith("1"):
            assert time.monotonic() < deadline, "ffmpeg wrote no SDP"
            time.sleep(0.05)
        reader = SourceReader(pull_options_for_file(str(sdp), read_timeout=3))
        frames: list[tuple[bytes, int | None, bool]] = []

        def on_video(data: bytes, pts: int | None, keyframe: bool) -> None:
            frames.append((data, pts, keyframe))
            if sum(f[2] for f in frames) >= 2:
                reader.abort()

        opened: list[dict[str, Any]] = []
        thread = threading.Thread(target=reader.run, args=(opened.append, on_video))
        thread.start()
        thread.join(10)
        assert not thread.is_alive()
    finally:
        camera.kill()
        camera.wait()
    assert opened and opened[0]["codec"] == "h264"
    keyframes = [f for f in frames if f[2]]
    assert len(keyframes) >= 2
    for data, _, _ in keyframes:
        assert data.startswith(START_CODE + b"\x67")  # SPS first: a subscriber can start here
    pts = [f[1] for f in frames if f[1] is not None]
    steps = {b - a for a, b in zip(pts, pts[1:], strict=False)}
    assert steps == {3600}  # 25 fps on the 90 kHz clock
