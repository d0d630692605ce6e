"""GB/T 28181 recordings end to end against the device simulator (tools/gbdevice_records.py):
RecordInfo through the API with its pages, a recording played into a room (its colour decoded
from the forwarded video; it finishes on MediaStatus 121, with no reconnection), pause, resume,
seek and speed over MANSRTSP, and a download to a file, in worker mode."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
import pytest_asyncio

from bench.serverproc import ServerProcess
from ingest.gbrecords import MEDIA_STATUS_END, MediaStatus, encode_records_message
from ingest.gbsettings import GbSettings
from ingest.source import FieldSourceSettings
from mediacore.server import api_gbrecords
from sip.message import make_response
from tests.ingest.test_gb28181_e2e import (
    DEVICE,
    DOMAIN,
    PASSWORD,
    SERVER_ID,
    add_source,
    decoded_colour,
    event_log,
    source_entry,
    tap,
)
from tests.server.test_api import Api, assert_error, make_config, running
from tests.waiting import wait_for, wait_for_async
from tools.gbdevice import DeviceConfig, GbDeviceSimulator, parse_colour
from tools.gbdevice_records import DeviceRecordings

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

NOW = int(time.time()) // 60 * 60
COLOURS = ["#2080e0", "#e08020", "#20e080", "#8020e0", "#e02080"]
# five recordings of 3 s an hour ago, a minute apart; the device answers two a MESSAGE
RECORDINGS = [(COLOURS[i], NOW - 3600 + 60 * i, NOW - 3600 + 60 * i + 3) for i in range(5)]
LONG = ("#e0e020", NOW - 600, NOW - 580)  # 20 s, to pause, resume and seek
OTHER = "34020000001320000002"


def iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def spec(recording: tuple[str, int, int]) -> str:
    colour, start, end = recording
    return f"{colour}@{iso(start)}/{iso(end)}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    settings = GbSettings(DOMAIN, SERVER_ID, PASSWORD, keepalive_interval=0.5)
    config = make_config(tmp_path_factory.mktemp("gb-records"))
    async with running(replace(config, gb28181=settings)) as started:
        started.server.ingest.settings = FieldSourceSettings(
            backoff_initial=0.2, max_attempts=3, open_timeout=5.0, read_timeout=3.0
        )
        yield started


@asynccontextmanager
async def device(port: int, device_id: str = DEVICE) -> AsyncIterator[GbDeviceSimulator]:
    simulator = GbDeviceSimulator(
        DeviceConfig(
            server=("127.0.0.1", port),
            device_id=device_id,
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


async def catalogued(get: Callable[[str], Awaitable[httpx.Response]], channel: str) -> None:
    """Wait until the server lists `channel` among its devices' channels (their catalog)."""

    async def listed() -> bool:
        devices = (await get("/api/v1/gb28181/devices")).json()
        return any(c["id"] == channel for d in devices for c in d["channels"])

    await wait_for_async(listed, 10)


def records_of(simulator: GbDeviceSimulator) -> DeviceRecordings:
    recordings = simulator.recordings
    assert isinstance(recordings, DeviceRecordings)
    return recordings


def records_url(channel: str, start: int, end: int) -> str:
    base = f"/api/v1/gb28181/devices/{DEVICE}/channels/{channel}/records"
    return f"{base}?start={iso(start)}&end={iso(end)}"


def playback_url(channel: str, start: int, end: int) -> str:
    return f"gb28181://{DEVICE}/{channel}?start={iso(start)}&end={iso(end)}"


async def steer(api: Api, source_id: str, **body: Any) -> Any:
    url = f"/api/v1/rooms/command/sources/{source_id}/playback"
    return await api.as_role("operator", "POST", url, json=body)


