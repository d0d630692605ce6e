"""Attacks on what only some may change, through the ASGI app: retention (which makes the
hourly sweep delete recordings), export floods from one address, and oversized bodies."""

from __future__ import annotations

import asyncio
import stat
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.server.test_api import Api, assert_error, make_config, running
from tests.server.test_api_recordings import recorded


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running(make_config(tmp_path)) as started:
        yield started


@pytest.mark.parametrize("setting", ["retention_days", "retention_max_mb"])
async def test_a_commander_cannot_set_the_retention_that_deletes_recordings(
    api: Api, setting: str
) -> None:
    recording = await recorded(api)
    changed = await api.as_role("commander", "PATCH", "/api/v1/rooms/command", json={setting: 1})
    assert "only an admin" in assert_error(changed, 403, "forbidden")
    created = await api.as_role(
        "commander", "POST", "/api/v1/rooms", json={"name": "burner", setting: 1}
    )
    assert_error(created, 403, "forbidden")
    assert (await api.admin("GET", "/api/v1/rooms/burner")).status_code == 404
    room = (await api.admin("GET", "/api/v1/rooms/command")).json()
    assert room[setting] == 0
    assert await api.server.recorder.apply_retention() == []
    assert (await api.as_role("reviewer", "GET", f"/api/v1/recordings/{recording}")).is_success
    # the rest of a room's settings stay the commander's; retention the admin's
    other = await api.as_role(
        "commander", "PATCH", "/api/v1/rooms/command", json={"floor": "queue"}
    )
    assert other.status_code == 200, other.text
    assert (await api.admin("PATCH", "/api/v1/rooms/command", json={setting: 30})).is_success


@pytest.fixture
def blocked_exports(api: Api) -> Iterator[threading.Event]:
    """The export executor held busy, so jobs stay queued until the event is set."""
    release = threading.Event()
    executor = ThreadPoolExecutor(max_workers=1)
    executor.submit(release.wait, 30)
    api.server.exports.executor = executor
    yield release
    release.set()
    executor.shutdown(wait=True)


async def test_one_address_may_queue_only_a_few_exports(
    api: Api, blocked_exports: threading.Event
) -> None:
    recording = await recorded(api)
    url = f"/api/v1/recordings/{recording}/exports"
    limit = api.server.config.server.max_exports_per_address
    for _ in range(limit):
        accepted = await api.as_role("reviewer", "POST", url, json={})
        assert accepted.status_code == 202, accepted.text
    flooded = await api.as_role("reviewer", "POST", url, json={})
    assert_error(flooded, 429, "too-many-exports")
    blocked_exports.set()

    async def finished() -> bool:
        jobs = api.server.exports.jobs.values()
        return all(job.state in ("done", "failed") for job in jobs)

    for _ in range(100):
        if await finished():
            break
        await asyncio.sleep(0.05)
    done = [job for job in api.server.exports.jobs.values() if job.path is not None]
    assert done and {stat.S_IMODE(job.path.stat().st_mode) for job in done} == {0o640}
    again = await api.as_role("reviewer", "POST", url, json={})
    assert again.status_code == 202, again.text


async def test_bodies_past_the_limit_are_413_and_unauthenticated_ones_401_first(
    api: Api,
) -> None:
    huge = b"{" + b" " * (api.server.config.server.max_body_bytes + 1) + b"}"
    assert_error(
        await api.http.post("/api/v1/rooms", content=huge, headers={"content-type": "x"}),
        401,
        "unauthorized",
    )
    assert_error(await api.admin("POST", "/api/v1/rooms", content=huge), 413, "too-large")

    async def endless() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for _ in range(1000):
            yield b" " * 65536

    streamed = await api.admin("POST", "/api/v1/rooms", content=endless())
    assert_error(streamed, 413, "too-large")
