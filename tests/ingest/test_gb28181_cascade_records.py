"""Cascade up, a device's recordings for the upper platform (tools/gbupper.py) through us: its
RecordInfo query answered with the device's pages, an s=Playback INVITE relayed to the device
(picture colour, MediaStatus 121 passed up), MANSRTSP INFOs reaching the device, and a CANCEL of
an INVITE the device is still thinking about (CANCELled downstream too, 487 up)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest

from ingest.gbmansrtsp import PlaybackControl
from ingest.gbrecords import MediaStatus, parse_records_message
from tests.ingest.test_gb28181_cascade import DEVICE, PASSWORD, cascade, events
from tests.ingest.test_gb28181_records_e2e import LONG, NOW, RECORDINGS, records_of, spec
from tests.server.test_api import Api
from tests.waiting import wait_for, wait_for_async
from tools.gbdevice import DeviceConfig, GbDeviceSimulator, parse_colour
from tools.gbdevice_records import DeviceRecordings
from tools.gbupper import GbUpperSimulator

pytestmark = pytest.mark.slow


@asynccontextmanager
async def recording_device(api: Api) -> AsyncIterator[GbDeviceSimulator]:
    simulator = GbDeviceSimulator(
        DeviceConfig(
            server=("127.0.0.1", api.server.sip.stack.port),
            device_id=DEVICE,
            password=PASSWORD,
            local_host="127.0.0.1",
            keepalive=0.5,
        )
    )
    DeviceRecordings.attach(simulator, [spec(r) for r in [*RECORDINGS, LONG]])
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def media_statuses(upper: GbUpperSimulator) -> list[MediaStatus]:
    found = []
    for body in upper.stats.messages:
        if b"MediaStatus" in body:
            message = parse_records_message(body)
            assert isinstance(message, MediaStatus)
            found.append(message)
    return found


async def test_upper_platform_searches_plays_back_steers_and_cancels(tmp_path: Path) -> None:
    async with cascade(tmp_path) as (api, upper), recording_device(api) as device:
        plays = events(api, "gb.cascade")
        await wait_for(upper.registered.is_set, 10)
        channel = device.channels[0]

        async def listed() -> bool:
            items, _ = await upper.query_catalog()
            return channel in {item.device_id for item in items}

        await wait_for_async(listed, 10)
        # RecordInfo: the device's three pages gathered, answered with the upper platform's SN
        found = await upper.query_records(channel, NOW - 7200, NOW)
        assert [(r.start, r.end) for r in found] == [(s, e) for _, s, e in [*RECORDINGS, LONG]]
        assert {r.device_id for r in found} == {channel}
        # s=Playback: the recording's picture, and its end (MediaStatus 121) passed up
        colour, start, end = RECORDINGS[2]
        play = await upper.invite(channel, playback=(start, end))
        assert "s=Playback" in play.answer and f"t={start} {end}" in play.answer
        await wait_for(lambda: sum(f.keyframe for f in play.frames) >= 2, 6)
        assert np.abs(play.colour() - np.array(parse_colour(colour))).max() < 12
        await wait_for(lambda: media_statuses(upper), 6)
        assert [(m.device_id, m.notify_type) for m in media_statuses(upper)] == [(channel, 121)]
        assert await upper.bye(play) == 200
        # MANSRTSP: pause, then resume at double speed, each reaching the device
        _, start, end = LONG
        long = await upper.invite(channel, playback=(start, end))
        assert await upper.info(long, PlaybackControl("PAUSE", 1)) == 200
        assert await upper.info(long, PlaybackControl("PLAY", 2, scale=2.0)) == 200
        controls = records_of(device).stats.controls
        assert [(c.method, c.scale) for c in controls] == [("PAUSE", None), ("PLAY", 2.0)]
        assert await upper.bye(long) == 200
        # CANCEL of an INVITE the device has not answered: CANCELled there too, 487 here
        device.slow.delay = 3.0
        assert await upper.cancelled_invite(channel, 0.8) == (200, 487)
        await wait_for(lambda: len(device.slow.cancelled) == 1, 3)
        assert device.stats.invites == 2
        assert any(e["state"] == "cancelled" for e in plays)
