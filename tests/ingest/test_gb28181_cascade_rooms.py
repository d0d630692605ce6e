"""Cascade up, our rooms as channels: the upper platform's catalog lists each open room's
composed conference picture, and its INVITE of that channel receives the picture (an ffmpeg
camera of a known colour in the room) as PS over RTP."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ingest.gbcascadecatalog import room_channels
from tests.ingest.test_field_sources import FFMPEG, H264, add_source, free_port
from tests.ingest.test_gb28181_cascade import COLOUR, SERVER_ID, cascade
from tests.waiting import wait_for
from tools.gbdevice import parse_colour

pytestmark = pytest.mark.slow

CAMERA = ["-re", "-f", "lavfi", "-i", f"color=c=0x{COLOUR[1:]}:s=320x180:r=25"]


@pytest.fixture
def camera() -> Iterator[str]:
    url = f"rtmp://127.0.0.1:{free_port()}/live/x"
    command = [FFMPEG, "-hide_banner", "-loglevel", "error", *CAMERA, *H264]
    process = subprocess.Popen([*command, "-f", "flv", "-listen", "1", url])
    yield url
    process.kill()
    process.wait()


async def test_upper_platform_plays_a_rooms_conference_picture(tmp_path: Path, camera: str) -> None:
    async with cascade(tmp_path) as (api, upper):
        await wait_for(upper.registered.is_set, 10)
        items, _ = await upper.query_catalog()
        (channel,) = room_channels(SERVER_ID, ["command"])
        listed = {item.device_id: item for item in items}
        assert channel.channel_id in listed
        assert (listed[channel.channel_id].name, listed[channel.channel_id].status) == (
            "command",
            "ON",
        )
        await add_source(api, camera)
        play = await upper.invite(channel.channel_id)
        wanted = np.array(parse_colour(COLOUR))

        def shows_the_camera() -> bool:
            # the tile shows its slate until the camera's first keyframe is in the picture
            if not (sum(f.keyframe for f in play.frames) and len(play.frames) > 20):
                return False
            return bool(np.abs(play.colour() - wanted).max() < 16)

        await wait_for(shows_the_camera, 20)
        assert await upper.bye(play) == 200
        conferences = api.server.conferences
        # the play's viewer went with it
        await wait_for(lambda: conferences.room_fields("command")["composed"]["viewers"] == 0, 5)
