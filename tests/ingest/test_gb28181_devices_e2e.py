"""GB/T 28181 devices done properly, end to end against the real server and the device simulator:
the registry survives a restart, SHA-256 and MD5 devices register side by side, an unanswered
play INVITE is CANCELled when its source goes and when the server stops, the picture's colour
arrives over TCP active and passive, and 20-digit phones (pjsua2) stay phones."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.serverproc import ServerProcess
from ingest.gbsettings import GbSettings
from ingest.source import FieldSourceSettings
from tests.ingest.test_gb28181_e2e import (
    COLOUR,
    DEVICE,
    DOMAIN,
    PASSWORD,
    SERVER_ID,
    add_source,
    decoded_colour,
    device,
    devices,
    event_log,
    tap,
)
from tests.server.test_api import Api, make_config, running
from tests.waiting import wait_for, wait_until
from tools.gbdevice import DeviceConfig, GbDeviceSimulator, parse_colour

pytestmark = pytest.mark.slow

SHA_DEVICE = "34020000001320000002"
SETTINGS = GbSettings(
    DOMAIN, SERVER_ID, PASSWORD, keepalive_interval=0.5, digest_algorithms=("SHA-256", "MD5")
)


def _config(tmp_path: Path) -> Any:
    return replace(make_config(tmp_path), gb28181=SETTINGS)


def _simulator(config: Any, **options: Any) -> GbDeviceSimulator:
    """A device that may outlive a server (started by the test)."""
    return GbDeviceSimulator(
        DeviceConfig(
            server=("127.0.0.1", config.sip.port),
            device_id=DEVICE,
            password=PASSWORD,
            local_host="127.0.0.1",
            keepalive=0.5,
            **options,
        )
    )


def _fast_sources(api: Api) -> None:
    api.server.ingest.settings = FieldSourceSettings(
        backoff_initial=0.2, max_attempts=3, open_timeout=5.0, read_timeout=3.0
    )


async def test_the_registry_survives_a_restart_and_a_keepalive_brings_the_device_back(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)  # the same data directory and SIP port twice
    simulator = _simulator(config, channels=2)
    try:
        async with running(config) as api:
            await simulator.start()
            gb = api.server.sip.gb
            assert gb is not None
            await wait_for(lambda: any(len(d["channels"]) == 2 for d in gb.describe()), 5)
            simulator.pause_keepalive()  # the device lives on; the server restarts
        async with running(config) as api:
            events = event_log(api, "gb.device")
            [listed] = await devices(api)
            assert listed["state"] == "offline" and listed["manufacturer"] == "mediacore"
            names = sorted(c["name"] for c in listed["channels"])
            assert names == ["前门摄像机 1", "前门摄像机 2"]
            assert listed["expires_in"] > 3000  # the registration it made before the restart
            registrations = simulator.stats.registrations
            simulator.resume_keepalive()
            await wait_for(lambda: events, 5)
            assert events[0] == {"device": DEVICE, "state": "online", "reason": "keepalive"}
            assert simulator.stats.registrations == registrations  # no REGISTER was needed
            await wait_for(lambda: simulator.stats.catalog_queries == 2, 5)  # asked again
    finally:
        await simulator.stop(unregister=False)


async def test_sha256_and_md5_devices_register_side_by_side_and_are_forgotten_offline(
    tmp_path: Path,
) -> None:
    async with running(_config(tmp_path)) as api:
        async with (
            device(api) as modern,
            device(api, device_id=SHA_DEVICE, digest_algorithms=("MD5",)) as legacy,
        ):
            assert modern.stats.digest_algorithms == ["SHA-256"]
            assert legacy.stats.digest_algorithms == ["MD5"]
            listed = await devices(api)
            assert sorted(d["id"] for d in listed if d["state"] == "online") == [
                DEVICE,
                SHA_DEVICE,
            ]
            url = f"/api/v1/gb28181/devices/{DEVICE}"
            assert (await api.admin("DELETE", url)).status_code == 409  # online
        events = event_log(api, "gb.device")
        assert (await api.as_role("operator", "DELETE", url)).status_code == 403
        assert (await api.admin("DELETE", url)).status_code == 204  # offline: forgotten
        assert [d["id"] for d in await devices(api)] == [SHA_DEVICE]
        assert events == [{"device": DEVICE, "state": "removed", "reason": "deleted"}]
        missing = await api.admin("DELETE", url)
        assert missing.status_code == 404 and missing.json()["error"] == "device-not-found"


async def test_an_unanswered_invite_is_cancelled_when_its_source_goes_and_when_the_server_stops(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    simulator = _simulator(config, answer_delay=30.0)
    slow = simulator.slow
    async with running(config) as api:
        _fast_sources(api)
        await simulator.start()
        channel = simulator.channels[0]
        source_id = await add_source(api, f"gb28181://{DEVICE}/{channel}")
        await wait_for(lambda: slow.pending, 3)  # the device got the INVITE and thinks
        [call_id] = slow.pending
        deleted = await api.admin("DELETE", f"/api/v1/rooms/command/sources/{source_id}")
        assert deleted.status_code == 204
        await wait_for(lambda: slow.acked == [call_id], 3)  # CANCEL 200, INVITE 487, ACK
        assert slow.cancelled == [call_id] and simulator.stats.invites == 0
        assert api.server.sip.gb.plays == {}  # type: ignore[union-attr]
        await add_source(api, f"gb28181://{DEVICE}/{channel}")
        await wait_for(lambda: slow.pending, 3)
        [second] = slow.pending
    await simulator.stop(unregister=False)
    # the server stopped while the device still thought about the second INVITE
    assert slow.cancelled == [call_id, second] and simulator.stats.invites == 0


async def test_the_colour_arrives_over_tcp_active_and_tcp_passive(tmp_path: Path) -> None:
    config = _config(tmp_path)
    simulator = _simulator(config, colour=COLOUR)
    async with running(config) as api:  # it stops before the device: no stream ends early
        _fast_sources(api)
        await simulator.start()
        channel = simulator.channels[0]
        taps = {}
        for mode in ("tcp-active", "tcp-passive"):
            source_id = await add_source(api, f"gb28181://{DEVICE}/{channel}?transport={mode}")
            taps[mode] = tap(api, source_id)
        for mode, frames in taps.items():
            await wait_for(lambda frames=frames: sum(k for _, k in frames) >= 2, 6)  # type: ignore[misc]
            colour = decoded_colour(frames, "h264")
            assert np.abs(colour - parse_colour(COLOUR)).max() < 12, (mode, colour)
        # tcp-active: the device listened (a=setup:passive); tcp-passive: it connected
        assert sorted(simulator.stats.media_setups) == ["active", "passive"]
    await simulator.stop(unregister=False)


# -- 20-digit phones stay phones (worker mode, real phones) ------------------------------------

PHONE_TERMINAL = "34020000004000000001"  # our domain, type 400: a terminal user, a person
PHONE_NUMBER = "44010000001320000099"  # a camera's type code, but another domain
PHONE_LOOKALIKE = "34020000001320000077"  # a camera of our domain by its digits, a SIP user
PHONE_CONFIG = f"""
[gb28181]
domain = "{DOMAIN}"
server_id = "{SERVER_ID}"
password = "{PASSWORD}"

