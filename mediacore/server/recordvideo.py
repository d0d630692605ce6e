"""Recordings get their room's video: every video source of a participant of a recorded room is
tapped into a video track of that recording (recorder/videolive.py), remuxed, never re-encoded.

The recorder does not know the video hub and the hub does not know the recorder (edges do not
import each other); this is where they meet. Every RECONCILE_EVERY seconds, and at once after a
recording starts or a participant or source comes or goes, the wanted pairs (recording, source)
are compared with the taps in place: new pairs get a track and a tap, gone ones lose their tap
and their track ends (its file is finished by its own thread)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mediacore.events import Event, EventBus
from mediacore.videohub import UnknownVideoSourceError, VideoHub, VideoSource
from recorder.live import LiveRecording
from recorder.videolive import LiveVideoTrack

log = logging.getLogger(__name__)

RECONCILE_EVERY = 0.5
_PROMPT_EVENTS = frozenset(
    {"recording.started", "participant.joined", "participant.left", "source.state"}
)


@dataclass(slots=True)
class TrackTap:
    """A video source of the hub tapped into a video track of a live recording."""

    live: LiveRecording
    source: VideoSource
    track: LiveVideoTrack
    remove: Callable[[], None]  # takes the tap off the source

    @classmethod
    def start(cls, live: LiveRecording, source: VideoSource, track: LiveVideoTrack) -> TrackTap:
        """Tap `source` into `track`: every packet it sends from now on is offered to it."""

        def tap(packet: Any, keyframe: bool) -> None:
            # The packet is shared with every subscriber: copy its bytes, keep nothing else.
            track.offer(bytes(packet), int(packet.pts or 0), keyframe)

        return cls(live, source, track, source.add_tap(tap))

    def end(self) -> None:
        """Take the tap off and end the track (its file is finished by its own thread)."""
        self.remove()
        self.track.end()


async def reconcile_forever(reconcile: Callable[[], None], what: str) -> None:
    """Call `reconcile` every RECONCILE_EVERY seconds; a failure is logged (as `what`'s),
    never the end of the loop."""
    while True:
        try:
            reconcile()
        except Exception:  # a bug here must not end the recording of video for good
            log.exception("%s reconcile failed", what)
        await asyncio.sleep(RECONCILE_EVERY)


class LiveRecordings(Protocol):
    def live_recordings(self) -> list[LiveRecording]:
        """The recordings whose tracks this process writes."""
        ...


class RecordingVideo:
    """Keeps the video taps of `recorder`'s live recordings in step with `hub`'s sources
    (the recorder service's in one process; a media worker's recorder and hub in each worker)."""

    def __init__(self, recorder: LiveRecordings, hub: VideoHub, bus: EventBus) -> None:
        self.recorder = recorder
        self.hub = hub
        self.bus = bus
        self._taps: dict[tuple[str, str], TrackTap] = {}  # by (recording id, source id)
        self._task: asyncio.Task[None] | None = None
        self._prompt: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.bus.listen(self._event)
        self._task = self._loop.create_task(reconcile_forever(self.reconcile, "video recording"))

    async def stop(self) -> None:
        """Remove every tap and end its track (call after the recorder stopped: the tracks of
        the recordings it closed are finished already)."""
        self.bus.unlisten(self._event)
        if self._prompt is not None:
            self._prompt.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for key in list(self._taps):
            self._drop(key)

    def reconcile(self) -> None:
        """Tap every wanted (recording, source) pair not yet tapped; untap the others."""
        wanted: dict[tuple[str, str], tuple[LiveRecording, VideoSource]] = {}
        sources = self._sources()
        for live in self.recorder.live_recordings():
            if live.state != "recording":
                continue
            for source in sources:
                owner = source.participant_id or source.id
                if owner in live.room.participants:
                    wanted[(live.id, source.id)] = (live, source)
        for key, tap in list(self._taps.items()):
            gone = key not in wanted or wanted[key][1] is not tap.source
            if gone or tap.source.codec_name != tap.track.codec:
                self._drop(key)  # a codec switch starts a new track
            elif tap.track.ending:
                tap.remove()  # failed (disk full): kept, so that no new track is tried
        for key, (live, source) in wanted.items():
            if key not in self._taps and source.codec_name:
                self._add(key, live, source)

    def statistics(self) -> list[dict[str, Any]]:
        """One entry per tapped source: recording, source, track and its counters."""
        return [
            {
                "recording": tap.live.id,
                "source": tap.source.id,
                "track": tap.track.id,
                "frames_offered": tap.track.frames_offered,
                "frames_dropped": tap.track.frames_dropped,
            }
            for tap in self._taps.values()
        ]

    def _sources(self) -> list[VideoSource]:
        found = []
        for entry in self.hub.sources():
            try:
                source = self.hub.get(str(entry["id"]))
            except UnknownVideoSourceError:
                continue
            if not source.closed:
                found.append(source)
        return found

    def _add(self, key: tuple[str, str], live: LiveRecording, source: VideoSource) -> None:
        track = live.add_video(
            source.id, source.participant_id or source.id, source.codec_name,
            source.request_keyframe,
        )  # fmt: skip
        if track is None:
            return
        self._taps[key] = TrackTap.start(live, source, track)
        log.info(
            "video recorded",
            extra={"recording": live.id, "source": source.id, "track": track.id},
        )

    def _drop(self, key: tuple[str, str]) -> None:
        self._taps.pop(key).end()

    def _event(self, event: Event) -> None:
        if event.type in _PROMPT_EVENTS and self._prompt is None and self._loop is not None:
            self._prompt = self._loop.call_soon_threadsafe(self._prompted)

    def _prompted(self) -> None:
        self._prompt = None
        self.reconcile()
