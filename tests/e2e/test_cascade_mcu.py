"""Cascade to another MCU (级联MCU): two servers on loopback, A in worker mode and B in one
process. A's room has a blue camera, B's a red one; A dials B's room with video through a trunk.
Each far end receives the other's composed picture and the other's picture becomes a source
of its room: A's conference shows blue and, beside it, B's picture (red); B's shows red and,
beside it, A's picture (blue). Neither sees its own picture come back (a leg is never in the
picture it receives). B's legs take their composed pictures in one process (the server's
conferences asked directly), A's in media workers (the "video.composed" request)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import ServerProcess
from tests.e2e.test_ffmpeg_interop import ffmpeg, free_rtp_port
from tests.e2e.test_video_legs import camera_command, offer, video_port
from tests.e2e.videoterminal import colour_at, grab_until, screen_sdp
from tests.walls.wallreceiver import near

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not on PATH"),
]

VIDEO = {"layout": {"kind": "grid"}, "width": 320, "height": 180, "fps": 10}
RED, BLUE = (255, 0, 0), (0, 0, 255)
CASCADE_USER, CASCADE_PASSWORD = "mcu-a", "cascade-secret"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ...]]:
    far = ServerProcess(
        Path(tmp_path_factory.mktemp("mcu-b")),
        config=f"""
[[sip.users]]
user = "{CASCADE_USER}"
password = "{CASCADE_PASSWORD}"
role = "operator"
""",
        MEDIACORE_RTP_TIMEOUT="3",
        MEDIACORE_SERVER_WORKERS="0",
    )
    try:
        near_end = ServerProcess(
            Path(tmp_path_factory.mktemp("mcu-a")),
            config=f"""
[[sip.trunks]]
name = "city"
proxy = "sip:127.0.0.1:{far.sip_port}"
username = "{CASCADE_USER}"
password = "{CASCADE_PASSWORD}"
""",
            MEDIACORE_RTP_TIMEOUT="3",
        )
    except BaseException:
        far.stop()
        raise
    yield near_end, far
    near_end.stop()
    far.stop()


def video_entry(server: ServerProcess, room: str, pid: str) -> dict[str, Any]:
    entry = next((e for e in server.roster(room) if e["id"] == pid), None)
    return dict((entry or {}).get("video") or {})


async def test_two_servers_cascade_their_composed_pictures(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    near_end, far = servers
    rooms = ((near_end, "hall", "blue"), (far, "city", "red"))
    commands, screens = [], []
    for server, room, colour in rooms:
        created = server.client.post("/api/v1/rooms", json={"name": room, "video": VIDEO})
        assert created.status_code == 201, created.text
        local = free_rtp_port()
        _, answer = server.join(room, offer(free_rtp_port(), local, "sendonly"), name=colour)
        commands.append(camera_command(video_port(answer), local, colour, "320x180", 60))
        screen_port = free_rtp_port()
        server.join(room, offer(free_rtp_port(), screen_port, "recvonly"), name="screen")
        screens.append(screen_sdp(tmp_path, screen_port))
    async with ffmpeg(commands[0]), ffmpeg(commands[1]):
        dialled = near_end.client.post(
            "/api/v1/rooms/hall/dial",
            json={"uri": "sip:city@127.0.0.1", "trunk": "city", "name": "city", "video": True},
        )
        assert dialled.status_code == 201, dialled.text
        pid = dialled.json()["id"]
        deadline = time.monotonic() + 20
        while video_entry(near_end, "hall", pid).get("frames_received", 0) == 0:
            assert time.monotonic() < deadline, near_end.roster("hall")
            time.sleep(0.3)
        # A's conference: its blue camera, then B's picture (B's red camera) as a tile
        await grab_until(
            screens[0],
            tmp_path / "hall.png",
            lambda p: near(colour_at(p, 80, 90), BLUE, 50) and near(colour_at(p, 240, 90), RED, 50),
        )
        # B's conference: its red camera, then A's picture (A's blue camera) as a tile
        await grab_until(
            screens[1],
            tmp_path / "city.png",
            lambda p: near(colour_at(p, 80, 90), RED, 50) and near(colour_at(p, 240, 90), BLUE, 50),
        )
        ours = video_entry(near_end, "hall", pid)
        theirs = next(e for e in far.roster("city") if e.get("kind") == "sip")["video"]
    assert ours["source"] == pid and ours["picture"] == "composed"
    assert ours["sending"] == f"composed-hall-{pid}" and ours["frames_sent"] > 0
    assert theirs["picture"] == "composed" and theirs["frames_received"] > 0
    assert near_end.client.delete(f"/api/v1/rooms/hall/participants/{pid}").is_success