async def test_records_arrive_from_every_page_in_time_order(api: Api) -> None:
    async with device(api.server.sip.stack.port) as simulator:
        channel = simulator.channels[0]
        response = await api.as_role("expert", "GET", records_url(channel, NOW - 7200, NOW))
        assert response.status_code == 200, response.text
        found = response.json()
        assert records_of(simulator).stats.pages == 3  # 6 recordings, 2 a MESSAGE
        expected = [(iso(s), iso(e)) for _, s, e in [*RECORDINGS, LONG]]
        got = [(r["start"].replace(".000", ""), r["end"].replace(".000", "")) for r in found]
        assert got == expected
        assert all(r["name"] == "录像" and r["channel"] == channel for r in found)
        # a range that holds only the second recording
        _, start, end = RECORDINGS[1]
        one = await api.as_role("expert", "GET", records_url(channel, start - 10, start + 1))
        assert [r["start"].replace(".000", "") for r in one.json()] == [iso(start)]
        kind = await api.as_role(
            "expert", "GET", records_url(channel, NOW - 7200, NOW) + "&type=alarm"
        )
        assert kind.status_code == 200 and kind.json() == []  # every one is a "time" recording


async def test_records_refuse_bad_ranges_unknown_devices_and_silence(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with device(api.server.sip.stack.port) as simulator:
        channel = simulator.channels[0]
        # Until its catalog arrives the server cannot tell the device's channels from others.
        await catalogued(lambda url: api.as_role("admin", "GET", url), channel)
        base = f"/api/v1/gb28181/devices/{DEVICE}/channels/{channel}/records"
        for query in (
            "",
            "?start=yesterday&end=today",
            f"?start={iso(NOW)}&end={iso(NOW)}",
            f"?start={iso(NOW - 30 * 86400)}&end={iso(NOW)}",
        ):
            assert_error(await api.as_role("expert", "GET", base + query), 400, "bad-time-range")
        wrong = await api.as_role("expert", "GET", records_url(channel, NOW - 60, NOW) + "&type=x")
        assert_error(wrong, 400, "bad-type")
        unknown = records_url(channel, NOW - 60, NOW).replace(DEVICE, "34020000001329999999")
        assert_error(await api.as_role("expert", "GET", unknown), 404, "device-not-found")
        stranger = records_url("34020000001319999999", NOW - 60, NOW)
        assert_error(await api.as_role("expert", "GET", stranger), 404, "channel-not-found")
        assert (await api.http.get(records_url(channel, NOW - 60, NOW))).status_code == 401

        def silent(request: Any) -> bool:  # takes the query, never answers it
            simulator.respond(make_response(request, 200))
            return True

        monkeypatch.setattr(records_of(simulator), "message", silent)
        monkeypatch.setattr(api_gbrecords, "RECORDS_TIMEOUT", 0.5)
        quiet = await api.as_role("expert", "GET", records_url(channel, NOW - 60, NOW))
        assert_error(quiet, 504, "device-timeout")
    offline = await api.as_role("expert", "GET", records_url(channel, NOW - 60, NOW))
    assert_error(offline, 409, "device-offline")


async def test_a_recording_plays_in_its_colour_and_finishes_without_reconnecting(
    api: Api,
) -> None:
    states = event_log(api, "source.state")
    async with device(api.server.sip.stack.port) as simulator:
        channel = simulator.channels[0]
        colour, start, end = RECORDINGS[2]
        source_id = await add_source(api, playback_url(channel, start, end))
        frames = tap(api, source_id)
        await wait_for(lambda: any(e["state"] == "live" for e in states), 5)
        [play] = api.server.sip.gb.plays.values()  # type: ignore[union-attr]
        assert play.kind == "Playback" and str(play.ssrc).startswith("1")  # annex F: 1 playback
        await wait_for(lambda: sum(k for _, k in frames) >= 2, 5)
        picture = decoded_colour(frames, "h264")
        assert np.abs(picture - parse_colour(colour)).max() < 12, picture
        await wait_for(lambda: any(e["state"] == "finished" for e in states), 6)
        assert records_of(simulator).stats.media_status == 1
        await wait_for(lambda: simulator.stats.byes == 1, 3)  # we hung up after the end
        entry = await source_entry(api, source_id)
        assert entry["state"] == "finished" and entry["reconnects"] == 0
        assert 60 <= len(frames) <= 80  # 3 s at 25 fps, once
        assert simulator.stats.invites == 1 and records_of(simulator).stats.playbacks == 1
        await api.admin("DELETE", f"/api/v1/rooms/command/sources/{source_id}")


async def test_a_device_that_hangs_up_at_the_end_of_the_recording_finished_it(
    api: Api,
) -> None:
    states = event_log(api, "source.state")
    async with device(api.server.sip.stack.port) as simulator:
        records_of(simulator).end_with = "bye"
        _, start, end = RECORDINGS[3]
        source_id = await add_source(api, playback_url(simulator.channels[0], start, end))
        await wait_for(lambda: any(e["state"] == "finished" for e in states), 8)
        entry = await source_entry(api, source_id)
        assert entry["state"] == "finished" and entry["reconnects"] == 0
        assert simulator.stats.invites == 1 and records_of(simulator).stats.media_status == 0
        await api.admin("DELETE", f"/api/v1/rooms/command/sources/{source_id}")


async def test_pause_stops_the_frames_resume_restarts_them_seek_and_speed_steer(
    api: Api,
) -> None:
    events = event_log(api, "gb.playback")
    states = event_log(api, "source.state")
    async with device(api.server.sip.stack.port) as simulator:
        channel = simulator.channels[0]
        _, start, end = LONG
        source_id = await add_source(api, playback_url(channel, start, end))
        frames = tap(api, source_id)
        await wait_for(lambda: len(frames) >= 10, 5)
        # another registered device cannot end this playback, even knowing its Call-ID
        [call_id] = api.server.sip.gb.plays  # type: ignore[union-attr]
        async with device(api.server.sip.stack.port, OTHER) as other:
            forged = MediaStatus(channel, 1, MEDIA_STATUS_END)
            sent = await other.send_document(encode_records_message(forged), call_id=call_id)
            assert sent == 200  # taken, and ignored
        await asyncio.sleep(0.5)
        assert not any(e["state"] == "finished" for e in states)
        paused = await steer(api, source_id, action="pause")
        assert paused.status_code == 200, paused.text
        assert paused.json()["state"] == "paused"
        await asyncio.sleep(0.3)  # what was on the way
        held = len(frames)
        await asyncio.sleep(1.0)
        assert len(frames) - held <= 1
        resumed = await steer(api, source_id, action="resume")
        assert resumed.status_code == 200 and resumed.json()["state"] == "live"
        await wait_for(lambda: len(frames) >= held + 10, 3)
        fast = await steer(api, source_id, action="speed", speed=2)
        assert fast.status_code == 200, fast.text
        too_far = await steer(api, source_id, action="seek", position=20)
        assert_error(too_far, 400, "bad-position")
        sought = await steer(api, source_id, action="seek", position=17)
        assert sought.status_code == 200, sought.text
        methods = [(c.method, c.position, c.scale) for c in records_of(simulator).stats.controls]
        assert methods == [
            ("PAUSE", None, None),
            ("PLAY", None, None),
            ("PLAY", None, 2.0),
            ("PLAY", 17.0, None),
        ]
        # 3 s left at twice the speed: it ends within about 1.5 s
        await wait_for(lambda: any(e["state"] == "finished" for e in states), 4)
        assert [e["action"] for e in events] == ["pause", "resume", "speed", "seek"]
        assert events[-1] == {"participant": source_id, "action": "seek", "position": 17.0}
        # a finished recording takes no more steering
        assert_error(await steer(api, source_id, action="resume"), 409, "not-playing")
        assert_error(await steer(api, source_id, action="speed", speed=8), 400, "bad-speed")
        assert_error(await steer(api, source_id, action="rewind"), 400, "bad-action")
        assert_error(await steer(api, source_id, action="seek"), 400, "bad-position")
        assert_error(await steer(api, "p-000000", action="pause"), 404, "source-not-found")
        expert = await api.as_role(
            "expert",
            "POST",
            f"/api/v1/rooms/command/sources/{source_id}/playback",
            json={"action": "pause"},
        )
        assert_error(expert, 403)
        live = await add_source(api, f"gb28181://{DEVICE}/{channel}")
        assert_error(await steer(api, live, action="pause"), 409, "not-a-playback")
        for removed in (source_id, live):
            await api.admin("DELETE", f"/api/v1/rooms/command/sources/{removed}")


async def test_records_and_download_through_a_server_in_worker_mode(tmp_path: Path) -> None:
    """`mediacore serve` with media workers: records, a download kept as a file whose picture
    is the recording's colour, and a playback source that finishes."""
    config = f'[gb28181]\ndomain = "{DOMAIN}"\nserver_id = "{SERVER_ID}"\npassword = "{PASSWORD}"\n'
    server = ServerProcess(tmp_path, config=config, workers=1)
    try:
        await _download_and_playback(server)
    finally:
        assert server.stop() == 0, server.log_path.read_text()


async def _download_and_playback(server: ServerProcess) -> None:
    async def call(method: str, url: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(server.client.request, method, url, **kwargs)

    async with device(server.sip_port) as simulator:
        channel = simulator.channels[0]

        await catalogued(lambda url: call("GET", url), channel)
        found = (await call("GET", records_url(channel, NOW - 7200, NOW))).json()
        assert len(found) == 6
        colour, start, end = RECORDINGS[0]
        created = await call(
            "POST",
            f"/api/v1/gb28181/devices/{DEVICE}/channels/{channel}/downloads",
            json={"start": iso(start), "end": iso(end), "speed": 4, "transport": "tcp"},
        )
        assert created.status_code == 202, created.text
        job = created.json()
        started = time.monotonic()
        while job["state"] == "running":
            assert time.monotonic() - started < 8, job
            await asyncio.sleep(0.2)
            job = (await call("GET", f"/api/v1/gb28181/downloads/{job['id']}")).json()
        assert job["state"] == "done" and job["progress"] == 1.0, job
        assert time.monotonic() - started < 2.5  # 3 s of recording at 4x
        assert records_of(simulator).stats.downloads == 1
        fetched = await call("GET", job["url"])
        assert fetched.status_code == 200 and len(fetched.content) == job["bytes"] > 10_000
        path = Path(server.data_dir) / "received.mpg"
        path.write_bytes(fetched.content)
        with av.open(str(path)) as container:
            streams = {s.type: s.codec_context.name for s in container.streams}
            assert streams == {"video": "h264", "audio": "pcm_alaw"}
            pictures = [f for f in container.decode(video=0)]
        assert 70 <= len(pictures) <= 76  # 3 s at 25 fps
        rgb = pictures[-1].to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
        assert np.abs(rgb - parse_colour(colour)).max() < 12, rgb
        # a playback source in a room of a worker finishes too
        url = playback_url(channel, *RECORDINGS[1][1:])
        added = await call("POST", "/api/v1/rooms/command/sources", json={"url": url})
        assert added.status_code == 201, added.text

        async def state() -> str:
            listed = (await call("GET", "/api/v1/rooms/command/sources")).json()
            return str(next(s for s in listed if s["id"] == added.json()["id"])["state"])

        deadline = time.monotonic() + 8
        while await state() != "finished":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        missing = await call("GET", "/api/v1/gb28181/downloads/dl-000000000000")
        assert missing.status_code == 404
        # a range the device has nothing for: its 404 fails the job, and no file is left
        refused = await call(
            "POST",
            f"/api/v1/gb28181/devices/{DEVICE}/channels/{channel}/downloads",
            json={"start": iso(NOW - 100), "end": iso(NOW - 90)},
        )
        assert refused.status_code == 202, refused.text
        failed = refused.json()
        deadline = time.monotonic() + 5
        while failed["state"] == "running":
            assert time.monotonic() < deadline, failed
            await asyncio.sleep(0.2)
            failed = (await call("GET", f"/api/v1/gb28181/downloads/{failed['id']}")).json()
        assert failed["state"] == "failed" and "404" in failed["error"] and failed["url"] is None
        kept = sorted(p.name for p in (Path(server.data_dir) / "gb28181" / "downloads").iterdir())
        assert kept == [f"{job['id']}.mpg"]
