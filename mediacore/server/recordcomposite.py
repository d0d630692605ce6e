"""Recordings get their room's composite track: the conference picture (the room's common
variant, what a viewer not in the picture sees, at the room's size) with the room's mix in one
file, hash-chained like every track (recorder/videolive.py, kind "composite").

The composed picture exists only while someone watches it (mediacore.server.conferences): a
recording that records it is such a viewer. Its tap on the picture's hub source counts as one
(`VideoSource.watched`), from the recording's first moment with a camera in the room to its
stop, when the tap is removed and the picture's process may go idle. Where the picture comes
from is the caller's (`find`): in one process the conference service's hub source; in a media
worker control's, asked for with "video.composed" and imported like a field camera. A picture
that ends (its conference stopped) ends the track and the next one starts ("composite-2"); a
change of its size goes on in the same track (the parameter sets are in band)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mediacore.channelio import RequestFailed
from mediacore.server.recordvideo import LiveRecordings, TrackTap, reconcile_forever
from mediacore.server.workervideo import WorkerVideo
from mediacore.videohub import VideoHub, VideoSource
from recorder.live import LiveRecording

log = logging.getLogger(__name__)

RETRY_AFTER_S = 2.0  # a picture that could not be had is asked for again after this long

# The composed picture of a room, as a source of the local hub (None: not to be had now).
ComposedFinder = Callable[[str], Awaitable[VideoSource | None]]


def wants_composite(live: LiveRecording, sources: list[VideoSource]) -> bool:
    """Whether the recorded room has a conference picture worth recording: it is a video
    conference (its `video` setting is set: a voice room with a drone camera does not get an
    encode it never asked for) and one of its participants has a video source."""
    if live.room.settings.video is None:
        return False
    members = live.room.participants
    return any(not s.closed and (s.participant_id or s.id) in members for s in sources)


class RecordingComposite:
    """Keeps one composite track per live recording of `recorder` whose room is a video
    conference with a camera."""

    def __init__(
        self,
        recorder: LiveRecordings,
        hub: VideoHub,
        find: ComposedFinder,
        *,
        retry_after: float = RETRY_AFTER_S,
    ) -> None:
        self.recorder = recorder
        self.hub = hub
        self.find = find
        self.retry_after = retry_after
        self._taps: dict[str, TrackTap] = {}  # by recording id
        self._asking: dict[str, asyncio.Task[None]] = {}
        self._retry: dict[str, float] = {}  # recording id -> not before (loop time)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            reconcile_forever(self.reconcile, "composite recording")
        )

    async def stop(self) -> None:
        """Remove every tap and end its track (after the recorder stopped)."""
        for task in [self._task, *self._asking.values()]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for recording_id in list(self._taps):
            self._drop(recording_id)

    def reconcile(self) -> None:
        """Ask for the picture of every recording that wants one and has none; release the
        picture of recordings stopped, and of pictures ended."""
        loop = asyncio.get_running_loop()
        sources = self.hub.all()
        live = {r.id: r for r in self.recorder.live_recordings() if r.state == "recording"}
        for recording_id, tap in list(self._taps.items()):
            if recording_id not in live or tap.source.closed:
                self._drop(recording_id)
            elif tap.track.ending:
                tap.remove()  # failed (disk full): kept, so that no new track is tried
        for recording_id, recording in live.items():
            if recording_id in self._taps or recording_id in self._asking:
                continue
            if loop.time() < self._retry.get(recording_id, 0.0):
                continue
            if wants_composite(recording, sources):
                task = loop.create_task(self._attach(recording))
                self._asking[recording_id] = task
        for recording_id in list(self._retry):
            if recording_id not in live:
                del self._retry[recording_id]

    def statistics(self) -> list[dict[str, Any]]:
        return [
            {"recording": rid, "source": tap.source.id, "track": tap.track.id}
            for rid, tap in self._taps.items()
        ]

    async def _attach(self, live: LiveRecording) -> None:
        try:
            source = await self.find(live.room.name)
        except Exception:  # the picture's process could not start: try again later
            log.exception("composed picture not to be had", extra={"recording": live.id})
            source = None
        finally:
            self._asking.pop(live.id, None)
        if source is None or source.closed or not source.codec_name:
            self._retry[live.id] = asyncio.get_running_loop().time() + self.retry_after
            return
        if live.state != "recording" or live.id in self._taps:
            return
        track = live.add_video(
            source.id, None, source.codec_name, source.request_keyframe, composite=True
        )
        if track is None:
            self._retry[live.id] = asyncio.get_running_loop().time() + self.retry_after
            return
        self._taps[live.id] = TrackTap.start(live, source, track)
        log.info("composite recorded", extra={"recording": live.id, "source": source.id})

    def _drop(self, recording_id: str) -> None:
        self._taps.pop(recording_id).end()


def local_finder(
    composed: Callable[[str, str | None], Awaitable[str]], hub: VideoHub
) -> ComposedFinder:
    """In one process: the conference service's common picture of the room, in `hub`."""

    async def find(room: str) -> VideoSource | None:
        try:
            return hub.get(await composed(room, None))
        except KeyError:  # the room closed meanwhile
            return None

    return find


def worker_finder(video: WorkerVideo) -> ComposedFinder:
    """In a media worker: control's common picture of the room, imported into the worker's
    hub like a field camera (and released by it once the recording's tap is gone)."""

    async def find(room: str) -> VideoSource | None:
        try:
            answer = await video.channel.request("video.composed", room=room, participant=None)
            source_id = str(answer["source"])
            await video.ensure(source_id)
            return video.hub.get(source_id)
        except (RequestFailed, ConnectionError, KeyError):
            return None

    return find
