"""Tours and roll call end to end, on a server in worker mode: two ffmpeg field cameras of
known colours in a room, a WHEP player decoding the composed picture. A toured slot changes
colour every interval; a roll call puts the named camera in the focus (although the other
camera is the focus by default) and asks it to speak with an announcement; ending it gives
the focus back."""

from __future__ import annotations

import time

import pytest
import websockets

from tests.e2e.events import wait_for_event
from tests.e2e.server import ServerProcess
from tests.e2e.test_conference_video import CAMERA, Picture, patch_video, until, whep_player
from tests.walls.wallreceiver import near, rtmp_camera

pytestmark = pytest.mark.slow

RED, BLUE = (255, 0, 0), (0, 0, 255)
SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)
SIZE = {"width": 320, "height": 180, "fps": 5}
CAMERA_5FPS = [*CAMERA[:-2], "-r", "5"]
INTERVAL = 2.0
SLOT3 = (240, 135)  # grid-4 on 320x180: the bottom right cell's centre
MAIN = (160, 67)  # focus on 320x180: the big picture above a 45-pixel strip


def colour_at(picture: Picture, spot: tuple[int, int]) -> str | None:
    seen = picture.colour(*spot)
    return next((name for name, rgb in (("red", RED), ("blue", BLUE)) if near(seen, rgb, 50)), None)


async def test_a_toured_slot_cycles_and_a_roll_call_takes_the_focus(
    server: ServerProcess, room: str
) -> None:
    with (
        rtmp_camera("red", "320x180", CAMERA_5FPS) as (red_url, _),
        rtmp_camera("blue", "320x180", CAMERA_5FPS) as (blue_url, _),
    ):
        ids = {}
        for url, name in ((red_url, "red"), (blue_url, "blue")):
            added = server.client.post(
                f"/api/v1/rooms/{room}/sources", json={"url": url, "name": name}
            )
            assert added.status_code == 201, added.text
            ids[name] = added.json()["id"]
        tour = {"region": 3, "sources": [ids["red"], ids["blue"]], "interval": INTERVAL}
        video = {**SIZE, "layout": {"kind": "grid-4"}, "tours": [tour]}
        async with websockets.connect(server.events_url(room)) as events:
            changed = patch_video(server, room, video)
            assert changed.status_code == 200, changed.text
            assert changed.json()["video"]["tours"] == [tour]
            first = await wait_for_event(events, [], "conference.tour", 5.0)
            assert first["slot"] == 3 and first["source"] == ids["red"]
            player, seen = await whep_player(server, room)
            try:
                await until(lambda: bool(seen), 10, "a video track")
                picture = seen[0]
                await until(lambda: colour_at(picture, SLOT3) is not None, 20, "the toured slot")
                # the slot changes colour every interval: time two changes
                changes = []
                for _ in range(2):
                    before = colour_at(picture, SLOT3)
                    await until(
                        lambda b=before: colour_at(picture, SLOT3) not in (b, None),
                        INTERVAL + 3,
                        "the next source of the tour",
                    )
                    changes.append(time.monotonic())
                took = changes[1] - changes[0]
                print(f"the toured slot changed after {took:.2f} s (interval {INTERVAL} s)")
                assert INTERVAL - 1.0 < took < INTERVAL + 1.0

                # roll call: focus layout, whose big picture is red (the first camera, nobody
                # talks); calling on blue puts blue there
                focus = {**SIZE, "layout": {"kind": "focus"}}
                assert patch_video(server, room, focus).status_code == 200
                await until(lambda: colour_at(picture, MAIN) == "red", 5, "red in the focus")
                called = server.client.post(
                    f"/api/v1/rooms/{room}/rollcall", json={"participant": ids["blue"]}
                )
                assert called.status_code == 201, called.text
                assert called.json()["name"] == "blue" and called.json()["announcement"]
                took = await until(lambda: colour_at(picture, MAIN) == "blue", 5, "roll call")
                print(f"the roll call reached the picture in {took * 1000:.0f} ms")
                assert colour_at(picture, (160, 157)) == "red"  # red in the strip
                log: list[dict[str, object]] = []
                started = await wait_for_event(events, log, "conference.rollcall", 5.0)
                assert started["state"] == "started" and started["participant"] == ids["blue"]
                announced = await wait_for_event(events, log, "announcement.started", 5.0)
                assert announced["id"] == called.json()["announcement"]
                ended = server.client.delete(f"/api/v1/rooms/{room}/rollcall")
                assert ended.status_code == 204
                await until(lambda: colour_at(picture, MAIN) == "red", 5, "the focus back")
            finally:
                await player.close()
