"""A wall output pushed over SRT to a real SRT listener (Debian ffmpeg), decoded and measured."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mediacore.events import Event
from mixer.labels import SLATE_RGB
from tests.ingest.test_field_sources import FFMPEG, free_port
from tests.server.test_api import Api, make_config, running
from tests.waiting import wait_for
from tests.walls.wallreceiver import decode_recording, near


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running(make_config(tmp_path)) as started:
        yield started


@pytest.mark.slow
async def test_srt_output_reaches_an_srt_listener_as_h264_at_canvas_size(
    api: Api, tmp_path: Path
) -> None:
    states: list[str] = []

    def listen(event: Event) -> None:
        if event.type == "wall.output":
            states.append(str(event.data["state"]))

    api.server.bus.listen(listen)
    port = free_port(socket.SOCK_DGRAM)
    recorded = tmp_path / "wall.ts"
    listener = subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y"]
        + ["-i", f"srt://127.0.0.1:{port}?mode=listener", "-t", "2", "-c", "copy", str(recorded)]
    )
    try:
        await asyncio.sleep(0.5)  # listening
        body: dict[str, Any] = {
            "canvas": {"width": 480, "height": 270, "fps": 25},
            "layout": {"kind": "grid-4"},
            "outputs": [{"kind": "srt", "url": f"srt://127.0.0.1:{port}"}],
        }
        response = await api.admin("PUT", "/api/v1/walls/hall", json=body)
        assert response.status_code == 201, response.text
        await wait_for(lambda: "live" in states, 10)
        await asyncio.to_thread(listener.wait, 20)
    finally:
        listener.kill()
    receiver = await decode_recording(recorded)
    assert receiver.size == (480, 270)
    assert near(receiver.colour(20, 20), SLATE_RGB, 30)  # four empty cells
    status = (await api.admin("GET", "/api/v1/walls/hall")).json()["status"]
    assert status["outputs"][0]["frames_sent"] >= 25
