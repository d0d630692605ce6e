"""GB/T 28181 devices end to end: the simulated device (tools/gbdevice.py) registers to the real
server over UDP and TCP SIP, its catalog reaches the API, and its channel plays into a room over
RTP/UDP and RFC 4571 TCP; the forwarded video is decoded and its colour checked."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest

from bench.serverproc import ServerProcess
from ingest.gbreader import gb_target
from ingest.gbsettings import GbSettings
from ingest.source import FieldSourceSettings
from mediacore.events import Event
from mediacore.videohub import VideoHub
from tests.server.test_api import Api, make_config, running
from tests.waiting import wait_for, wait_until
from tools.gbdevice import DeviceConfig, GbDeviceSimulator, parse_colour

DOMAIN = "3402000000"
SERVER_ID = "34020000002000000001"
PASSWORD = "gb-secret"
DEVICE = "34020000001320000001"
COLOUR = "#2080e0"  # no channel at 0 or 255: a wrong colour conversion shows

pytestmark = pytest.mark.slow


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = GbSettings(DOMAIN, SERVER_ID, PASSWORD, keepalive_interval=0.5)
    async with running(replace(make_config(tmp_path), gb28181=settings)) as started:
        started.server.ingest.settings = FieldSourceSettings(
            backoff_initial=0.2, max_attempts=3, open_timeout=5.0, read_timeout=3.0
        )
        yield started


def simulator_for(api: Api, sip_transport: str = "udp", **options: Any) -> GbDeviceSimulator:
    config = DeviceConfig(
        server=("127.0.0.1", api.server.sip.stack.port),
        device_id=options.pop("device_id", DEVICE),
        password=options.pop("password", PASSWORD),
        transport=sip_transport,
        local_host="127.0.0.1",
        keepalive=0.5,
        colour=COLOUR,
        **options,
    )
    return GbDeviceSimulator(config)


@asynccontextmanager
async def device(
    api: Api, sip_transport: str = "udp", **options: Any
) -> AsyncIterator[GbDeviceSimulator]:
    simulator = simulator_for(api, sip_transport, **options)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def event_log(api: Api, kind: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []

    def listen(event: Event) -> None:
        if event.type == kind:
            events.append(dict(event.data))

    api.server.bus.listen(listen)
    return events


async def devices(api: Api) -> list[dict[str, Any]]:
    response = await api.as_role("operator", "GET", "/api/v1/gb28181/devices")
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()
    return listed


async def add_source(api: Api, url: str) -> str:
    response = await api.admin(
        "POST", "/api/v1/rooms/command/sources", json={"url": url, "name": "前门"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def source_entry(api: Api, source_id: str) -> dict[str, Any]:
    listed: list[dict[str, Any]] = (await api.admin("GET", "/api/v1/rooms/command/sources")).json()
    return next(s for s in listed if s["id"] == source_id)


def hub(api: Api) -> VideoHub:
    return api.server.ingest.hub  # the server's one hub, typed in full


def tap(api: Api, source_id: str) -> list[tuple[bytes, bool]]:
    """Every frame the room's video source forwards from now on."""
    frames: list[tuple[bytes, bool]] = []
    video = hub(api).get(source_id)
    video.add_tap(lambda packet, keyframe: frames.append((bytes(packet), keyframe)))
    return frames


def decoded_colour(frames: list[tuple[bytes, bool]], codec: str) -> npt.NDArray[np.float64]:
    """Mean RGB of the last picture decoded from the forwarded frames (from a keyframe on)."""
    decoder: Any = av.CodecContext.create(codec, "r")
    start = next(i for i, (_, keyframe) in enumerate(frames) if keyframe)
    pictures = []
    for data, _ in frames[start:]:
        pictures += decoder.decode(av.Packet(data))
    assert len(pictures) >= len(frames[start:]) - 2  # every frame decodes
    rgb = pictures[-1].to_ndarray(format="rgb24")
    return np.asarray(rgb.reshape(-1, 3).mean(axis=0), dtype=np.float64)


# -- registration and catalog ---------------------------------------------------------------


