"""Attacks on GB/T 28181 devices, performed against a running server with the project's device
simulator (tools/gbdevice.py): a second client with the shared password tries to take a
registered device over from another port; a stranger streams another picture, with the
device's own SSRC, into the media port of a live channel; and two INVITEs must not carry
SSRCs anyone could count on."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from tests.ingest.test_gb28181_e2e import (
    COLOUR,
    DEVICE,
    DOMAIN,
    add_source,
    api,
    decoded_colour,
    device,
    devices,
    event_log,
    tap,
)
from tests.server.test_api import Api
from tests.waiting import wait_for
from tools.gbdevice import GbDeviceSimulator, MediaStream, encode_gop, parse_colour

__all__ = ["api"]  # the fixture, shared with the other end-to-end tests

pytestmark = pytest.mark.slow

STRANGER_COLOUR = "#e02020"


async def test_a_second_client_with_the_shared_password_cannot_take_the_device_over(
    api: Api,
) -> None:
    states = event_log(api, "gb.device")
    async with device(api) as genuine:
        [listed] = await devices(api)
        assert listed["address"] == f"127.0.0.1:{genuine.local_port}"
        with pytest.raises(RuntimeError, match="403"):
            async with device(api):  # same id, same shared password, another port
                pass
        [listed] = await devices(api)
        assert listed["address"] == f"127.0.0.1:{genuine.local_port}"
        assert listed["state"] == "online"
        assert [e["state"] for e in states] == ["online"]
        # the device itself still refreshes its registration
        assert await genuine.register(3600) == 200


@contextmanager
def stranger_streams(
    simulator: GbDeviceSimulator, sources: list[tuple[str, int]]
) -> Iterator[list[MediaStream]]:
    """Streams of another colour, with the live play's SSRC, from each (host, port) in
    `sources` to the play's media port: someone who learnt the SSRC and the port."""
    [play] = simulator.plays.values()
    config = play.stream.config
    colour = parse_colour(STRANGER_COLOUR)
    gop = encode_gop(colour, config.codec, config.width, config.height, config.fps)
    streams = []
    for source in sources:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(source)
        stream = MediaStream(sock, play.stream.destination, False, play.stream.ssrc, gop, config)
        stream.start()
        streams.append(stream)
    try:
        yield streams
    finally:
        for stream in streams:
            stream.stop()
            stream.join(timeout=2)


async def test_a_stranger_streaming_into_the_media_port_is_ignored(api: Api) -> None:
    states = event_log(api, "source.state")
    async with device(api) as simulator:
        source_id = await add_source(api, f"gb28181://{DEVICE}/{simulator.channels[0]}")
        await wait_for(lambda: any(e["state"] == "live" for e in states), 5)
        # another port of the device's own host, and another host (all of 127/8 is loopback)
        with stranger_streams(simulator, [("127.0.0.1", 0), ("127.0.0.2", 0)]) as strangers:
            frames = tap(api, source_id)
            await asyncio.sleep(2.0)
            assert all(s.packets > 40 for s in strangers), [s.packets for s in strangers]
        assert sum(keyframe for _, keyframe in frames) >= 1
        colour = decoded_colour(frames, "h264")
        assert np.abs(colour - parse_colour(COLOUR)).max() < 12, colour  # the device's picture
        assert [e["state"] for e in states].count("live") == 1  # and it never faltered


async def test_two_invites_carry_different_ssrcs_in_the_annex_f_format(api: Api) -> None:
    states = event_log(api, "source.state")
    async with device(api) as simulator:
        url = f"gb28181://{DEVICE}/{simulator.channels[0]}"
        for _ in range(2):
            await add_source(api, url)
        await wait_for(lambda: [e["state"] for e in states].count("live") == 2, 6)
        ssrcs = [f"{play.stream.ssrc:010d}" for play in simulator.plays.values()]
    assert len(set(ssrcs)) == 2, ssrcs
    for ssrc in ssrcs:
        assert re.fullmatch("0" + DOMAIN[3:8] + r"\d{4}", ssrc), ssrc