[[sip.users]]
user = "{PHONE_TERMINAL}"
password = "terminal-pw"
role = "operator"

[[sip.users]]
user = "{PHONE_NUMBER}"
password = "number-pw"
role = "operator"

[[sip.users]]
user = "{PHONE_LOOKALIKE}"
password = "lookalike-pw"
role = "operator"
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path, config=PHONE_CONFIG)
    try:
        yield process
    finally:
        assert process.stop() == 0, process.log_path.read_text()[-4000:]


def test_20_digit_phones_register_as_phones_beside_a_gb_device(server: ServerProcess) -> None:
    pytest.importorskip("pjsua2", exc_type=ImportError)
    from tests.interop.phone import Phone

    camera = subprocess.Popen(
        [
            sys.executable, "-m", "tools.gbdevice", "--server", f"127.0.0.1:{server.sip_port}",
            "--id", DEVICE, "--password", PASSWORD, "--local-host", "127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for user, password in (
            (PHONE_TERMINAL, "terminal-pw"),
            (PHONE_NUMBER, "number-pw"),
            (PHONE_LOOKALIKE, "lookalike-pw"),
        ):
            with Phone(user=user) as phone:
                since = phone.mark()
                phone.cmd(
                    "account",
                    user=user,
                    password=password,
                    registrar=f"sip:127.0.0.1:{server.sip_port}",
                )
                reg = phone.wait_event(lambda e: e["event"] == "reg", 5, since)
                assert reg["code"] == 200 and reg["active"], reg
                listed = server.client.get("/api/v1/registrations").json()
                assert user in [u["user"] for u in listed["users"]]
        online = wait_until(
            lambda: [
                d["id"]
                for d in server.client.get("/api/v1/gb28181/devices").json()
                if d["state"] == "online"
            ],
            10,
            "the camera registered",
        )
        assert online == [DEVICE]  # the phones are not devices
    finally:
        camera.terminate()
        camera.wait(10)
