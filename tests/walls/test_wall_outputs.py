"""Walls end to end: real ffmpeg cameras in a room, the wall's outputs decoded and measured."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mediacore.events import Event
from mixer.labels import SLATE_RGB
from tests.ingest.test_field_sources import FFMPEG, free_port
from tests.server.test_api import Api, assert_error, make_config, running
from tests.waiting import wait_for, wait_for_async
from tests.walls.wallreceiver import OutputReceiver, decode_recording, near, rtmp_camera

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 128, 0)
CANVAS = {"width": 640, "height": 360, "fps": 25}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running(make_config(tmp_path)) as started:
        yield started


async def add_camera(api: Api, url: str, name: str) -> str:
    response = await api.admin(
        "POST", "/api/v1/rooms/command/sources", json={"url": url, "name": name}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def put_wall(api: Api, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = await api.admin("PUT", "/api/v1/walls/hall", json=body)
    assert response.status_code == status, response.text
    return dict(response.json())


async def sdp_file(api: Api, tmp_path: Path, index: int) -> Path:
    response = await api.admin("GET", f"/api/v1/walls/hall/outputs/{index}.sdp")
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/sdp"
    )
    path = tmp_path / f"out{index}.sdp"
    path.write_text(response.text)
    return path


def udp_url() -> str:
    return f"rtp://127.0.0.1:{free_port(socket.SOCK_DGRAM) & ~1}"


def has_text(pixels: np.ndarray[Any, Any]) -> bool:
    """White label text on the translucent black label box."""
    return bool((pixels.min(axis=2) > 180).sum() >= 10)


@pytest.mark.slow
async def test_grid_wall_shows_each_camera_in_its_tile_and_a_slate_once_one_dies(
    api: Api, tmp_path: Path
) -> None:
    with rtmp_camera("red") as (red_url, red), rtmp_camera("blue") as (blue_url, _):
        red_id = await add_camera(api, red_url, "Drone 1")
        await add_camera(api, blue_url, "无人机 2")
        wall = await put_wall(
            api,
            {
                "canvas": CANVAS,
                "layout": {"kind": "grid"},
                "room": "command",
                "outputs": [
                    {"kind": "rtp", "url": udp_url()},
                    {"kind": "rtp", "url": udp_url(), "region": [320, 0, 320, 360]},
                ],
            },
        )
        assert wall["status"]["outputs"][0]["sdp"] == "/api/v1/walls/hall/outputs/0.sdp"
        on_disk = api.server.config.data_dir / "walls" / "hall-1.sdp"
        assert "m=video" in on_disk.read_text()  # for a receiver on the server's host
        whole = OutputReceiver(await sdp_file(api, tmp_path, 0))
        right = OutputReceiver(await sdp_file(api, tmp_path, 1))
        try:
            # two 4:3 cameras side by side, each letterboxed in a 320x360 tile
            await wait_for(
                lambda: whole.latest is not None and near(whole.colour(160, 180), RED), 10
            )
            await wait_for(lambda: near(whole.colour(480, 180), BLUE), 5)
            assert whole.size == (640, 360)
            await asyncio.sleep(2.0)
            assert 22 <= whole.fps_over(2.0) <= 28  # 25 fps, as the canvas says
            # the region output carries the right half only, at its own size
            await wait_for(
                lambda: right.latest is not None and near(right.colour(160, 180), BLUE), 5
            )
            assert right.size == (320, 360)
            # name labels at each tile's bottom left (the letterbox below the picture is black)
            assert has_text(whole.region(0, 300, 200, 60))
            assert has_text(whole.region(320, 300, 200, 60))

            red.kill()  # the camera dies: last frame held, then the no-signal slate
            await wait_for(lambda: near(whole.colour(160, 30), SLATE_RGB, 30), 10)
            assert near(whole.colour(480, 180), BLUE)
            status = (await api.admin("GET", "/api/v1/walls/hall")).json()["status"]
            assert [o["state"] for o in status["outputs"]] == ["live", "live"]
            assert status["outputs"][0]["reconnects"] == 0
            tiles = {t["source"]: t["label"] for t in status["tiles"]}
            assert tiles[red_id] == "Drone 1" and "无人机 2" in tiles.values()
        finally:
            whole.stop()
            right.stop()


@pytest.mark.slow
async def test_layout_switch_is_live_without_restarting_the_outputs(
    api: Api, tmp_path: Path
) -> None:
    with rtmp_camera("red") as (red_url, _), rtmp_camera("blue") as (blue_url, _):
        red_id = await add_camera(api, red_url, "Drone 1")
        blue_id = await add_camera(api, blue_url, "Cam 2")
        body: dict[str, Any] = {
            "canvas": CANVAS,
            "layout": {"kind": "grid"},
            "room": "command",
            "outputs": [{"kind": "rtp", "url": udp_url()}],
        }
        await put_wall(api, body)
        receiver = OutputReceiver(await sdp_file(api, tmp_path, 0))
        try:
            await wait_for(
                lambda: receiver.latest is not None and near(receiver.colour(480, 180), BLUE), 10
            )
            before = receiver.frames
            body["layout"] = {
                "kind": "custom",
                "regions": [
                    {"x": 0, "y": 0, "w": 640, "h": 360, "source": blue_id, "label": "main"},
                    {"x": 440, "y": 20, "w": 180, "h": 100, "source": red_id},
                ],
            }
            changed = await put_wall(api, body, status=200)
            assert changed["status"]["layout_switches"] == 1
            await wait_for(lambda: near(receiver.colour(160, 180), BLUE), 5)
            await wait_for(lambda: near(receiver.colour(530, 70), RED), 5)
            # the same RTP stream went on: no reconnect, no gap in the frame rate
            assert receiver.frames > before and receiver.error is None
            await asyncio.sleep(1.0)
            assert receiver.fps_over(1.0) >= 20
            status = (await api.admin("GET", "/api/v1/walls/hall")).json()["status"]
            assert status["outputs"][0]["reconnects"] == 0
        finally:
            receiver.stop()


@pytest.mark.slow
async def test_rtmp_output_reaches_an_rtmp_server_and_reconnects_when_it_is_down(
    api: Api, tmp_path: Path
) -> None:
    events: list[dict[str, Any]] = []

    def listen(event: Event) -> None:
        if event.type == "wall.output":
            events.append(dict(event.data))

    api.server.bus.listen(listen)
    url = f"rtmp://127.0.0.1:{free_port()}/live/wall"
    await put_wall(
        api,
        {
            "canvas": CANVAS,
            "layout": {"kind": "grid-4"},
            "room": "command",
            "outputs": [{"kind": "rtmp", "url": url}],
        },
    )
    # nobody listens yet: the output retries with back-off while the wall keeps painting
    await wait_for(lambda: any(e["state"] == "reconnecting" for e in events), 5)
    assert "refused" in events[-1]["reason"].lower() or events[-1]["reason"]
    recorded = tmp_path / "wall.flv"
    server = subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-listen", "1", "-i", url]
        + ["-t", "2", "-c", "copy", "-y", str(recorded)]
    )
    try:
        await wait_for(lambda: any(e["state"] == "live" for e in events), 10)
        await asyncio.to_thread(server.wait, 20)
    finally:
        server.kill()
    receiver = await decode_recording(recorded)
    assert receiver.size == (640, 360)
    assert near(receiver.colour(20, 20), SLATE_RGB, 30)  # four empty cells: four slates


async def test_bad_wall_definitions_get_400_with_the_field_at_fault(api: Api) -> None:
    cases = [
        ({"canvas": {**CANVAS, "width": 641}, "layout": {"kind": "grid"}}, "even"),
        ({"canvas": CANVAS, "layout": {"kind": "mosaic"}}, "unknown layout.kind"),
        (
            {
                "canvas": CANVAS,
                "layout": {
                    "kind": "custom",
                    "regions": [{"x": 600, "y": 0, "w": 100, "h": 100, "source": "x"}],
                },
            },
            "lies outside the 640x360 canvas",
        ),
        (
            {
                "canvas": CANVAS,
                "layout": {"kind": "grid"},
                "outputs": [{"kind": "rtp", "url": "x"}],
            },
            "outputs[0].url",
        ),
    ]
    for body, message in cases:
        response = await api.admin("PUT", "/api/v1/walls/hall", json=body)
        assert message in assert_error(response, 400, "bad-wall")
    not_json = await api.admin(
        "PUT", "/api/v1/walls/hall", content=b"{", headers={"content-type": "application/json"}
    )
    assert_error(not_json, 400, "bad-json")
    assert_error(await api.admin("GET", "/api/v1/walls/hall"), 404, "wall-not-found")
    assert_error(await api.admin("PUT", "/api/v1/walls/Hall!", json={}), 400, "bad-wall-name")


async def test_only_commanders_and_admins_change_walls_and_unknown_sources_show_a_slate(
    api: Api,
) -> None:
    body = {
        "canvas": CANVAS,
        "layout": {
            "kind": "custom",
            "regions": [{"x": 0, "y": 0, "w": 640, "h": 360, "source": "nobody"}],
        },
    }
    refused = await api.as_role("operator", "PUT", "/api/v1/walls/hall", json=body)
    assert refused.status_code == 403
    assert (await api.as_role(None, "GET", "/api/v1/walls")).status_code == 401
    created = await api.as_role("commander", "PUT", "/api/v1/walls/hall", json=body)
    assert created.status_code == 201, created.text

    async def painted() -> bool:
        wall = (await api.as_role("operator", "GET", "/api/v1/walls/hall")).json()
        return int(wall["status"]["frames_painted"]) > 5

    await wait_for_async(painted, 5)
    status = (await api.as_role("operator", "GET", "/api/v1/walls/hall")).json()
    assert status["layout"] == body["layout"]
    assert status["status"]["tiles"][0]["source"] == "nobody"
    listed = (await api.admin("GET", "/api/v1/walls")).json()
    assert [w["name"] for w in listed] == ["hall"]
    metrics = (await api.admin("GET", "/metrics")).text
    assert 'mediacore_wall_frames_painted_total{wall="hall"}' in metrics
    assert 'mediacore_wall_ticks_missed_total{wall="hall"}' in metrics
    deleted = await api.as_role("commander", "DELETE", "/api/v1/walls/hall")
    assert deleted.status_code == 204
    assert (await api.admin("GET", "/api/v1/walls")).json() == []


async def test_walls_come_back_after_a_restart(tmp_path: Path) -> None:
    body = {"canvas": CANVAS, "layout": {"kind": "grid-4"}}
    async with running(make_config(tmp_path)) as first:
        response = await first.admin("PUT", "/api/v1/walls/hall", json=body)
        assert response.status_code == 201
    async with running(make_config(tmp_path)) as second:
        again = (await second.admin("GET", "/api/v1/walls/hall")).json()
        assert again["layout"] == {"kind": "grid-4"} and again["canvas"] == CANVAS
