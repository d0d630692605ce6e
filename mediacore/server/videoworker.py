"""A video process: FFmpeg work of the server, at a lower CPU priority than the audio.

Started by the server (mediacore.server.children) with a control channel and a data path. It
hosts field-video pulls (mediacore.server.videopulls) and LED walls (mediacore.server.videowalls),
whichever the server gives it; the server keeps every room, source state, wall definition and
the video hub. The process lowers its own priority first thing (`--nice`, 10 by default), so
its threads and the ffmpeg children it starts all run below the server's media loop and the
media workers: a busy 4K encode waits for CPU, an audio tick does not. It ends when the channel
closes, on `worker.stop`, or on SIGTERM; a crash ends only this process, and the server starts
it again."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import socket
import sys
import time
from typing import Any

from mediacore.channel import Notification
from mediacore.channelio import Channel
from mediacore.datapath import MediaFrame
from mediacore.datapathio import DataPath
from mediacore.server.children import READY
from mediacore.server.niceness import renice
from mediacore.server.videoconferences import ConferenceHost
from mediacore.server.videopulls import PullHost
from mediacore.server.videowalls import WallHost

NICE = 10


class VideoWorker:
    """The pulls and walls of this process behind its channel and data path."""

    def __init__(self, name: str, channel: Channel, data: DataPath) -> None:
        self.name = name
        self.channel = channel
        self.data = data
        self.pulls = PullHost(channel, data)
        self.walls = WallHost(channel, data)
        self.conferences = ConferenceHost(channel, data, self.walls)  # decoded by the walls'
        self.stopped = asyncio.Event()
        channel.on_notification = self._notified
        data.on_frame = self._frame
        channel.handlers.update({"video.stats": self.stats, "worker.stop": self.stop})

    async def stats(self, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "nice": os.getpriority(os.PRIO_PROCESS, 0),
            "cpu_seconds": time.process_time(),
            "pulls": len(self.pulls),
            "frames_in": self.data.frames_in,
            "frames_out": self.data.frames_out,
            "frames_dropped": self.data.frames_dropped,
            **self.walls.statistics(),
            **self.conferences.statistics(),
        }

    async def stop(self, data: dict[str, Any] | None = None) -> None:
        await self.pulls.stop()
        await self.conferences.stop()
        await self.walls.stop()
        self.stopped.set()

    def _notified(self, message: Notification) -> None:
        if not self.pulls.notified(message) and not self.walls.notified(message):
            self.conferences.notified(message)

    def _frame(self, frame: MediaFrame) -> None:
        self.walls.frame(frame)


async def serve(name: str, channel_fd: int, data_fd: int) -> None:
    channel = await Channel.over(socket.socket(fileno=channel_fd), name)
    data = await DataPath.over(socket.socket(fileno=data_fd), name)
    worker = VideoWorker(name, channel, data)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(worker.stop()))
    gc.collect()
    gc.freeze()
    channel.notify(READY, pid=os.getpid())
    ends: set[asyncio.Future[Any]] = {
        asyncio.ensure_future(asyncio.shield(channel.closed)),
        asyncio.ensure_future(worker.stopped.wait()),
    }
    await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
    if not worker.stopped.is_set():
        await worker.stop()  # the server went away: close outputs and relays before we go
    channel.close()
    data.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mediacore-video")
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--data-fd", type=int, required=True)
    parser.add_argument("--name", default="video")
    parser.add_argument("--nice", type=int, default=NICE, help="added to the server's niceness")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--log-format", default="json")
    args = parser.parse_args(argv)
    from mediacore.server.logs import setup_logging

    setup_logging(args.log_level, args.log_format)
    renice(args.nice)  # first, before any thread or ffmpeg child exists: they all inherit it
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us
    asyncio.run(serve(args.name, args.channel_fd, args.data_fd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
