"""Field-video pulls run in a video process, seen from the server as ordinary readers.

`ingest.source.FieldSource` runs one reader per connection attempt on a thread of its own and
keeps the source's states, back-off and counters. `RemoteReader` is such a reader: its `run()`
asks the video process (mediacore.server.videopulls) to open the connection, then hands on
what arrives, as `SourceReader` would: `on_open(info)` once, then each video access unit and
each audio frame (already at the room's rate), and returns or raises `PullError` when the
pull ends there. If the video process dies, every pull in it ends with the reason "the video
process stopped"; the sources reconnect with their usual back-off, into the restarted process.

Frames arrive on the data path and `pull.opened` on the control channel, two sockets read
independently: frames that overtake the opening are held until it arrives, so the source
learns its codec before its first packet."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

from ingest.puller import AudioSink, PullError, PullTarget, VideoSink
from ingest.source import FieldSourceSettings
from mediacore.channel import Notification
from mediacore.datapath import FrameKind, MediaFrame
from mediacore.server.children import ChildProcess

log = logging.getLogger(__name__)

PROCESS_LOST = "the video process stopped"
EARLY_FRAMES = 64  # frames held while the opening is on its way


class RemoteReader:
    """One connection of one source, pulled in the video process. `run()` blocks its thread."""

    def __init__(
        self, pulls: RemotePulls, target: PullTarget, settings: FieldSourceSettings, rate: int
    ) -> None:
        self.id = pulls.next_id()
        self.target = target
        self.settings = settings
        self.rate = rate
        self.audio_errors = 0
        self._pulls = pulls
        self._loop = asyncio.get_running_loop()  # made on the loop; run() on its own thread
        self._done = threading.Event()
        self._error: PullError | None = None
        self._on_open: Callable[[dict[str, Any]], None] | None = None
        self._on_video: VideoSink | None = None
        self._on_audio: AudioSink | None = None
        self._early: list[MediaFrame] | None = []  # None once opened

    def run(
        self,
        on_open: Callable[[dict[str, Any]], None],
        on_video: VideoSink,
        on_audio: AudioSink | None = None,
    ) -> None:
        """Pull until the stream ends (returns) or fails (raises PullError)."""
        self._on_open, self._on_video, self._on_audio = on_open, on_video, on_audio
        future = asyncio.run_coroutine_threadsafe(self._pulls.open(self), self._loop)
        try:
            future.result()
        except PullError:
            raise
        except Exception as error:
            raise PullError(f"the video process cannot pull: {error}") from None
        self._done.wait()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Make `run()` return now; the video process closes the connection behind it."""
        if self._done.is_set():
            return
        self._done.set()
        with contextlib.suppress(RuntimeError):  # the loop closed: shutting down
            self._loop.call_soon_threadsafe(self._pulls.close, self)

    @property
    def finished(self) -> bool:
        """Aborted, or ended in the video process."""
        return self._done.is_set()

    # -- from RemotePulls, on the event loop ----------------------------------------------

    def opened(self, info: dict[str, Any]) -> None:
        early, self._early = self._early, None
        if self._on_open is not None:
            self._on_open(info)
        for frame in early or ():
            self.frame(frame)

    def frame(self, frame: MediaFrame) -> None:
        if self._early is not None:
            if len(self._early) < EARLY_FRAMES:
                self._early.append(frame)
            return
        if frame.kind == FrameKind.VIDEO:
            if self._on_video is not None:
                self._on_video(frame.payload, frame.pts, frame.keyframe)
        elif self._on_audio is not None:
            self._on_audio(frame.pcm(), frame.rate)

    def ended(self, error: PullError | None, audio_errors: int | None = None) -> None:
        if audio_errors is not None:
            self.audio_errors = audio_errors
        self._error = error
        self._done.set()


class RemotePulls:
    """The video process that pulls field video, and the connections running in it.

    The process starts with the first pull and is supervised from then on. `factory(rate)`
    makes the `ingest` reader factory for the sources of a room mixing at `rate` Hz."""

    def __init__(self, process: ChildProcess) -> None:
        self.process = process
        self._readers: dict[str, RemoteReader] = {}
        self._ids = itertools.count(1)
        self._started: asyncio.Task[None] | None = None
        process.on_notification = self._notified
        process.on_frame = self._frame
        process.on_lost = self._lost

    def next_id(self) -> str:
        return f"pull-{next(self._ids)}"

    def factory(self, rate: int) -> Callable[[PullTarget, FieldSourceSettings], RemoteReader]:
        def make(target: PullTarget, settings: FieldSourceSettings) -> RemoteReader:
            return RemoteReader(self, target, settings, rate)

        return make

    async def open(self, reader: RemoteReader) -> None:
        """Start `reader`'s connection in the video process (starting the process first if
        it never ran). Raises PullError when the process cannot be reached."""
        await self._running()
        if reader.finished:
            return  # aborted while the process started
        self._readers[reader.id] = reader
        try:
            await self.process.request(
                "pull.open",
                id=reader.id,
                url=reader.target.url,
                options=reader.target.options,
                relay=reader.target.relay,
                open_timeout=reader.settings.open_timeout,
                read_timeout=reader.settings.read_timeout,
                rate=reader.rate,
            )
        except Exception as error:
            self._readers.pop(reader.id, None)
            raise PullError(f"the video process cannot pull: {error}") from None
        if reader.finished:
            self.close(reader)  # aborted while it opened

    def close(self, reader: RemoteReader) -> None:
        if self._readers.pop(reader.id, None) is not None:
            self.process.notify("pull.close", id=reader.id)

    async def stop(self) -> None:
        readers, self._readers = self._readers, {}
        for reader in readers.values():
            reader.ended(PullError(PROCESS_LOST))
        if self._started is not None:
            await self.process.stop()

    async def _running(self) -> None:
        """Start the process with the first pull; wait while it is being restarted."""
        if self._started is None or (self._started.done() and self._started.exception()):
            self._started = asyncio.get_running_loop().create_task(self.process.start())
        await asyncio.shield(self._started)
        await self.process.wait_running()

    def _notified(self, message: Notification) -> None:
        data = message.data
        reader = self._readers.get(str(data.get("id")))
        if reader is None:
            return
        if message.event == "pull.opened":
            reader.opened(dict(data.get("info") or {}))
        elif message.event == "pull.stats":
            reader.audio_errors = int(data.get("audio_errors", 0))
        elif message.event == "pull.ended":
            del self._readers[reader.id]
            error = data.get("error")
            failure = None
            if error is not None:
                public = data.get("public")
                failure = PullError(
                    str(error),
                    permanent=bool(data.get("permanent")),
                    public=str(public) if public is not None else None,
                )
            reader.ended(failure, int(data.get("audio_errors", 0)))

    def _frame(self, frame: MediaFrame) -> None:
        reader = self._readers.get(frame.source)
        if reader is not None:
            reader.frame(frame)

    def _lost(self) -> None:
        readers, self._readers = self._readers, {}
        if readers:
            log.warning("video process lost", extra={"pulls": len(readers)})
        for reader in readers.values():
            reader.ended(PullError(PROCESS_LOST))
