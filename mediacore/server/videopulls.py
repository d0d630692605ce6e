"""The field-video pulls a video process runs for the server: FFmpeg's side of each camera.

The server asks `pull.open` {id, url, options, relay, open_timeout, read_timeout, rate} for one
connection attempt of one source; `ingest.puller.SourceReader` then runs on a thread of its
own, exactly as it ran in the server before: PyAV's demuxer, or the Debian `ffmpeg` SRT relay
whose pipe PyAV demuxes. What it reads leaves on the data path under the pull's id: each video
access unit as it came (Annex B, 90 kHz pts), each decoded audio frame converted to the room's
`rate` (so the server's event loop only copies it into the room's feed). The connection's life
goes on the channel: `pull.opened` {id, info} when the stream opened, `pull.stats` {id,
audio_errors} when undecodable audio was skipped, and `pull.ended` {id, error, public,
permanent, audio_errors} at its end (`public`: the error as non-admins may read it); the
server's notification `pull.close` {id} aborts one. What to do next (reconnect, back off,
give up) stays the server's `ingest.source.FieldSource`'s job: a crash here costs the
connections, and the server reconnects them."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from ingest.puller import READ_FAILED, PullError, PullTarget, SourceReader
from mediacore.channel import Notification
from mediacore.channelio import Channel
from mediacore.codecs.base import Pcm
from mediacore.datapath import audio, video
from mediacore.datapathio import DataPath
from mediacore.resample import Resampler

log = logging.getLogger(__name__)

STATS_INTERVAL = 1.0


@dataclass(slots=True)
class _Pull:
    id: str
    reader: SourceReader
    rate: int
    resampler: Resampler | None = None
    reported_errors: int = 0
    thread: threading.Thread | None = field(default=None, repr=False)


class PullHost:
    """Every pull of this process; serves `pull.open` and `pull.close` on `channel`."""

    def __init__(self, channel: Channel, data: DataPath) -> None:
        self._channel = channel
        self._data = data
        self._loop = asyncio.get_running_loop()
        self._pulls: dict[str, _Pull] = {}
        self._stats: asyncio.Task[None] | None = None
        channel.handlers["pull.open"] = self.open

    def __len__(self) -> int:
        return len(self._pulls)

    async def open(self, data: dict[str, Any]) -> dict[str, Any]:
        """Start one connection; answers at once (its opening is `pull.opened`)."""
        pull_id = str(data["id"])
        if pull_id in self._pulls:
            raise ValueError(f"pull {pull_id!r} is already running")
        target = PullTarget(str(data["url"]), dict(data["options"]), bool(data.get("relay")))
        reader = SourceReader(
            target,
            open_timeout=float(data["open_timeout"]),
            read_timeout=float(data["read_timeout"]),
        )
        pull = _Pull(pull_id, reader, int(data["rate"]))
        pull.thread = threading.Thread(target=self._run, args=(pull,), name=f"pull-{pull_id}")
        pull.thread.daemon = True
        self._pulls[pull_id] = pull
        pull.thread.start()
        if self._stats is None:
            self._stats = self._loop.create_task(self._report_forever())
        return {"id": pull_id}

    def notified(self, message: Notification) -> bool:
        """`pull.close` {id}: abort a pull (its `pull.ended` follows; unknown ids have ended
        already). False for a notification that is not ours."""
        if message.event != "pull.close":
            return False
        pull = self._pulls.get(str(message.data.get("id")))
        if pull is not None:
            pull.reader.abort()
        return True

    async def stop(self) -> None:
        """Abort every pull and wait a little for their threads."""
        if self._stats is not None:
            self._stats.cancel()
        pulls = list(self._pulls.values())
        for pull in pulls:
            pull.reader.abort()
        for pull in pulls:
            if pull.thread is not None:
                await asyncio.to_thread(pull.thread.join, 2.0)

    # -- on the pull's thread -------------------------------------------------------------

    def _run(self, pull: _Pull) -> None:
        error: PullError | None = None
        try:
            pull.reader.run(
                lambda info: self._call(self._opened, pull, info),
                lambda data, pts, keyframe: self._video(pull, data, pts, keyframe),
                lambda pcm, rate: self._audio(pull, pcm, rate),
            )
        except PullError as failure:
            error = failure
        except Exception as failure:  # a bug here costs this connection, not the process
            log.exception("pull %s failed", pull.id)
            error = PullError(str(failure) or type(failure).__name__, public=READ_FAILED)
        self._call(self._ended, pull, error)

    def _video(self, pull: _Pull, data: bytes, pts: int | None, keyframe: bool) -> None:
        # the codec travels in pull.opened; the frame says only whose it is
        self._data.send_threadsafe(video(pull.id, "", data, pts, keyframe))

    def _audio(self, pull: _Pull, pcm: Pcm, rate: int) -> None:
        if pull.resampler is None or pull.resampler.in_rate != rate:
            pull.resampler = Resampler(rate, pull.rate)
        converted = pull.resampler.process(pcm)
        if len(converted):
            self._data.send_threadsafe(audio(pull.id, converted, pull.rate))

    def _call(self, callback: Any, *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            pass  # the loop has closed: the process is going down

    # -- on the event loop ----------------------------------------------------------------

    def _opened(self, pull: _Pull, info: dict[str, Any]) -> None:
        self._channel.notify("pull.opened", id=pull.id, info=info)

    def _ended(self, pull: _Pull, error: PullError | None) -> None:
        self._pulls.pop(pull.id, None)
        self._channel.notify(
            "pull.ended",
            id=pull.id,
            error=error.reason if error is not None else None,
            public=error.public if error is not None else None,
            permanent=error is not None and error.permanent,
            audio_errors=pull.reader.audio_errors,
        )

    async def _report_forever(self) -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL)
            for pull in list(self._pulls.values()):
                errors = pull.reader.audio_errors
                if errors != pull.reported_errors:
                    pull.reported_errors = errors
                    self._channel.notify("pull.stats", id=pull.id, audio_errors=errors)
