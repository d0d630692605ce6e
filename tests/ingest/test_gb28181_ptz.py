"""PTZ and presets (云台控制, 预置位) end to end: `mediacore serve` (media workers on) with a
[gb28181] section, the simulated device (tools/gbdevice.py) registered to it, and the API:
every action arrives at the device as the exact PTZCmd bytes of GB/T 28181 annex A.3, presets
are set, listed, called and deleted on the device, each command is a `gb.ptz` event and an
audit entry, and bad requests, unknown or offline devices and refusing or silent devices get
their 4xx/5xx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets

from bench.serverproc import TOKEN, ServerProcess
from ingest.gbsettings import GbSettings
from tests.ingest.test_gb28181_e2e import DOMAIN, PASSWORD, SERVER_ID
from tests.server.test_api import make_config, running
from tests.waiting import wait_for, wait_for_async
from tools.gbdevice import DeviceConfig, GbDeviceSimulator

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

DEVICE = "34020000001320000031"
OTHER = "34020000001320000032"
OPERATOR = "operator-token-for-ptz-tests"
EXPERT = "expert-token-for-ptz-tests"
CONFIG = f"""
[gb28181]
domain = "{DOMAIN}"
server_id = "{SERVER_ID}"
password = "{PASSWORD}"
keepalive_interval = 1

[[auth.tokens]]
token = "{OPERATOR}"
role = "operator"
name = "Operator Li"

[[auth.tokens]]
token = "{EXPERT}"
role = "expert"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = ServerProcess(tmp_path_factory.mktemp("gbptz"), config=CONFIG)
    try:
        yield started
    finally:
        assert started.stop() == 0, started.log_path.read_text()


def simulator(port: int, device_id: str = DEVICE) -> GbDeviceSimulator:
    config = DeviceConfig(
        server=("127.0.0.1", port),
        device_id=device_id,
        password=PASSWORD,
        local_host="127.0.0.1",
        keepalive=1.0,
        channels=2,
    )
    return GbDeviceSimulator(config)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def camera(server: ServerProcess) -> AsyncIterator[GbDeviceSimulator]:
    """The device, registered, its catalog of two channels listed by the server."""
    device = simulator(server.sip_port)
    await device.start()
    async with client(server, TOKEN) as admin:

        async def listed() -> bool:
            devices = (await admin.get("/api/v1/gb28181/devices")).json()
            return any(len(d["channels"]) == 2 for d in devices if d["id"] == DEVICE)

        await wait_for_async(listed, 10)
    try:
        yield device
    finally:
        await device.stop()


