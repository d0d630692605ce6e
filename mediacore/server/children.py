"""A supervised child process of the server: spawned, watched, restarted when it dies.

The child is `python -m <module> --channel-fd N --data-fd M --name NAME ...`, the two fds
being its ends of two socketpairs: the control channel (mediacore.channelio: requests and
notifications, never per packet) and the data path (mediacore.datapathio: media frames). It
says `ready` on the channel once it serves. A child that exits without being asked is started
again after a back-off (none the first time, up to 5 s when it keeps dying, reset once it has
run a while); `on_lost()` is called when it died and `on_restart()` once the new one is
ready, so that its owner can give it its work back. Whoever creates a child stops it.

The spawn and the wait for the child's exit run on threads of their own: forking a server
process that holds hundreds of megabytes takes milliseconds, which the event loop (and every
room's clock on it) must not wait for."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from mediacore.channel import Notification
from mediacore.channelio import Channel, Handler
from mediacore.clock import MONOTONIC, Clock
from mediacore.datapath import MediaFrame
from mediacore.datapathio import DataPath

log = logging.getLogger(__name__)

ChildState = Literal["starting", "running", "restarting", "stopped"]
START_TIMEOUT = 20.0
RESTART_BACKOFF = (0.0, 0.5, 1.0, 2.0, 5.0)  # seconds before each restart in a row
STABLE_AFTER = 30.0  # a child up this long has its back-off reset
READY = "ready"


class ChildProcess:
    """One child process, its channel and its data path, restarted when it dies."""

    def __init__(
        self,
        name: str,
        module: str,
        args: Sequence[str] = (),
        *,
        log_level: str = "info",
        log_format: str = "json",
        clock: Clock = MONOTONIC,
    ) -> None:
        self.name = name
        self.module = module
        self.args = list(args)
        self.log_level = log_level
        self.log_format = log_format
        self.state: ChildState = "starting"
        self.restarts = 0
        self.started_at = 0.0
        self.process: subprocess.Popen[bytes] | None = None
        self._exited: asyncio.Future[int] | None = None
        self.channel: Channel | None = None
        self.data: DataPath | None = None
        # the owner's: what the child says, the frames it sends, its death and its return
        self.on_notification: Callable[[Notification], None] | None = None
        self.on_frame: Callable[[MediaFrame], None] | None = None
        self.on_drop: Callable[[str], None] | None = None
        self.on_lost: Callable[[], None] | None = None
        self.on_restart: Callable[[], Awaitable[None]] | None = None
        # The owner's answers to the child's requests, installed on every channel it gets.
        self.handlers: dict[str, Handler] = {}
        self._clock = clock
        self._running = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self) -> None:
        """Spawn the child and wait until it is ready; from then on it is supervised.
        Raises TimeoutError (or OSError) when it does not come up."""
        await self._spawn()
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def wait_running(self, timeout: float = START_TIMEOUT) -> None:
        """Return once the child runs (at once, unless it is being restarted). Raises
        TimeoutError, or ConnectionError once it is stopped."""
        if self.state == "stopped":
            raise ConnectionError(f"{self.name} is stopped")
        await asyncio.wait_for(self._running.wait(), timeout)

    async def request(self, method: str, timeout: float = 30.0, **data: Any) -> Any:
        """A request to the running child. Raises ConnectionError while it is not running,
        plus what Channel.request raises."""
        if self.channel is None or self.state != "running":
            raise ConnectionError(f"{self.name} is {self.state}")
        return await self.channel.request(method, timeout, **data)

    def notify(self, event: str, **data: Any) -> None:
        """A notification to the child; dropped while it is not running."""
        if self.channel is not None and self.state == "running":
            self.channel.notify(event, **data)

    def send(self, frame: MediaFrame) -> bool:
        """A frame to the child's data path; False when dropped (not running, or behind)."""
        if self.data is None or self.state != "running":
            return False
        return self.data.send(frame)

    async def stop(self, timeout: float = 10.0) -> None:
        """Ask the child to finish its work and exit; kill it if it does not in `timeout`."""
        self.state = "stopped"
        self._running.clear()
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if self.channel is not None:
            with contextlib.suppress(Exception):  # gone already, or stuck: the kill settles it
                await self.channel.request("worker.stop", timeout=timeout)
        self._close_sockets()
        process, exited = self.process, self._exited
        if process is not None and exited is not None and not exited.done():
            try:
                await asyncio.wait_for(asyncio.shield(exited), timeout)
            except TimeoutError:
                process.kill()
                await exited

    async def _spawn(self) -> None:
        channel_ours, channel_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        data_ours, data_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        theirs = (channel_theirs.fileno(), data_theirs.fileno())
        command = [sys.executable, "-m", self.module]
        command += ["--channel-fd", str(theirs[0]), "--data-fd", str(theirs[1])]
        command += ["--name", self.name, "--log-level", self.log_level]
        command += ["--log-format", self.log_format, *self.args]
        try:
            self.process = await asyncio.to_thread(
                subprocess.Popen, command, pass_fds=theirs, stdin=subprocess.DEVNULL
            )
        except BaseException:
            channel_ours.close()
            data_ours.close()
            raise
        finally:
            channel_theirs.close()
            data_theirs.close()
        self._exited = self._wait_for_exit(self.process)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def notified(message: Notification) -> None:
            if message.event == READY and not ready.done():
                ready.set_result(None)
            elif self.on_notification is not None:
                self.on_notification(message)

        self.channel = await Channel.over(channel_ours, self.name)
        self.channel.on_notification = notified
        self.channel.handlers.update(self.handlers)
        self.data = await DataPath.over(data_ours, self.name)
        self.data.on_frame = self._frame
        self.data.on_drop = self._dropped
        try:
            await asyncio.wait_for(ready, START_TIMEOUT)
        except BaseException:
            self.process.kill()
            raise
        self.state = "running"
        self.started_at = self._clock.now()
        self._running.set()
        log.info("child process up", extra={"child": self.name, "pid": self.pid})

    @staticmethod
    def _wait_for_exit(process: subprocess.Popen[bytes]) -> asyncio.Future[int]:
        """A future of the child's exit status, set from a thread that waits for it."""
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[int] = loop.create_future()

        def settle(status: int) -> None:
            if not exited.done():
                exited.set_result(status)

        def wait() -> None:
            status = process.wait()
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
                loop.call_soon_threadsafe(settle, status)

        threading.Thread(target=wait, name=f"wait-{process.pid}", daemon=True).start()
        return exited

    def _frame(self, frame: MediaFrame) -> None:
        if self.on_frame is not None:
            self.on_frame(frame)

    def _dropped(self, source: str) -> None:
        if self.on_drop is not None:
            self.on_drop(source)

    def _close_sockets(self) -> None:
        if self.channel is not None:
            self.channel.close()
        if self.data is not None:
            self.data.close()

    async def _watch(self) -> None:
        failures = 0
        while self.state != "stopped":
            assert self._exited is not None
            status = await asyncio.shield(self._exited)
            if self.state == "stopped":
                return
            self.state = "restarting"
            self._running.clear()
            self._close_sockets()
            log.error("child process died", extra={"child": self.name, "status": status})
            if self.on_lost is not None:
                try:
                    self.on_lost()
                except Exception:
                    log.exception("child loss handler failed", extra={"child": self.name})
            if self._clock.now() - self.started_at > STABLE_AFTER:
                failures = 0
            await asyncio.sleep(RESTART_BACKOFF[min(failures, len(RESTART_BACKOFF) - 1)])
            failures += 1
            try:
                await self._spawn()
            except Exception:
                log.exception("child process failed to restart", extra={"child": self.name})
                self.state = "restarting"
                if self.process is not None:
                    self.process.kill()
                continue
            self.restarts += 1
            log.info("child process restarted", extra={"child": self.name, "pid": self.pid})
            if self.on_restart is not None:
                try:
                    await self.on_restart()
                except Exception:
                    log.exception("child restart handler failed", extra={"child": self.name})
