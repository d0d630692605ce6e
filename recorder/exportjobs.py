"""Export jobs: a time slice of a recording rendered in the background, with progress.

An hour of mixed audio takes seconds to minutes; the API answers at once with a job, the
client polls it (or the CLI shows a progress bar), then downloads the file."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mediacore.clock import MONOTONIC, Clock
from recorder.diskreserve import DiskReserve
from recorder.export import ExportError, ExportResult, export_slice
from recorder.filemode import make_directory
from recorder.recordingid import new_export_id
from recorder.videoexport import export_suffix, export_video_slice

log = logging.getLogger(__name__)

KEEP_JOBS = 50  # finished jobs remembered; their files are removed with them
KEEP_SECONDS = 3600.0
UNFINISHED = ("queued", "running")


@dataclass(slots=True)
class ExportJob:
    id: str
    recording: str
    fmt: str
    state: str = "queued"  # queued, running, done, failed
    progress: float = 0.0
    error: str | None = None
    path: Path | None = None
    duration_s: float | None = None
    created: float = 0.0  # on the jobs' clock
    owner: str = ""  # who asked (the client's address): the per-owner limit counts by it

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "recording": self.recording,
            "format": self.fmt,
            "state": self.state,
            "progress": round(self.progress, 3),
            "error": self.error,
            "duration_s": self.duration_s,
            "url": f"/api/v1/exports/{self.id}/file" if self.state == "done" else None,
        }


class TooManyExports(Exception):
    """The owner has `max_per_owner` exports queued or running already."""


class ExportJobs:
    def __init__(
        self,
        folder: Path,
        executor: Executor,
        clock: Clock = MONOTONIC,
        max_per_owner: int | None = None,
        reserve: DiskReserve | None = None,
        node: str | None = None,
    ) -> None:
        """`node`: the cluster node whose name ends the jobs' ids (recordingid.py)."""
        self.node = node
        self.folder = folder
        self.reserve = reserve  # the disk space kept for running recordings
        self.clock = clock
        self.executor = executor
        self.max_per_owner = max_per_owner  # unfinished jobs one owner may have; None: any
        self.jobs: dict[str, ExportJob] = {}

    def start(
        self,
        directory: Path,
        manifest: dict[str, Any],
        *,
        start: datetime,
        end: datetime,
        tracks: list[str] | None,
        fmt: str,
        owner: str = "",
    ) -> ExportJob:
        """Queue an export of the slice; answers its job at once. Raises TooManyExports, or
        DiskReserveError when its estimated size would eat into a running recording's reserve."""
        self._forget_old()
        if self.max_per_owner is not None:
            unfinished = [
                j for j in self.jobs.values() if j.owner == owner and j.state in UNFINISHED
            ]
            if len(unfinished) >= self.max_per_owner:
                raise TooManyExports(
                    f"{len(unfinished)} exports of yours are still running; wait for one"
                )
        make_directory(self.folder)
        check: Callable[[], None] = _unchecked
        if self.reserve is not None:
            self.reserve.admit(self.folder, estimated_bytes(manifest, start, end, tracks, fmt))
            check = self.reserve.watch(self.folder)
        job = ExportJob(new_export_id(self.node), manifest["id"], fmt, owner=owner)
        job.created = self.clock.now()
        self.jobs[job.id] = job
        # "video": the first of `tracks` is a video track, the others the audio beside it.
        if fmt == "video":
            video, audio = (tracks or [""])[0], (tracks or [])[1:] or None
            out = self.folder / f"{job.id}{export_suffix(manifest, video)}"
        else:
            out = self.folder / f"{job.id}.{'ogg' if fmt == 'opus' else 'wav'}"

        def progress(fraction: float) -> None:
            check()  # the disk reached the recordings' reserve: stop here
            job.progress = fraction

        def run() -> None:
            job.state = "running"
            try:
                result: ExportResult
                if fmt == "video":
                    result = export_video_slice(
                        directory, manifest, start=start, end=end, track=video, audio=audio,
                        out=out, progress=progress,
                    )  # fmt: skip
                else:
                    result = export_slice(
                        directory, manifest, start=start, end=end, tracks=tracks, fmt=fmt,  # type: ignore[arg-type]
                        out=out, progress=progress,
                    )  # fmt: skip
            except (ExportError, OSError, ValueError) as error:
                out.unlink(missing_ok=True)  # a partial file is no export
                job.state, job.error = "failed", str(error)
                log.info("export failed", extra={"job": job.id, "error": str(error)})
                return
            job.path, job.duration_s = result.path, result.duration_s
            job.progress, job.state = 1.0, "done"

        asyncio.get_running_loop().run_in_executor(self.executor, run)
        return job

    def get(self, job_id: str) -> ExportJob | None:
        return self.jobs.get(job_id)

    def _forget_old(self) -> None:
        now = self.clock.now()
        finished = [j for j in self.jobs.values() if j.state in ("done", "failed")]
        finished.sort(key=lambda j: j.created)
        while finished and (len(finished) > KEEP_JOBS or now - finished[0].created > KEEP_SECONDS):
            job = finished.pop(0)
            del self.jobs[job.id]
            if job.path is not None:
                job.path.unlink(missing_ok=True)


def _unchecked() -> None:
    """No reserve to keep."""


def estimated_bytes(
    manifest: dict[str, Any], start: datetime, end: datetime, tracks: list[str] | None, fmt: str
) -> int:
    """About how big an export of the slice gets: the slice mixed to one channel of 16-bit
    samples (WAV; Opus is smaller), or for video the chosen tracks' share of their bytes."""
    seconds = max(0.0, (end - start).total_seconds())
    described = {t.get("id"): t for t in manifest.get("tracks", [])}
    if fmt == "video":
        chosen = [described.get(t, {}) for t in tracks or []]
        duration = max((float(t.get("duration_ms") or 0) / 1000 for t in chosen), default=0.0)
        total = sum(int(t.get("data_bytes") or 0) for t in chosen)
        return int(total * min(1.0, seconds / duration)) if duration else total
    chosen = [described.get(t, {}) for t in tracks] if tracks else list(described.values())
    rate = max((int(t.get("rate") or 0) for t in chosen), default=0) or 48000
    return int(seconds * rate * 2)  # one mixed channel of 16-bit samples
