"""Downloads of a device's recordings (录像下载): s=Download INVITEs whose stream is kept as a
file on the server.

A download is a job, like a recording's export: the API answers at once, the job runs a
`GbReader` (with `download_speed`: the device sends faster than real time) on a thread of its
own, writes every demuxed frame back into an MPEG program stream (`.mpg`: the device's video
and G.711 audio as it recorded them, playable by FFmpeg and VLC), and counts its progress
from the frames' timestamps against the asked range. It is done when the device says the
recording ended (MediaStatus 121, or it stopped within the range's last 2 %: see GbReader);
a download that fails leaves no file. Finished jobs are
kept for an hour (at most KEEP_JOBS), their files with them; a restart forgets the jobs and
removes their files.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ingest.gbreader import GbReaderFactory
from ingest.ps import DemuxedFrame, PsError, PsMuxer
from ingest.puller import PullError, PullTarget, StreamFinished
from ingest.source import DEFAULT_SETTINGS, FieldSourceSettings
from mediacore.clock import MONOTONIC, Clock
from mediacore.events import EventBus

log = logging.getLogger(__name__)

KEEP_JOBS = 50
KEEP_SECONDS = 3600.0
MAX_RUNNING = 4  # downloads at once, over the whole server
MAX_SPEED = 16
PROGRESS_STEP = 0.05  # an event each time progress moves by this much


class TooManyDownloads(Exception):
    """MAX_RUNNING downloads are running already."""


@dataclass(slots=True)
class DownloadJob:
    id: str
    device: str
    channel: str
    start: int  # Unix seconds
    end: int
    speed: int
    state: str = "running"  # running, done, failed
    progress: float = 0.0
    bytes: int = 0
    error: str | None = None
    path: Path | None = None
    created: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "device": self.device,
            "channel": self.channel,
            "start": self.start,
            "end": self.end,
            "speed": self.speed,
            "state": self.state,
            "progress": round(self.progress, 3),
            "bytes": self.bytes,
            "error": self.error,
            "url": f"/api/v1/gb28181/downloads/{self.id}/file" if self.state == "done" else None,
        }


class PsFileWriter:
    """Frames as demuxed, back into one program stream."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.bytes = 0
        self._muxer: PsMuxer | None = None

    def frame(self, frame: DemuxedFrame) -> None:
        """Write one frame; video before the first keyframe and audio before the first video
        are left out (nothing could decode them)."""
        if self._muxer is None:
            if frame.kind != "video" or not frame.keyframe:
                return
            self._muxer = PsMuxer(frame.codec, "pcma")
        try:
            if frame.kind == "video":
                pack = self._muxer.video(frame.data, frame.pts)
            elif frame.codec == "pcma":
                pack = self._muxer.audio(frame.data, frame.pts)
            else:
                return  # the file's stream map names G.711 A-law only
        except PsError:
            return
        self.out.write(pack)
        self.bytes += len(pack)


