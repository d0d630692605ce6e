"""The media workers of the control process: started, watched, and restarted when they die.

Each worker is `python -m mediacore.server.worker` with one end of a socketpair as its control
channel (mediasoup starts its C++ workers the same way, with pipes). A worker that exits without
being asked is restarted on the same RTP ports after a short back-off, and whoever placed rooms
on it (`on_restart`) puts them back."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from typing import Any, Literal

from mediacore.channel import Notification
from mediacore.channelio import Channel
from mediacore.clock import MONOTONIC
from mediacore.server.config import Config
from mediacore.server.worker import WorkerSettings

log = logging.getLogger(__name__)

WorkerState = Literal["starting", "running", "restarting", "stopped"]
START_TIMEOUT = 20.0
RESTART_BACKOFF = (0.0, 0.5, 1.0, 2.0, 5.0)  # seconds before each restart in a row
STABLE_AFTER = 30.0  # a worker up this long has its back-off reset


class WorkerProcess:
    """One media worker: its process, its channel and what control knows of its load."""

    def __init__(self, settings: WorkerSettings, log_level: str, log_format: str) -> None:
        self.settings = settings
        self.id = settings.id
        self.log_level = log_level
        self.log_format = log_format
        self.state: WorkerState = "starting"
        self.channel: Channel | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.started_at = 0.0
        self.on_notification: Callable[[WorkerProcess, Notification], None] | None = None
        self.last_stats: dict[str, Any] = {}
        self._cpu_sample: tuple[float, float] | None = None  # (wall, cpu seconds)
        self.cpu = 0.0  # cores used since the previous sample

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self) -> None:
        """Spawn the process and wait until its channel says it is ready."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "mediacore.server.worker",
                "--channel-fd",
                str(theirs.fileno()),
                "--settings",
                json.dumps(asdict(self.settings)),
                "--log-level",
                self.log_level,
                "--log-format",
                self.log_format,
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def notified(message: Notification) -> None:
            if message.event == "worker.ready" and not ready.done():
                ready.set_result(None)
            elif self.on_notification is not None:
                self.on_notification(self, message)

        self.channel = await Channel.over(ours, f"worker-{self.id}")
        self.channel.on_notification = notified
        await asyncio.wait_for(ready, START_TIMEOUT)
        self.state = "running"
        self.started_at = MONOTONIC.now()
        self._cpu_sample = None

    def rotate_ports(self) -> None:
        """The next process hands out ports from the other half of the range: the legs the
        dead one held may still have peers sending to theirs."""
        low, high = self.settings.port_min, self.settings.port_max
        start = self.settings.port_start or low
        self.settings = replace(
            self.settings, port_start=low + (start - low + (high - low) // 2) % (high - low)
        )

    async def request(self, method: str, **data: Any) -> Any:
        if self.channel is None or self.state != "running":
            raise ConnectionError(f"worker {self.id} is {self.state}")
        return await self.channel.request(method, **data)

    async def refresh(self) -> dict[str, Any]:
        """Ask the worker for its rooms, legs, CPU time and late ticks."""
        stats: dict[str, Any] = await self.request("worker.stats")
        now = MONOTONIC.now()
        if self._cpu_sample is not None and now > self._cpu_sample[0]:
            wall, cpu = self._cpu_sample
            self.cpu = max(0.0, (stats["cpu_seconds"] - cpu) / (now - wall))
        self._cpu_sample = (now, stats["cpu_seconds"])
        self.last_stats = stats
        return stats

    def describe(self) -> dict[str, Any]:
        """The `GET /api/v1/workers` entry."""
        stats = self.last_stats
        return {
            "id": self.id,
            "pid": self.pid,
            "state": self.state,
            "rooms": stats.get("rooms", []),
            "legs": stats.get("legs", 0),
            "cpu": round(self.cpu, 3),
            "cpu_seconds": stats.get("cpu_seconds", 0.0),
            "late_ticks": stats.get("late_ticks", 0),
            "restarts": self.restarts,
        }

    async def stop(self, timeout: float = 10.0) -> None:
        """Ask the worker to hang up its legs and exit; kill it if it does not."""
        self.state = "stopped"
        if self.channel is not None:
            try:
                await self.channel.request("worker.stop", timeout=timeout)
            except Exception:  # gone already, or stuck: the kill below settles it
                pass
            self.channel.close()
        if self.process is not None and self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


class WorkerPool:
    """All media workers of this server, and their supervision."""

    def __init__(self, config: Config, count: int) -> None:
        self.config = config
        self.workers = [
            WorkerProcess(settings, config.server.log_level, config.server.log_format)
            for settings in _split_ports(config, count)
        ]
        self.on_notification: Callable[[WorkerProcess, Notification], None] | None = None
        self.on_restart: Callable[[WorkerProcess], Awaitable[None]] | None = None
        self.on_lost: Callable[[WorkerProcess], None] | None = None
        self._watchers: list[asyncio.Task[None]] = []
        self._refresher: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        for worker in self.workers:
            worker.on_notification = self._notified
        await asyncio.gather(*(worker.start() for worker in self.workers))
        await self.refresh()
        for worker in self.workers:
            self._watchers.append(asyncio.create_task(self._watch(worker)))
        self._refresher = asyncio.create_task(self._refresh_forever())
        log.info("media workers started", extra={"workers": [w.pid for w in self.workers]})

    async def stop(self) -> None:
        self._stopping = True
        for task in [*self._watchers, *([self._refresher] if self._refresher else [])]:
            task.cancel()
        await asyncio.gather(*(worker.stop() for worker in self.workers))

    def running(self) -> list[WorkerProcess]:
        return [worker for worker in self.workers if worker.state == "running"]

    def least_loaded(
        self,
        load: Callable[[WorkerProcess], tuple[int, ...]],
        exclude: frozenset[int] = frozenset(),
    ) -> WorkerProcess | None:
        """The running worker with the least `load`, not in `exclude`; None when none runs."""
        candidates = [w for w in self.running() if w.id not in exclude]
        if not candidates:
            return None
        return min(candidates, key=lambda w: (*load(w), w.id))

    def describe(self) -> list[dict[str, Any]]:
        return [worker.describe() for worker in self.workers]

    async def refresh(self) -> None:
        for worker in self.running():
            try:
                await worker.refresh()
            except Exception:  # a dying worker: its watcher restarts it
                pass

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(2.0)
            await self.refresh()

    def _notified(self, worker: WorkerProcess, message: Notification) -> None:
        if self.on_notification is not None:
            self.on_notification(worker, message)

    async def _watch(self, worker: WorkerProcess) -> None:
        failures = 0
        while not self._stopping:
            assert worker.process is not None
            status = await worker.process.wait()
            if self._stopping or worker.state == "stopped":
                return
            worker.state = "restarting"
            if worker.channel is not None:
                worker.channel.close()
            log.error("media worker died", extra={"worker": worker.id, "status": status})
            if self.on_lost is not None:
                self.on_lost(worker)
            if MONOTONIC.now() - worker.started_at > STABLE_AFTER:
                failures = 0
            await asyncio.sleep(RESTART_BACKOFF[min(failures, len(RESTART_BACKOFF) - 1)])
            failures += 1
            worker.rotate_ports()
            try:
                await worker.start()
            except Exception:
                log.exception("media worker failed to restart", extra={"worker": worker.id})
                worker.state = "restarting"
                if worker.process is not None and worker.process.returncode is None:
                    worker.process.kill()
                continue
            worker.restarts += 1
            await worker.refresh()
            log.info("media worker restarted", extra={"worker": worker.id, "pid": worker.pid})
            if self.on_restart is not None:
                await self.on_restart(worker)


def default_worker_count() -> int:
    """One media worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _split_ports(config: Config, count: int) -> list[WorkerSettings]:
    """Each worker its own slice of the RTP port range, so they never race for a port."""
    low, high = config.rtp.port_min, config.rtp.port_max
    span = (high - low + 1) // count
    if span < 4:
        raise ValueError(f"rtp ports {low}-{high} are too few for {count} workers")
    return [
        WorkerSettings(
            id=index,
            host=config.server.host,
            port_min=low + index * span,
            port_max=low + (index + 1) * span - 1 if index < count - 1 else high,
            rtp_timeout=config.rtp.timeout,
        )
        for index in range(count)
    ]