@asynccontextmanager
async def client(server: ServerProcess, token: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """An async client: the device simulator answers the server on this same event loop."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=20) as http:
        yield http


def ptz_path(device: str, channel: str) -> str:
    return f"/api/v1/gb28181/devices/{device}/channels/{channel}/ptz"


async def test_each_pad_action_reaches_the_camera_as_the_exact_ptzcmd(
    server: ServerProcess, camera: GbDeviceSimulator
) -> None:
    channel = camera.channels[1]
    steps = [
        ({"action": "left", "speed": 0x1F}, "A50F01021F0000D6"),
        ({"action": "stop"}, "A50F0100000000B5"),
        ({"action": "up", "speed": 0x1F}, "A50F0108001F00DC"),
        ({"action": "zoom_in", "speed": 0x10}, "A50F0110000010D5"),
        ({"action": "zoom_out", "speed": 0x1F}, "A50F0120000010E5"),
        ({"action": "up_left", "speed": 0xFA}, "A50F010AFAFA00B3"),
        ({"action": "stop", "speed": 0}, "A50F0100000000B5"),
    ]
    before = len(camera.ptz.received)
    url = server.url.replace("http", "ws", 1) + f"/api/v1/events?token={OPERATOR}"
    async with websockets.connect(url) as events, client(server, OPERATOR) as operator:
        for body, expected in steps:
            response = await operator.post(ptz_path(DEVICE, channel), json=body)
            assert response.status_code == 200, response.text
            answer = response.json()
            assert answer["command"] == expected and answer["action"] == body["action"]
        said = []
        while len(said) < len(steps):
            event = json.loads(await asyncio.wait_for(events.recv(), 5))
            if event["type"] == "gb.ptz":
                said.append(event)
    received = camera.ptz.received[before:]
    assert [(r.channel, r.text) for r in received] == [(channel, text) for _, text in steps]
    assert [e["command"] for e in said] == [text for _, text in steps]
    assert said[0]["device"] == DEVICE and said[0]["channel"] == channel
    assert said[0]["by"] == "Operator Li" and said[0]["action"] == "left"
    async with client(server, TOKEN) as admin:
        audit = (await admin.get("/api/v1/audit", params={"action": "ptz"})).json()
    mine = [entry for entry in audit if entry["who"] == "Operator Li"]
    assert len(mine) >= len(steps) and all(entry["result"] == 200 for entry in mine)


async def test_presets_are_set_listed_called_and_deleted_on_the_camera(
    server: ServerProcess, camera: GbDeviceSimulator
) -> None:
    channel = camera.channels[0]
    async with client(server, OPERATOR) as operator:
        for action, number in (("preset_set", 3), ("preset_set", 7), ("preset_delete", 3)):
            body = {"action": action, "preset": number}
            response = await operator.post(ptz_path(DEVICE, channel), json=body)
            assert response.status_code == 200, response.text
            assert response.json()["preset"] == number
        listed = await operator.get(f"/api/v1/gb28181/devices/{DEVICE}/channels/{channel}/presets")
        assert listed.status_code == 200, listed.text
        assert listed.json() == [{"id": 7, "name": "预置位7"}]
        called = await operator.post(
            ptz_path(DEVICE, channel), json={"action": "preset_call", "preset": 7}
        )
        assert called.json()["command"] == "A50F01820007003E"
    assert camera.ptz.called[channel] == 7
    assert camera.ptz.commands(channel)[-4:] == [
        "A50F018100030039",
        "A50F01810007003D",
        "A50F01830003003B",
        "A50F01820007003E",
    ]


@pytest.mark.parametrize(
    ("token", "device", "body", "status", "error", "detail"),
    [
        (OPERATOR, DEVICE, {"action": "spin"}, 400, "invalid-ptz", "action must be one of"),
        (OPERATOR, DEVICE, {"action": "left", "speed": 300}, 400, "invalid-ptz", "speed"),
        (OPERATOR, DEVICE, {"action": "preset_call"}, 400, "invalid-ptz", "needs preset"),
        (OPERATOR, "34020000001320009999", {"action": "left"}, 404, "device-not-found", "no"),
        (EXPERT, DEVICE, {"action": "left"}, 403, "forbidden", "cameras:control"),
        (None, DEVICE, {"action": "left"}, 401, "unauthorized", "Bearer"),
    ],
)
async def test_bad_requests_get_a_4xx_and_reach_no_camera(
    server: ServerProcess,
    camera: GbDeviceSimulator,
    token: str | None,
    device: str,
    body: dict[str, Any],
    status: int,
    error: str,
    detail: str,
) -> None:
    before = len(camera.ptz.received)
    async with client(server, token) as caller:
        response = await caller.post(ptz_path(device, camera.channels[0]), json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error and detail in response.json()["detail"]
    assert len(camera.ptz.received) == before


async def test_unknown_channel_is_404_and_an_offline_device_409(
    server: ServerProcess, camera: GbDeviceSimulator
) -> None:
    async with client(server, OPERATOR) as operator:
        stranger = f"{DOMAIN}1319999999"
        response = await operator.post(ptz_path(DEVICE, stranger), json={"action": "up"})
        assert response.status_code == 404 and response.json()["error"] == "channel-not-found"
        other = simulator(server.sip_port, OTHER)
        await other.start()
        await other.stop()  # unregisters: the device is known, and offline
        response = await operator.post(ptz_path(OTHER, OTHER), json={"action": "up"})
        assert response.status_code == 409, response.text
        assert "offline" in response.json()["detail"]


async def test_a_refusing_camera_is_a_502(server: ServerProcess, camera: GbDeviceSimulator) -> None:
    camera.ptz.refuse = 403
    try:
        async with client(server, OPERATOR) as operator:
            response = await operator.post(
                ptz_path(DEVICE, camera.channels[0]), json={"action": "down"}
            )
    finally:
        camera.ptz.refuse = None
    assert response.status_code == 502, response.text
    assert response.json()["error"] == "device-refused" and "403" in response.json()["detail"]


async def test_a_silent_camera_is_a_504(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In process, so that the platform's MESSAGE timeout can be made short."""
    monkeypatch.setattr("ingest.gbplatform.REQUEST_TIMEOUT", 0.5)
    monkeypatch.setattr("ingest.gbcamera.PRESET_TIMEOUT", 0.5)
    settings = GbSettings(DOMAIN, SERVER_ID, PASSWORD)
    async with running(replace(make_config(tmp_path), gb28181=settings)) as api:
        device = simulator(api.server.sip.stack.port)
        await device.start()
        try:
            channel = device.channels[0]
            gb = api.server.sip.gb
            assert gb is not None
            await wait_for(lambda: len(gb.describe()[0]["channels"]) == 2, 5)
            device.ptz.silent = True
            response = await api.as_role("operator", "POST", ptz_path(DEVICE, channel), json={})
            assert response.status_code == 400  # no action: refused before the device
            body = {"action": "left"}
            response = await api.as_role("operator", "POST", ptz_path(DEVICE, channel), json=body)
            assert response.status_code == 504, response.text
            assert response.json()["error"] == "device-timeout"
            presets = f"/api/v1/gb28181/devices/{DEVICE}/channels/{channel}/presets"
            response = await api.as_role("operator", "GET", presets)
            assert response.status_code == 504, response.text
        finally:
            await device.stop()


async def test_without_gb28181_configured_every_camera_is_unknown(tmp_path: Path) -> None:
    async with running(make_config(tmp_path)) as plain:
        path = ptz_path(DEVICE, DEVICE)
        response = await plain.as_role("operator", "POST", path, json={"action": "stop"})
        assert response.status_code == 404 and "not configured" in response.json()["detail"]