@pytest.mark.parametrize("sip_transport", ["udp", "tcp"])
async def test_device_registers_with_digest_and_its_catalog_reaches_the_api(
    api: Api, sip_transport: str
) -> None:
    events = event_log(api, "gb.device")
    async with device(api, sip_transport, channels=2) as simulator:
        assert simulator.registered
        gb = api.server.sip.gb
        assert gb is not None
        await wait_for(lambda: any(len(d["channels"]) == 2 for d in gb.describe()), 5)
        listed = await devices(api)
        assert [d["id"] for d in listed] == [DEVICE]
        found = listed[0]
        assert found["state"] == "online" and found["transport"] == sip_transport
        assert (found["manufacturer"], found["model"]) == ("mediacore", "GBSIM-1")
        assert found["name"] == "模拟设备"  # DeviceInfo, sent in GB2312
        names = sorted(c["name"] for c in found["channels"])
        assert names == ["前门摄像机 1", "前门摄像机 2"]
        assert {c["id"] for c in found["channels"]} == set(simulator.channels)
        assert all((c["longitude"], c["latitude"]) == (116.397, 39.909) for c in found["channels"])
        assert simulator.stats.catalog_queries == 1 and simulator.stats.info_queries == 1
        await wait_for(lambda: simulator.stats.keepalive_statuses[-2:] == [200, 200], 3)
        single = await api.as_role("operator", "GET", f"/api/v1/gb28181/devices/{DEVICE}")
        assert single.status_code == 200 and single.json()["id"] == DEVICE
    # leaving unregisters (Expires: 0)
    assert [(e["state"], e["reason"]) for e in events] == [
        ("online", "registered"),
        ("offline", "unregistered"),
    ]
    assert (await devices(api))[0]["state"] == "offline"


async def test_bad_password_is_challenged_then_refused_403(api: Api) -> None:
    with pytest.raises(RuntimeError, match="registration failed: 403"):
        async with device(api, password="not-the-password"):
            pass
    assert await devices(api) == []
    missing = await api.as_role("operator", "GET", f"/api/v1/gb28181/devices/{DEVICE}")
    assert missing.status_code == 404


async def test_device_list_needs_a_token(api: Api) -> None:
    response = await api.http.get("/api/v1/gb28181/devices")
    assert response.status_code == 401


async def test_silent_device_goes_offline_after_three_keepalive_intervals_and_back(
    api: Api,
) -> None:
    events = event_log(api, "gb.device")
    async with device(api) as simulator:
        await wait_for(lambda: events, 2)
        simulator.pause_keepalive()
        paused = time.monotonic()
        await wait_for(lambda: any(e["state"] == "offline" for e in events), 4)
        silent = time.monotonic() - paused
        assert 1.0 <= silent <= 3.0  # 3 x 0.5 s, after the last keepalive, checked every 0.125 s
        assert events[-1] == {"device": DEVICE, "state": "offline", "reason": "keepalive-timeout"}
        simulator.resume_keepalive()
        await wait_for(lambda: events[-1]["state"] == "online", 3)
        assert events[-1]["reason"] == "keepalive"


# -- live play --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sip_transport", "media"), [("udp", "udp"), ("tcp", "tcp"), ("udp", "tcp")]
)
async def test_channel_plays_into_the_room_and_its_colour_arrives(
    api: Api, sip_transport: str, media: str
) -> None:
    states = event_log(api, "source.state")
    async with device(api, sip_transport) as simulator:
        channel = simulator.channels[0]
        source_id = await add_source(api, f"gb28181://{DEVICE}/{channel}?transport={media}")
        frames = tap(api, source_id)
        await wait_for(lambda: any(e["state"] == "live" for e in states), 5)
        await wait_for(lambda: sum(k for _, k in frames) >= 2, 5)  # one keyframe a second
        colour = decoded_colour(frames, "h264")
        assert np.abs(colour - parse_colour(COLOUR)).max() < 12, colour
        entry = await source_entry(api, source_id)
        assert entry["state"] == "live" and entry["codec"] == "H264"
        assert (entry["width"], entry["height"]) == (320, 240)
        assert entry["audio_codec"] == "pcma" and entry["audio_rate"] == 8000
        assert entry["audio_frames"] >= 25  # one 40 ms G.711 frame per video frame
        [play] = simulator.plays.values()
        assert play.stream.ssrc == next(iter(api.server.sip.gb.plays.values())).ssrc  # type: ignore[union-attr]
        assert simulator.stats.byes == 0
        deleted = await api.admin("DELETE", f"/api/v1/rooms/command/sources/{source_id}")
        assert deleted.status_code == 204
        await wait_for(lambda: simulator.stats.byes == 1, 3)
        assert simulator.plays == {} and api.server.sip.gb.plays == {}  # type: ignore[union-attr]


