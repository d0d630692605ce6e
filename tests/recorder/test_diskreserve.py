"""The disk reserve of running recordings: exports are refused before they would eat into it,
and stopped (no file left) when the disk reaches it while they write."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from recorder.diskreserve import DiskReserve, DiskReserveError
from recorder.exportjobs import ExportJobs, estimated_bytes
from tests.recorder.test_export import SECONDS, at, recording  # noqa: F401 - the fixture

MB = 1_000_000


def test_an_export_may_not_eat_into_the_reserve_while_a_recording_runs(tmp_path: Path) -> None:
    live = [True]
    reserve = DiskReserve(100 * MB, lambda: live[0], free=lambda _path: 150 * MB)
    reserve.admit(tmp_path, 40 * MB)  # 110 MB stay free
    with pytest.raises(DiskReserveError, match="a recording is running: 100 MB"):
        reserve.admit(tmp_path, 60 * MB)
    live[0] = False
    reserve.admit(tmp_path, 140 * MB)  # nothing is recording: the disk is the exports' too
    assert DiskReserve(0, lambda: True, free=lambda _path: 0).admit(tmp_path, MB) is None


def test_the_watch_looks_at_the_disk_at_most_twice_a_second(tmp_path: Path) -> None:
    free, now = [200 * MB], [0.0]
    looks: list[int] = []

    def disk(_path: Path) -> int:
        looks.append(free[0])
        return free[0]

    check = DiskReserve(100 * MB, lambda: True, free=disk, clock=lambda: now[0]).watch(tmp_path)
    check()
    free[0] = 50 * MB
    check()  # within half a second: not looked at
    assert len(looks) == 1
    now[0] = 0.6
    with pytest.raises(DiskReserveError):
        check()


def test_estimates_follow_the_slice_and_the_tracks(
    recording: tuple[Path, dict[str, Any]],  # noqa: F811
) -> None:
    _, manifest = recording
    assert estimated_bytes(manifest, at(0), at(2), ["p-bob-8000"], "wav") == 2 * 8000 * 2
    assert estimated_bytes(manifest, at(0), at(2), None, "wav") == 2 * 48000 * 2


async def test_an_export_that_reaches_the_reserve_stops_and_leaves_no_file(
    recording: tuple[Path, dict[str, Any]],  # noqa: F811
    tmp_path: Path,
) -> None:
    directory, manifest = recording
    looks = [0]

    def disk(_path: Path) -> int:
        """Room for the export when it starts; the disk has filled by its first chunk."""
        looks[0] += 1
        return 10_000 * MB if looks[0] == 1 else 50 * MB

    reserve = DiskReserve(100 * MB, lambda: True, free=disk, clock=_ticking())
    folder = tmp_path / "exports"
    with ThreadPoolExecutor(1) as executor:
        jobs = ExportJobs(folder, executor, reserve=reserve)
        job = jobs.start(directory, manifest, start=at(0), end=at(SECONDS), tracks=None, fmt="wav")
        for _ in range(500):
            if job.state in ("done", "failed"):
                break
            await asyncio.sleep(0.01)
        assert job.state == "failed" and "a recording is running" in str(job.error)
        assert list(folder.iterdir()) == []
        with pytest.raises(DiskReserveError):
            jobs.start(directory, manifest, start=at(0), end=at(SECONDS), tracks=None, fmt="wav")


def _ticking() -> Any:
    """A clock that moves a second per look, so the watch looks at the disk every time."""
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    return clock
