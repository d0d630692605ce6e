"""A field camera as a room participant: its video reaches WebRTC subscribers as it was encoded.

`FieldSource` is the endpoint (kind "video"): the roster shows it, and its `VideoSource` is in
the hub under the participant id, so whoever subscribes to that participant gets the camera.
One supervisor task per source drives the connection through these states:

    connecting -> live -> stalled (no packet for `stall_after` s) -> live again
    connecting|live|stalled -> reconnecting (back-off 1, 2, 4 ... 30 s) -> connecting
    any -> failed (a permanent error, or `max_attempts` connections in a row that never went live)
    any -> stopped (removed, or the room closed)
    live|stalled -> paused (a played-back recording paused) -> live (resumed)
    any but failed -> finished (a recording played to its end: no reconnection)

Every change is published as a room event `source.state` {participant, state, reason}.

Video is H.264 or H.265, forwarded as received: H.264 to WebRTC subscribers, walls and
recorders; H.265 to walls and recorders only (WebRTC subscriptions get CodecMismatchError).
The source's audio, if it has any and `audio` is on, is decoded by the reader thread into a
`PcmFeed`, which is this participant's `audio_input`: the room mixes it like any talker (talk
detection, mute, mix-minus, per-participant recording). A source only talks: it has no
`audio_output`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import av

from ingest.pcmfeed import MAX_MS, PcmFeed
from ingest.puller import (
    VIDEO_CODECS,
    AudioSink,
    PullError,
    PullTarget,
    SourceReader,
    StreamFinished,
)
from mediacore.codecs.base import Pcm
from mediacore.endpoint import Endpoint
from mediacore.events import EventBus
from mediacore.joinedroom import JoinedRoom, Member, RoomFormat
from mediacore.redact import redact_url
from mediacore.videohub import INSPECTORS, TIME_BASE, VideoHub, VideoSource, codec_parameters

log = logging.getLogger(__name__)

SourceState = Literal[
    "connecting", "live", "stalled", "reconnecting", "failed", "stopped", "paused", "finished"
]

# Every transition, in one table; anything may go to "stopped".
TRANSITIONS: dict[SourceState, frozenset[SourceState]] = {
    "connecting": frozenset({"live", "reconnecting", "failed", "finished"}),
    "live": frozenset({"stalled", "reconnecting", "failed", "paused", "finished"}),
    "stalled": frozenset({"live", "reconnecting", "failed", "paused", "finished"}),
    "reconnecting": frozenset({"connecting", "failed"}),
    "paused": frozenset({"live", "reconnecting", "failed", "finished"}),
    "failed": frozenset(),
    "stopped": frozenset(),
    "finished": frozenset(),
}


@dataclass(frozen=True, slots=True)
class FieldSourceSettings:
    stall_after: float = 3.0
    max_attempts: int = 10
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    open_timeout: float = 10.0
    read_timeout: float = 5.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before connection number `attempt` + 1 (attempt counts from 1)."""
        return min(self.backoff_max, self.backoff_initial * float(2 ** (attempt - 1)))


DEFAULT_SETTINGS = FieldSourceSettings()
# HLS hands over whole segments (1-10 s) at once: its audio needs room for one, or the feed
# would drop most of each. RTSP, RTMP and SRT arrive paced and keep the default 300 ms.
HLS_AUDIO_MAX_MS = 20_000


class Reader(Protocol):
    """One connection's reader, run on the source's thread: `SourceReader` (PyAV), or a
    protocol's own (GB/T 28181); `run(on_open, on_video, on_audio)` blocks, `abort()` ends it."""

    def run(self, *args: Any, **kwargs: Any) -> None: ...

    def abort(self) -> None: ...


# Makes the reader of each connection attempt (on the event loop thread).
ReaderFactory = Callable[[PullTarget, FieldSourceSettings], Reader]


# Checks, before each connection attempt, that the source's host may still be reached (its
# name may resolve elsewhere by now); raises PullError.
Admission = Callable[[], Awaitable[None]]