async def test_h265_channel_is_carried_as_h265(api: Api) -> None:
    async with device(api, codec="h265") as simulator:
        source_id = await add_source(api, f"gb28181://{DEVICE}/{simulator.channels[0]}")
        frames = tap(api, source_id)
        await wait_for(lambda: sum(k for _, k in frames) >= 2, 6)
        entries = {s["id"]: s for s in hub(api).sources()}
        assert entries[source_id]["codec"] == "H265"
        colour = decoded_colour(frames, "hevc")
        assert np.abs(colour - parse_colour(COLOUR)).max() < 12, colour


async def test_reader_hands_on_the_g711_tone_as_8khz_float_pcm(api: Api) -> None:
    async with device(api) as simulator:
        factory = api.server.ingest.readers["gb28181"]
        reader = factory(
            gb_target(f"gb28181://{DEVICE}/{simulator.channels[0]}"), FieldSourceSettings()
        )
        opened: list[dict[str, Any]] = []
        audio: list[tuple[npt.NDArray[np.float32], int]] = []
        errors: list[BaseException] = []

        def work() -> None:
            try:
                reader.run(
                    opened.append, lambda *_: None, lambda pcm, rate: audio.append((pcm, rate))
                )
            except BaseException as error:  # noqa: BLE001 - handed to the test
                errors.append(error)

        thread = threading.Thread(target=work)
        thread.start()
        await wait_for(lambda: len(audio) >= 50, 6)
        reader.abort()
        await asyncio.to_thread(thread.join, 5)
        assert not thread.is_alive() and errors == []
        assert opened[0]["codec"] == "h264" and opened[0]["audio_codec"] == "pcma"
        assert {rate for _, rate in audio} == {8000}
        pcm = np.concatenate([p for p, _ in audio])
        assert pcm.dtype == np.float32
        spectrum = np.abs(np.fft.rfft(pcm[:8000] * np.hanning(8000)))
        assert abs(np.argmax(spectrum) - 1000) <= 1  # 1 Hz bins: the tone is at 1 kHz
        rms = float(np.sqrt(np.mean(pcm**2)))
        assert 0.33 < rms < 0.38  # a 0.5 sine: 0.354
        await wait_for(lambda: simulator.stats.byes == 1, 3)  # the reader said BYE


async def test_unknown_device_fails_the_source_at_once_with_a_reason(api: Api) -> None:
    states = event_log(api, "source.state")
    source_id = await add_source(api, f"gb28181://{DEVICE}/34020000001310000001")
    await wait_for(lambda: any(e["state"] == "failed" for e in states), 5)
    entry = await source_entry(api, source_id)
    assert entry["state"] == "failed" and entry["reconnects"] == 0
    assert f"unknown GB/T 28181 device {DEVICE}" in entry["reason"]


async def test_a_channel_the_device_does_not_have_fails_with_its_404(api: Api) -> None:
    states = event_log(api, "source.state")
    async with device(api):
        source_id = await add_source(api, f"gb28181://{DEVICE}/34020000001319999999")
        await wait_for(lambda: any(e["state"] == "failed" for e in states), 5)
        entry = await source_entry(api, source_id)
        assert "404" in entry["reason"] and entry["reconnects"] == 0


