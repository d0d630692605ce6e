"""Cascade up (级联) end to end: the server registers as a lower platform to the upper-platform
simulator (tools/gbupper.py) on loopback, with the device simulator (tools/gbdevice.py)
registered below it. The upper platform sees keepalives, reads a catalog holding the device's
channels and our wall, plays the device's channel over UDP and TCP (both setups) and checks
the picture's colour, sends PTZ that reaches the device, and loses and regains the
registration when it goes silent and comes back."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.serverproc import ServerProcess
from ingest.gbsettings import GbSettings
from ingest.gbupstreamsettings import GbUpstream
from tests.server.test_api import Api, make_config, running
from tests.waiting import wait_for, wait_for_async
from tools.gbdevice import DeviceConfig, GbDeviceSimulator, parse_colour
from tools.gbupper import GbUpperSimulator, UpperConfig

DOMAIN = "3402000000"
SERVER_ID = "34020000002000000001"
PASSWORD = "gb-secret"
DEVICE = "34020000001320000001"
UPPER_ID = "34010000002000000001"
UPPER_PASSWORD = "city-secret"
COLOUR = "#2080e0"
WALL = {
    "canvas": {"width": 320, "height": 180, "fps": 10},
    "layout": {"kind": "grid"},
    "room": "command",
    "outputs": [{"kind": "whep"}],
}

pytestmark = pytest.mark.slow


@asynccontextmanager
async def cascade(
    tmp_path: Path, transport: str = "udp"
) -> AsyncIterator[tuple[Api, GbUpperSimulator]]:
    upper = GbUpperSimulator(UpperConfig(UPPER_ID, UPPER_PASSWORD))
    await upper.start()
    upstream = GbUpstream(
        UPPER_ID,
        UPPER_ID[:10],
        "127.0.0.1",
        upper.port,
        UPPER_PASSWORD,
        SERVER_ID,
        keepalive_interval=0.5,
        keepalive_misses=2,
        name="city",
        transport=transport,
    )
    config = replace(
        make_config(tmp_path),
        gb28181=GbSettings(DOMAIN, SERVER_ID, PASSWORD, keepalive_interval=0.5),
        gb28181_upstreams=(upstream,),
    )
    try:
        async with running(config) as api:
            yield api, upper
    finally:
        await upper.stop()


@asynccontextmanager
async def device(api: Api) -> AsyncIterator[GbDeviceSimulator]:
    config = DeviceConfig(
        server=("127.0.0.1", api.server.sip.stack.port),
        device_id=DEVICE,
        password=PASSWORD,
        local_host="127.0.0.1",
        keepalive=0.5,
        colour=COLOUR,
    )
    simulator = GbDeviceSimulator(config)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def events(api: Api, kind: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    api.server.bus.listen(lambda e: seen.append(dict(e.data)) if e.type == kind else None)
    return seen


def spoofed_query(port: int) -> bytes:
    """A catalog query with the upper platform's id in From, from another loopback address."""
    body = (
        f'<?xml version="1.0"?>\r\n<Query><CmdType>Catalog</CmdType><SN>9</SN>'
        f"<DeviceID>{SERVER_ID}</DeviceID></Query>\r\n"
    ).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.2", 0))
        sock.settimeout(3.0)
        me = sock.getsockname()[1]
        head = (
            f"MESSAGE sip:{SERVER_ID}@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.2:{me};rport;branch=z9hG4bKspoofed1\r\n"
            f"From: <sip:{UPPER_ID}@{UPPER_ID[:10]}>;tag=spoof\r\n"
            f"To: <sip:{SERVER_ID}@{DOMAIN}>\r\nCall-ID: spoofed-1\r\nCSeq: 1 MESSAGE\r\n"
            "Max-Forwards: 70\r\nContent-Type: Application/MANSCDP+xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendto(head.encode() + body, ("127.0.0.1", port))
        return sock.recv(65536)


async def upstreams(api: Api) -> list[dict[str, Any]]:
    response = await api.as_role("operator", "GET", "/api/v1/gb28181/upstreams")
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()
    return listed


async def test_upper_platform_sees_our_catalog_plays_a_device_and_steers_it(
    tmp_path: Path,
) -> None:
    async with cascade(tmp_path) as (api, upper), device(api) as simulator:
        # registration with digest, then keepalives
        await wait_for(upper.registered.is_set, 5)
        assert upper.lower_id == SERVER_ID and upper.stats.challenges >= 1
        await wait_for(lambda: upper.stats.keepalives >= 2, 4)
        listed = await upstreams(api)
        assert [(u["server_id"], u["state"], u["name"]) for u in listed] == [
            (UPPER_ID, "registered", "city")
        ]
        assert (await api.http.get("/api/v1/gb28181/upstreams")).status_code == 401

        # the catalog: the device's channel and our wall, a few items per MESSAGE
        created = await api.admin("PUT", "/api/v1/walls/hall", json=WALL)
        assert created.status_code == 201, created.text
        gb = api.server.sip.gb
        assert gb is not None
        await wait_for(lambda: any(d["channels"] for d in gb.describe()), 5)
        items, messages = await upper.query_catalog()
        ids = {item.device_id for item in items}
        assert set(simulator.channels) <= ids
        walls = [item for item in items if item.name == "wall hall"]
        assert len(walls) == 1 and walls[0].device_id.startswith(SERVER_ID[:10] + "1319")
        assert walls[0].status == "ON" and messages == 1
        info = await upper.query("DeviceInfo")
        assert b"<DeviceID>34020000002000000001</DeviceID>" in info
        status = await upper.query("DeviceStatus", simulator.channels[0])
        assert b"<Online>ONLINE</Online>" in status

        # live video of the device's channel, over UDP and TCP both ways
        want = parse_colour(COLOUR)
        channel = simulator.channels[0]
        for transport, setup in (("udp", "passive"), ("tcp", "passive"), ("tcp", "active")):
            play = await upper.invite(channel, transport, setup)
            await wait_for(
                lambda p=play: sum(f.keyframe for f in p.frames) >= 1 and len(p.frames) > 30, 8
            )
            colour = play.colour()
            assert np.abs(colour - np.array(want)).max() < 12, (transport, setup, colour)
            assert play.receiver.wrong_ssrc == 0
            assert await upper.bye(play) == 200
            await wait_for(lambda: not simulator.plays, 3)  # our BYE went on to the device

        # the wall's own picture
        play = await upper.invite(walls[0].device_id)
        await wait_for(lambda: any(f.keyframe for f in play.frames), 8)
        assert play.colour().shape == (3,)
        assert await upper.bye(play) == 200

        # a device hanging up ends the upper platform's play too (BYE upwards)
        play = await upper.invite(channel)
        await wait_for(lambda: simulator.plays, 3)
        simulator.hang_up()
        await wait_for(lambda: play.ended, 5)

        # PTZ from the upper platform reaches the device with its command as sent
        ptz = "A50F010180000036"  # right at speed 0x80 (GB/T 28181 annex A.3)
        before = len(simulator.stats.messages)
        assert await upper.control(channel, ptz) == 200
        relayed = simulator.stats.messages[before:]
        assert any(f"<PTZCmd>{ptz}</PTZCmd>".encode() in body for body in relayed)
        assert simulator.ptz.received[-1].text == ptz
        assert simulator.ptz.received[-1].command.action == "right"
        assert await upper.control("34020000001329999999", ptz) == 404
        with pytest.raises(RuntimeError, match="404"):
            await upper.invite("34020000001319999999")

        # someone else claiming to be the upper platform is refused, and sent nothing
        def catalogs() -> int:
            return sum(b"<CmdType>Catalog</CmdType>" in body for body in upper.stats.messages)

        sent = catalogs()
        port = api.server.sip.stack.port
        answer = await asyncio.to_thread(spoofed_query, port)
        assert answer.startswith(b"SIP/2.0 403"), answer
        await asyncio.sleep(0.3)
        assert catalogs() == sent


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_upper_platform_lost_and_back(tmp_path: Path, transport: str) -> None:
    async with cascade(tmp_path, transport) as (api, upper):
        seen = events(api, "gb.upstream")
        await wait_for(upper.registered.is_set, 5)
        assert upper.lower_transport == transport
        upper.down()
        await wait_for(lambda: any(e["state"] == "failed" for e in seen), 6)
        failed = (await upstreams(api))[0]
        assert failed["state"] == "failed" and "keepalive" in failed["last_error"]
        registrations = upper.stats.registrations
        upper.up()
        await wait_for(lambda: upper.stats.registrations > registrations, 8)
        await wait_for(lambda: seen[-1]["state"] == "registered", 3)
        assert (await upstreams(api))[0]["state"] == "registered"
        items, _ = await upper.query_catalog()  # requests the other way take the same path
        assert [item.name for item in items] == ["command"]  # our one room's picture


async def test_cascade_from_a_server_process_with_media_workers(tmp_path: Path) -> None:
    """`mediacore serve --workers 1` from a config file: signalling and relaying stay in the
    server process while rooms run in a worker."""
    upper = GbUpperSimulator(UpperConfig(UPPER_ID, UPPER_PASSWORD))
    await upper.start()
    config = (
        f'[gb28181]\ndomain = "{DOMAIN}"\nserver_id = "{SERVER_ID}"\npassword = "{PASSWORD}"\n'
        f'[[gb28181.upstream]]\nserver_id = "{UPPER_ID}"\naddress = "127.0.0.1"\n'
        f'port = {upper.port}\npassword = "{UPPER_PASSWORD}"\nkeepalive_interval = 1\n'
    )
    server = await asyncio.to_thread(ServerProcess, tmp_path, config=config, workers=1)
    simulator = GbDeviceSimulator(
        DeviceConfig(
            server=("127.0.0.1", server.sip_port),
            device_id=DEVICE,
            password=PASSWORD,
            local_host="127.0.0.1",
            keepalive=1.0,
            colour=COLOUR,
        )
    )
    try:
        await wait_for(upper.registered.is_set, 10)
        await simulator.start()
        channel = simulator.channels[0]

        async def listed() -> bool:
            items, _ = await upper.query_catalog()
            return channel in {item.device_id for item in items}

        await wait_for_async(listed, 10)  # once the server has the device's catalog
        items, _ = await upper.query_catalog()
        assert "command" in {item.name for item in items}  # the rooms of the workers too
        play = await upper.invite(channel, "tcp", "passive")
        await wait_for(lambda: sum(f.keyframe for f in play.frames) and len(play.frames) > 30, 8)
        assert np.abs(play.colour() - np.array(parse_colour(COLOUR))).max() < 12
        assert await upper.bye(play) == 200
        state = await asyncio.to_thread(server.client.get, "/api/v1/gb28181/upstreams")
        assert state.json()[0]["state"] == "registered"
    finally:
        await simulator.stop()
        assert await asyncio.to_thread(server.stop) == 0, server.log_path.read_text()
        await upper.stop()