class FieldSource(Endpoint):
    """A pulled camera. Starts pulling when it joins a room; `close()` stops it."""

    kind = "video"
    movable = False  # it plays into, or pulls for, its one room

    def __init__(
        self,
        url: str,
        target: PullTarget,
        hub: VideoHub,
        settings: FieldSourceSettings = DEFAULT_SETTINGS,
        *,
        clock: Callable[[], float] = time.monotonic,
        audio: bool = True,
        reader_factory: ReaderFactory | None = None,
        admit: Admission | None = None,
        audio_sink: AudioSink | None = None,
    ) -> None:
        """`audio_sink` takes the source's decoded audio instead of a `PcmFeed` of its own
        (the room mixes elsewhere: in a media worker)."""
        self.url = url
        self.target = target
        # more fields of its roster entry, asked each time (a GB/T 28181 channel's position)
        self.fields: Callable[[], dict[str, Any]] | None = None
        self.settings = settings
        self.state: SourceState = "connecting"
        self.reason = ""  # what anyone may read (events, roster)
        self.detail = ""  # the whole reason, the network's own words included (admins, log)
        self.packets = 0
        self.keyframes = 0
        self.reconnects = 0
        self.bitrate = 0.0
        self.width: int | None = None
        self.height: int | None = None
        self.video: VideoSource | None = None
        self.codec: str | None = None  # "H264" or "H265" once the source has opened
        # audio: `audio` says whether it may join the mix; the codec is shown either way
        self.audio = audio
        self.audio_codec: str | None = None
        self.audio_rate: int | None = None
        self.audio_channels: int | None = None
        self.audio_frames = 0
        self.feed: PcmFeed | None = None
        self._audio_sink = audio_sink
        self._audio_errors = 0  # of finished connections
        self._counted_reader: Reader | None = None  # the last finished one
        self._hub = hub
        self._clock = clock
        self._bus: EventBus | None = None
        self._room_name = ""
        self._participant_id = ""
        self._reader: Reader | None = None
        self._reader_factory = reader_factory
        self._admit = admit
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_packet = clock()
        self._stalled_since = 0.0
        self._bytes = 0
        self._window = (clock(), 0)
        self._live_this_attempt = False

    # -- Endpoint -------------------------------------------------------------------------

    def joined(self, room: JoinedRoom, participant: Member) -> None:
        self.start(room.name, room.bus, room.settings, participant.id)

    def start(self, room: str, bus: EventBus, room_format: RoomFormat, participant_id: str) -> None:
        """Start pulling for participant `participant_id` of `room` (whose events go on
        `bus`): what joining a room does, also for a room mixed in another process."""
        self._bus, self._room_name = bus, room
        self._participant_id = participant_id
        self._loop = asyncio.get_running_loop()
        if self.audio and self._audio_sink is None:
            hls = urlsplit(self.target.url).path.lower().endswith(".m3u8")
            max_ms = HLS_AUDIO_MAX_MS if hls else MAX_MS
            self.feed = PcmFeed(room_format.rate, room_format.ptime, max_ms=max_ms)
        self.video = self._hub.register_source(
            VideoSource(participant_id, "H264", participant_id=participant_id)
        )
        self._publish()  # connecting
        self._tasks = [
            self._loop.create_task(self._supervise()),
            self._loop.create_task(self._watch()),
        ]

    async def close(self, reason: str) -> None:
        self._change("stopped", reason)
        if self._reader is not None:
            self._reader.abort()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.video is not None:
            self.video.close()

    @property
    def reader(self) -> Reader | None:
        """The reader of the connection in progress (None between connections)."""
        return self._reader

    def pause(self, paused: bool) -> None:
        """A played-back recording was paused (or resumed): no stall while it is."""
        if paused:
            self._change("paused", "paused")
        elif self.state == "paused":
            self._last_packet = self._clock()
            self._change("live")

    def describe(self) -> dict[str, Any]:
        return {
            "codec": self.codec,
            "audio": self.audio,
            "audio_codec": self.audio_codec,
            "audio_rate": self.audio_rate,
            "audio_channels": self.audio_channels,
            "url": redact_url(self.url),
            "state": self.state,
            "reason": self.reason,
            "width": self.width,
            "height": self.height,
            **self.statistics(),
            **(self.fields() if self.fields is not None else {}),
        }

    def statistics(self) -> dict[str, float]:
        return {
            "packets": self.packets,
            "keyframes": self.keyframes,
            "reconnects": self.reconnects,
            "bitrate": round(self.bitrate),
            "audio_frames": self.audio_frames,
            "audio_errors": self.audio_errors,
            **(self.feed.statistics() if self.feed is not None else {}),
        }

    @property
    def audio_errors(self) -> int:
        """Audio packets that did not decode, over every connection (skipped, not fatal)."""
        reader = self._reader
        if reader is None or reader is self._counted_reader:
            return self._audio_errors
        return self._audio_errors + int(getattr(reader, "audio_errors", 0))

    # -- state ----------------------------------------------------------------------------

    def _change(self, state: SourceState, reason: str = "", detail: str | None = None) -> None:
        if state == self.state or (state != "stopped" and state not in TRANSITIONS[self.state]):
            return
        if self.state == "stopped":
            return
        self.state, self.reason = state, reason
        self.detail = reason if detail is None else detail
        self._publish()

    def _publish(self) -> None:
        if self._bus is None:
            return
        log.info(
            "field source %s",
            self.state,
            extra={"participant": self._participant_id, "reason": self.detail},
        )
        self._bus.publish(
            "source.state",
            self._room_name,
            participant=self._participant_id,
            state=self.state,
            reason=self.reason,
        )

    async def _supervise(self) -> None:
        attempt = 0
        while self.state not in ("failed", "stopped", "finished"):
            self._change("connecting")
            self._live_this_attempt = False
            try:
                if self._admit is not None:
                    await self._admit()
                reader = self._new_reader()
                self._reader = reader
                await self._in_thread(reader)
                reason = detail = "the stream ended"
            except StreamFinished as end:
                self._change("finished", str(end) or "the recording ended")
                return
            except PullError as error:
                if error.permanent:
                    self._change("failed", error.public, error.reason)
                    return
                reason, detail = error.public, error.reason
            finally:
                self._reader = None
            if self.state == "stopped":
                return
            attempt = 1 if self._live_this_attempt else attempt + 1
            if attempt > self.settings.max_attempts:
                gave_up = f"gave up after {self.settings.max_attempts} attempts"
                self._change("failed", f"{gave_up}: {reason}", f"{gave_up}: {detail}")
                return
            self.reconnects += 1
            self._change("reconnecting", reason, detail)
            await asyncio.sleep(self.settings.backoff(attempt))

    def _new_reader(self) -> Reader:
        if self._reader_factory is not None:
            return self._reader_factory(self.target, self.settings)
        return SourceReader(
            self.target,
            open_timeout=self.settings.open_timeout,
            read_timeout=self.settings.read_timeout,
        )

    async def _in_thread(self, reader: Reader) -> None:
        """Run one connection on its own thread (it may block for hours: not the executor)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def finish(error: BaseException | None) -> None:
            # on the loop thread, like describe(): the count moves over in one step
            self._audio_errors += getattr(reader, "audio_errors", 0)
            self._counted_reader = reader
            if done.done():
                return
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

        def work() -> None:
            error: BaseException | None = None
            try:
                reader.run(self._opened_threadsafe, self._video_threadsafe, self._audio_threadsafe)
            except BaseException as caught:  # handed to the loop, raised there
                error = caught
            try:
                loop.call_soon_threadsafe(finish, error)
            except RuntimeError:
                pass  # the loop has closed

        if self.feed is not None:
            self.feed.restart()
        threading.Thread(target=work, name=f"ingest-{self._participant_id}", daemon=True).start()
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            reader.abort()
            raise

    async def _watch(self) -> None:
        """Once per half second: stall detection and the bitrate gauge."""
        while True:
            await asyncio.sleep(0.5)
            now = self._clock()
            started, counted = self._window
            if now - started >= 1.0:
                self.bitrate = (self._bytes - counted) * 8 / (now - started)
                self._window = (now, self._bytes)
            silent = now - self._last_packet
            if self.state == "live" and silent >= self.settings.stall_after:
                self._stalled_since = now
                self._change("stalled", f"no packet for {silent:.0f} s")
            elif (
                self.state == "stalled"
                and now - self._stalled_since >= self.settings.read_timeout
                and self._reader is not None
            ):
                self._reader.abort()  # the SRT relay's pipe has no read timeout of its own

    # -- from the reader thread -----------------------------------------------------------

    def _opened_threadsafe(self, info: dict[str, Any]) -> None:
        self._call_soon(self._opened, info)

    def _video_threadsafe(self, data: bytes, pts: int | None, keyframe: bool) -> None:
        self._call_soon(self._on_video, data, pts, keyframe)

    def _audio_threadsafe(self, pcm: Pcm, rate: int) -> None:
        # straight into the feed (thread-safe, converted here): the event loop never sees it
        self.audio_frames += 1
        if self.state in ("stopped", "failed"):
            return
        if self._audio_sink is not None:
            if self.audio:
                self._audio_sink(pcm, rate)
        elif self.feed is not None:
            self.feed.push(pcm, rate)

    def _call_soon(self, callback: Callable[..., None], *args: Any) -> None:
        if self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            pass  # the loop has closed: the server is going down

    def _opened(self, info: dict[str, Any]) -> None:
        self.width = info.get("width") or None
        self.height = info.get("height") or None
        codec = str(info.get("codec") or "")
        self._set_codec(VIDEO_CODECS.get(codec.lower(), codec.upper()) or "H264")
        if self.video is not None and self.width and self.height:  # H.265's is not parsed there
            self.video.width, self.video.height = self.width, self.height
        self.audio_codec = info.get("audio_codec") or None
        self.audio_rate = info.get("audio_rate") or None
        self.audio_channels = info.get("audio_channels") or None
        if self.feed is not None and self.audio_codec is not None:
            self.audio_input = self.feed  # the mixer reads it from the next tick on

    def _set_codec(self, name: str) -> None:
        """The video codec this connection turned out to carry. Subscribers negotiated for
        another codec end (a camera reconfigured between connections); an H.265 source keeps
        `codec` None, so WebRTC subscriptions are refused with CodecMismatchError."""
        self.codec = name
        video = self.video
        if video is None or video.codec_name == name:
            return
        for track in video.subscribers:
            track.stop()
        video.codec_name = name
        video.codec = codec_parameters(name) if name in INSPECTORS else None

    def _on_video(self, data: bytes, pts: int | None, keyframe: bool) -> None:
        if self.state in ("stopped", "failed") or self.video is None:
            return
        self.packets += 1
        self.keyframes += keyframe
        self._bytes += len(data)
        self._last_packet = self._clock()
        self._live_this_attempt = True
        if self.state in ("connecting", "stalled"):
            self._change("live")
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = TIME_BASE
        self.video.push(packet, keyframe)
