"""The media workers of the control process: started, watched, and restarted when they die.

Each worker is a supervised child process (mediacore.server.children.ChildProcess) running
`python -m mediacore.server.worker`, with the control channel and a data path as its
socketpairs (mediasoup starts its C++ workers the same way, with pipes). A worker that exits
without being asked is restarted after the children's back-off, handing out ports from the other
half of its range, and whoever placed rooms on it (`on_restart`) puts them back."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from typing import Any

from mediacore.channel import Notification
from mediacore.channelio import Handler
from mediacore.clock import MONOTONIC
from mediacore.datapath import MediaFrame
from mediacore.server.children import ChildProcess, ChildState
from mediacore.server.config import Config
from mediacore.server.worker import WorkerSettings

log = logging.getLogger(__name__)

REFRESH_EVERY = 2.0  # seconds between the pool's looks at its workers' load


class WorkerProcess:
    """One media worker: its child process and what control knows of its load."""

    def __init__(self, settings: WorkerSettings, log_level: str, log_format: str) -> None:
        self.settings = settings
        self.id = settings.id
        self.child = ChildProcess(
            f"worker-{settings.id}",
            "mediacore.server.worker",
            self._args(),
            log_level=log_level,
            log_format=log_format,
        )
        self.child.on_notification = lambda message: self._notified(message)
        self.child.on_frame = lambda frame: self._frame(frame)
        self.child.on_lost = self._lost
        self.child.on_restart = self._restarted
        # The pool's: what the worker says, its death and its return.
        self.on_notification: Callable[[WorkerProcess, Notification], None] | None = None
        self.on_lost: Callable[[WorkerProcess], None] | None = None
        self.on_restart: Callable[[WorkerProcess], Awaitable[None]] | None = None
        self.on_frame: Callable[[WorkerProcess, MediaFrame], None] | None = None
        self.last_stats: dict[str, Any] = {}
        self._cpu_sample: tuple[float, float] | None = None  # (wall, cpu seconds)
        self.cpu = 0.0  # cores used since the previous sample

    @property
    def state(self) -> ChildState:
        return self.child.state

    @property
    def pid(self) -> int | None:
        return self.child.pid

    @property
    def restarts(self) -> int:
        return self.child.restarts

    def _args(self) -> list[str]:
        return ["--settings", json.dumps(asdict(self.settings))]

    async def start(self) -> None:
        """Spawn the worker and wait until it serves; from then on it is supervised."""
        await self.child.start()

    async def request(self, method: str, **data: Any) -> Any:
        """A request to the running worker; raises ConnectionError while it is not running."""
        return await self.child.request(method, **data)

    def notify(self, event: str, **data: Any) -> None:
        """A notification to the worker; dropped while it is not running."""
        self.child.notify(event, **data)

    def send(self, frame: MediaFrame) -> bool:
        """A frame to the worker's data path; False when dropped."""
        return self.child.send(frame)

    @property
    def handlers(self) -> dict[str, Handler]:
        """Control's answers to the worker's requests (kept across restarts)."""
        return self.child.handlers

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
            "link_rejected": stats.get("link_rejected", 0),
            "nice": stats.get("nice"),
            "restarts": self.restarts,
        }

    async def stop(self, timeout: float = 10.0) -> None:
        """Ask the worker to hang up its legs and exit; kill it if it does not."""
        await self.child.stop(timeout)

    def rotate_ports(self) -> None:
        """The next process hands out ports from the other half of the range: the legs the
        dead one held may still have peers sending to theirs."""
        low, high = self.settings.port_min, self.settings.port_max
        start = self.settings.port_start or low
        self.settings = replace(
            self.settings, port_start=low + (start - low + (high - low) // 2) % (high - low)
        )
        self.child.args = self._args()

    def _notified(self, message: Notification) -> None:
        if self.on_notification is not None:
            self.on_notification(self, message)

    def _frame(self, frame: MediaFrame) -> None:
        if self.on_frame is not None:
            self.on_frame(self, frame)

    def _lost(self) -> None:
        self.rotate_ports()
        self._cpu_sample = None
        if self.on_lost is not None:
            self.on_lost(self)

    async def _restarted(self) -> None:
        await self.refresh()
        if self.on_restart is not None:
            await self.on_restart(self)


class WorkerPool:
    """All media workers of this server; each is supervised by its child process."""

    def __init__(self, config: Config, count: int) -> None:
        self.config = config
        self.workers = [
            WorkerProcess(settings, config.server.log_level, config.server.log_format)
            for settings in _split_ports(config, count)
        ]
        self.on_notification: Callable[[WorkerProcess, Notification], None] | None = None
        self.on_restart: Callable[[WorkerProcess], Awaitable[None]] | None = None
        self.on_lost: Callable[[WorkerProcess], None] | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for worker in self.workers:
            worker.on_notification = self._notified
            worker.on_lost = self._lost
            worker.on_restart = self._restarted
        await asyncio.gather(*(worker.start() for worker in self.workers))
        await self.refresh()
        self._refresher = asyncio.create_task(self._refresh_forever())
        log.info("media workers started", extra={"workers": [w.pid for w in self.workers]})

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
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
            except Exception:  # a dying worker: its child process restarts it
                pass

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_EVERY)
            await self.refresh()

    def _notified(self, worker: WorkerProcess, message: Notification) -> None:
        if self.on_notification is not None:
            self.on_notification(worker, message)

    def _lost(self, worker: WorkerProcess) -> None:
        if self.on_lost is not None:
            self.on_lost(worker)

    async def _restarted(self, worker: WorkerProcess) -> None:
        if self.on_restart is not None:
            await self.on_restart(worker)


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
            link_host=_link_host(config),
            data_dir=str(config.data_dir.absolute()),
            store=str(config.recordings_store.absolute()),
            nice=config.server.media_nice,
        )
        for index in range(count)
    ]


def _link_host(config: Config) -> str:
    """Where cascade links listen: loopback on one node; in a cluster the address other nodes
    reach this one at, as a room's shards may live on other nodes."""
    if not config.cluster.enabled:
        return "127.0.0.1"
    return config.cluster.advertise or config.server.host