class GbDownloads:
    """The server's download jobs. `publish(job)` is told each state and progress step."""

    def __init__(
        self,
        readers: GbReaderFactory,
        folder: Path,
        bus: EventBus,
        settings: FieldSourceSettings = DEFAULT_SETTINGS,
        clock: Clock = MONOTONIC,
    ) -> None:
        self.readers = readers
        self.folder = folder
        self.bus = bus
        self.settings = settings
        self.clock = clock
        self.jobs: dict[str, DownloadJob] = {}
        self._aborts: dict[str, Callable[[], None]] = {}
        # the files of a previous run: no job names them any more, nobody could fetch them
        for stale in folder.glob("dl-*.mpg") if folder.is_dir() else []:
            stale.unlink(missing_ok=True)

    def start(
        self,
        device: str,
        channel: str,
        start: int,
        end: int,
        speed: int,
        *,
        transport: str = "udp",
    ) -> DownloadJob:
        """Start downloading `channel`'s recording from `start` to `end` (Unix seconds) at
        `speed` times real time, over RTP on UDP or TCP; answers the job at once. Raises
        TooManyDownloads, or ValueError for a speed out of 1..MAX_SPEED."""
        if not 1 <= speed <= MAX_SPEED:
            raise ValueError(f"speed must be 1 to {MAX_SPEED}")
        self._forget_old()
        if sum(job.state == "running" for job in self.jobs.values()) >= MAX_RUNNING:
            raise TooManyDownloads(f"{MAX_RUNNING} downloads are running; wait for one")
        job = DownloadJob("dl-" + secrets.token_hex(6), device, channel, start, end, speed)
        job.created = self.clock.now()
        self.jobs[job.id] = job
        target = PullTarget(
            f"gb28181://{device}/{channel}",
            {
                "device": device,
                "channel": channel,
                "transport": transport,
                "start": str(start),
                "end": str(end),
                "download_speed": str(speed),
            },
        )
        reader = self.readers(target, self.settings)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{job.id}.mpg"
        loop = asyncio.get_running_loop()
        self._aborts[job.id] = reader.abort
        self._publish(job)

        def work() -> None:
            error: str | None = None
            with path.open("wb") as out:
                writer = PsFileWriter(out)
                step = [0.0]

                def frame(demuxed: DemuxedFrame) -> None:
                    writer.frame(demuxed)
                    progress = min(1.0, reader.position / max(1, end - start))
                    if progress - step[0] >= PROGRESS_STEP:
                        step[0] = progress
                        loop.call_soon_threadsafe(self._progress, job, progress, writer.bytes)

                reader.on_frame = frame
                try:
                    reader.run(_ignore, _ignore, None)
                    error = "the download was stopped"
                except StreamFinished:
                    pass
                except PullError as failure:
                    error = failure.reason
                except Exception as failure:  # a bug must end the job, not hang it
                    log.exception("download failed")
                    error = str(failure)
                total = writer.bytes
            try:
                loop.call_soon_threadsafe(self._finished, job, path, total, error)
            except RuntimeError:
                pass  # the loop closed: the server is going down

        threading.Thread(target=work, name=f"gb-download-{job.id}", daemon=True).start()
        return job

    def get(self, job_id: str) -> DownloadJob | None:
        return self.jobs.get(job_id)

    def stop(self) -> None:
        """Abort every running download (their jobs fail)."""
        for abort in list(self._aborts.values()):
            abort()

    def _progress(self, job: DownloadJob, progress: float, size: int) -> None:
        if job.state == "running":
            job.progress, job.bytes = progress, size
            self._publish(job)

    def _finished(self, job: DownloadJob, path: Path, size: int, error: str | None) -> None:
        self._aborts.pop(job.id, None)
        job.bytes = size
        if error is not None or size == 0:
            path.unlink(missing_ok=True)  # a partial file is no download
            job.state, job.error = "failed", error or "the device sent nothing"
            log.info("gb28181 download failed", extra={"job": job.id, "error": job.error})
        else:
            job.state, job.progress, job.path = "done", 1.0, path
        self._publish(job)

    def _publish(self, job: DownloadJob) -> None:
        self.bus.publish(
            "gb.download",
            None,
            id=job.id,
            device=job.device,
            channel=job.channel,
            state=job.state,
            progress=round(job.progress, 3),
            bytes=job.bytes,
        )

    def _forget_old(self) -> None:
        now = self.clock.now()
        finished = sorted(
            (j for j in self.jobs.values() if j.state != "running"), key=lambda j: j.created
        )
        while finished and (len(finished) > KEEP_JOBS or now - finished[0].created > KEEP_SECONDS):
            job = finished.pop(0)
            del self.jobs[job.id]
            if job.path is not None:
                job.path.unlink(missing_ok=True)


def _ignore(*_: Any) -> None:
    """What a download does with what a room would show: nothing."""