async def test_device_bye_makes_the_source_reconnect_and_play_again(api: Api) -> None:
    states = event_log(api, "source.state")
    async with device(api) as simulator:
        source_id = await add_source(api, f"gb28181://{DEVICE}/{simulator.channels[0]}")
        await wait_for(lambda: any(e["state"] == "live" for e in states), 5)
        simulator.hang_up()
        await wait_for(lambda: any(e["state"] == "reconnecting" for e in states), 3)
        reason = next(e["reason"] for e in states if e["state"] == "reconnecting")
        assert "BYE" in reason
        await wait_for(lambda: [e["state"] for e in states].count("live") == 2, 5)
        assert simulator.stats.invites == 2
        entry = await source_entry(api, source_id)
        assert entry["state"] == "live" and entry["reconnects"] == 1


@pytest.mark.parametrize("gone", [False, True], ids=["listening", "gone-silently"])
async def test_stopping_the_server_ends_each_play_with_bye_without_waiting_out_a_gone_device(
    tmp_path: Path, gone: bool
) -> None:
    """The server's stop sends BYE for a live play; a device that vanished without
    unregistering (still online to us) is waited for a moment, not the 10 s transaction."""
    settings = GbSettings(DOMAIN, SERVER_ID, PASSWORD, keepalive_interval=5.0)
    server: Any = running(replace(make_config(tmp_path), gb28181=settings))
    api = await server.__aenter__()
    simulator = simulator_for(api)
    try:
        await simulator.start()
        states = event_log(api, "source.state")
        await add_source(api, f"gb28181://{DEVICE}/{simulator.channels[0]}")
        await wait_for(lambda: any(e["state"] == "live" for e in states), 5)
        if gone:
            await simulator.stop(unregister=False)
        began = time.monotonic()
        stopping, server = server, None
        await stopping.__aexit__(None, None, None)
        assert time.monotonic() - began < 5.0  # not REQUEST_TIMEOUT (10 s) per play
        if not gone:
            await wait_for(lambda: simulator.stats.byes == 1, 3)
    finally:
        if server is not None:
            await server.__aexit__(None, None, None)
        await simulator.stop(unregister=False)


async def test_gb_url_without_gb28181_configured_is_a_400(tmp_path: Path) -> None:
    async with running(make_config(tmp_path)) as plain:
        response = await plain.admin(
            "POST",
            "/api/v1/rooms/command/sources",
            json={"url": f"gb28181://{DEVICE}/34020000001310000001"},
        )
        assert response.status_code == 400 and "[gb28181]" in response.json()["detail"]
        listed = await plain.admin("GET", "/api/v1/gb28181/devices")
        assert listed.json() == []


def test_server_process_and_simulator_process_from_their_command_lines(tmp_path: Path) -> None:
    """`mediacore serve` with a [gb28181] config file, and `python -m tools.gbdevice` over TCP."""
    config = f'[gb28181]\ndomain = "{DOMAIN}"\nserver_id = "{SERVER_ID}"\npassword = "{PASSWORD}"\n'
    server = ServerProcess(tmp_path, config=config)
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tools.gbdevice",
            "--server",
            f"127.0.0.1:{server.sip_port}",
            "--id",
            DEVICE,
            "--password",
            PASSWORD,
            "--transport",
            "tcp",
            "--local-host",
            "127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def channels() -> list[dict[str, Any]]:
            listed = server.client.get("/api/v1/gb28181/devices").json()
            return [c for d in listed if d["state"] == "online" for c in d["channels"]]

        [channel] = wait_until(channels, 10, "the device's channel online")
        url = f"gb28181://{DEVICE}/{channel['id']}?transport=tcp"
        created = server.client.post("/api/v1/rooms/command/sources", json={"url": url})
        assert created.status_code == 201, created.text

        def live() -> dict[str, Any] | None:
            listed = server.client.get("/api/v1/rooms/command/sources").json()
            return next((s for s in listed if s["state"] == "live" and s["bitrate"] > 0), None)

        entry = wait_until(live, 10, "the channel live as a source")
        assert (entry["codec"], entry["width"], entry["height"]) == ("H264", 320, 240)
        removed = server.client.delete(f"/api/v1/rooms/command/sources/{entry['id']}")
        assert removed.status_code == 204
    finally:
        simulator.terminate()
        simulator.wait(10)
        assert server.stop() == 0, server.log_path.read_text()
