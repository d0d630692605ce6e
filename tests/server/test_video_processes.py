"""Video processes from the server's side: a real child supervised (niced, restarted after a
SIGKILL, stopped), and the reader that stands for a pull running in one."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Any

import numpy as np
import pytest

from ingest.puller import PullError, PullTarget
from ingest.source import FieldSourceSettings
from mediacore.channel import Notification
from mediacore.datapath import MediaFrame, audio, video
from mediacore.server.children import ChildProcess
from mediacore.server.remotepull import PROCESS_LOST, RemotePulls
from tests.waiting import wait_for

VIDEO_WORKER = "mediacore.server.videoworker"


@pytest.mark.slow
async def test_a_video_process_runs_niced_and_comes_back_after_a_sigkill() -> None:
    child = ChildProcess("video-test", VIDEO_WORKER, log_level="warning")
    lost: list[int | None] = []
    back: list[int | None] = []
    child.on_lost = lambda: lost.append(child.pid)

    async def restarted() -> None:
        back.append(child.pid)

    child.on_restart = restarted
    await child.start()
    try:
        stats = await child.request("video.stats")
        assert stats["pid"] == child.pid and stats["pulls"] == 0 and stats["walls"] == {}
        assert stats["nice"] - os.getpriority(os.PRIO_PROCESS, 0) == 10
        first = child.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await wait_for(lambda: back, 10)
        assert lost == [first] and back == [child.pid] and child.pid != first
        assert child.state == "running" and child.restarts == 1
        assert (await child.request("video.stats"))["pid"] == child.pid
    finally:
        await child.stop()
    assert child.state == "stopped" and child.process is not None
    assert child.process.poll() is not None  # it exited when asked, and is not restarted
    with pytest.raises(ConnectionError):
        await child.request("video.stats")


class FakeProcess:
    """What RemotePulls needs of a ChildProcess, driven by the test."""

    def __init__(self) -> None:
        self.state = "starting"
        self.on_notification: Any = None
        self.on_frame: Any = None
        self.on_lost: Any = None
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.notified: list[tuple[str, dict[str, Any]]] = []

    async def start(self) -> None:
        self.state = "running"

    async def wait_running(self) -> None:
        assert self.state == "running"

    async def request(self, method: str, **data: Any) -> Any:
        self.requests.append((method, data))
        return {"id": data.get("id")}

    def notify(self, event: str, **data: Any) -> None:
        self.notified.append((event, data))

    async def stop(self) -> None:
        self.state = "stopped"


TARGET = PullTarget("rtmp://cam/live", {"rw_timeout": "5000000"})


async def test_frames_that_overtake_the_opening_are_held_until_it_arrives() -> None:
    process = FakeProcess()
    pulls = RemotePulls(process)  # type: ignore[arg-type]
    reader = pulls.factory(48000)(TARGET, FieldSourceSettings())
    seen: list[Any] = []
    thread = threading.Thread(
        target=lambda: reader.run(
            lambda info: seen.append(("open", info["codec"])),
            lambda data, pts, keyframe: seen.append(("video", pts, keyframe)),
            lambda pcm, rate: seen.append(("audio", len(pcm), rate)),
        )
    )
    thread.start()
    await wait_for(lambda: process.requests, 5)
    method, data = process.requests[0]
    assert method == "pull.open" and data["id"] == reader.id and data["rate"] == 48000
    assert data["url"] == TARGET.url and data["options"] == TARGET.options

    def frame(item: MediaFrame) -> None:
        process.on_frame(item)

    frame(video(reader.id, "", b"\x00\x00\x01\x65", 0, True))  # before pull.opened
    frame(video("pull-other", "", b"x", 0, True))  # not this reader's
    assert seen == []
    process.on_notification(
        Notification("pull.opened", {"id": reader.id, "info": {"codec": "h264"}})
    )
    frame(video(reader.id, "", b"\x00\x00\x01\x41", 3600, False))
    frame(audio(reader.id, np.zeros(960, np.float32), 48000))
    assert seen == [
        ("open", "h264"),
        ("video", 0, True),
        ("video", 3600, False),
        ("audio", 960, 48000),
    ]
    process.on_notification(
        Notification("pull.ended", {"id": reader.id, "error": None, "audio_errors": 3})
    )
    await asyncio.to_thread(thread.join, 5)
    assert not thread.is_alive() and reader.audio_errors == 3


async def test_a_lost_process_ends_its_pulls_with_a_reason_and_abort_closes_one() -> None:
    process = FakeProcess()
    pulls = RemotePulls(process)  # type: ignore[arg-type]
    make = pulls.factory(16000)
    readers = [make(TARGET, FieldSourceSettings()) for _ in range(2)]
    errors: list[BaseException | None] = [None, None]

    def run(index: int) -> None:
        try:
            readers[index].run(lambda info: None, lambda d, p, k: None)
        except PullError as error:
            errors[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    await wait_for(lambda: len(process.requests) == 2, 5)
    readers[0].abort()  # the source stops: run() returns, the process is told
    await asyncio.to_thread(threads[0].join, 5)
    await wait_for(lambda: process.notified, 5)
    assert process.notified == [("pull.close", {"id": readers[0].id})]
    assert errors[0] is None
    process.on_lost()  # the video process died
    await asyncio.to_thread(threads[1].join, 5)
    assert isinstance(errors[1], PullError) and errors[1].reason == PROCESS_LOST
    assert not errors[1].permanent  # the source reconnects
