"""A field camera as a room participant: its video reaches WebRTC subscribers as it was encoded.

`FieldSource` is the endpoint (kind "video"): the roster shows it, and its `VideoSource` is in
the hub under the participant id, so whoever subscribes to that participant gets the camera.
One supervisor task per source drives the connection through these states:

    connecting -> live -> stalled (no packet for `stall_after` s) -> live again
    connecting|live|stalled -> reconnecting (back-off 1, 2, 4 ... 30 s) -> connecting
    any -> failed (a permanent error, or `max_attempts` connections in a row that never went live)
    any -> stopped (removed, or the room closed)

Every change is published as a room event `source.state` {participant, state, reason}.
Audio from field sources is not mixed into the room (yet): only the video is taken.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import av

from ingest.puller import PullError, PullTarget, SourceReader
from mediacore.endpoint import Endpoint
from webrtc.video import TIME_BASE, VideoHub, VideoSource

if TYPE_CHECKING:
    from mediacore.participant import Participant
    from mediacore.room import Room

log = logging.getLogger(__name__)

SourceState = Literal["connecting", "live", "stalled", "reconnecting", "failed", "stopped"]

# Every transition, in one table; anything may go to "stopped".
TRANSITIONS: dict[SourceState, frozenset[SourceState]] = {
    "connecting": frozenset({"live", "reconnecting", "failed"}),
    "live": frozenset({"stalled", "reconnecting", "failed"}),
    "stalled": frozenset({"live", "reconnecting", "failed"}),
    "reconnecting": frozenset({"connecting", "failed"}),
    "failed": frozenset(),
    "stopped": frozenset(),
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


def redacted(url: str) -> str:
    """`url` without its user and password (the roster is readable by every operator)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


class FieldSource(Endpoint):
    """A pulled camera. Starts pulling when it joins a room; `close()` stops it."""

    kind = "video"

    def __init__(
        self,
        url: str,
        target: PullTarget,
        hub: VideoHub,
        settings: FieldSourceSettings = DEFAULT_SETTINGS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.target = target
        self.settings = settings
        self.state: SourceState = "connecting"
        self.reason = ""
        self.packets = 0
        self.keyframes = 0
        self.reconnects = 0
        self.bitrate = 0.0
        self.width: int | None = None
        self.height: int | None = None
        self.video: VideoSource | None = None
        self._hub = hub
        self._clock = clock
        self._room: Room | None = None
        self._participant_id = ""
        self._reader: SourceReader | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_packet = clock()
        self._stalled_since = 0.0
        self._bytes = 0
        self._window = (clock(), 0)
        self._live_this_attempt = False

    # -- Endpoint -------------------------------------------------------------------------

    def joined(self, room: Room, participant: Participant) -> None:
        self._room = room
        self._participant_id = participant.id
        self._loop = asyncio.get_running_loop()
        self.video = self._hub.register_source(
            VideoSource(participant.id, "H264", participant_id=participant.id)
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

    def describe(self) -> dict[str, Any]:
        return {
            "codec": "H264",
            "url": redacted(self.url),
            "state": self.state,
            "reason": self.reason,
            "width": self.width,
            "height": self.height,
            **self.statistics(),
        }

    def statistics(self) -> dict[str, float]:
        return {
            "packets": self.packets,
            "keyframes": self.keyframes,
            "reconnects": self.reconnects,
            "bitrate": round(self.bitrate),
        }

    # -- state ----------------------------------------------------------------------------

    def _change(self, state: SourceState, reason: str = "") -> None:
        if state == self.state or (state != "stopped" and state not in TRANSITIONS[self.state]):
            return
        if self.state == "stopped":
            return
        self.state, self.reason = state, reason
        self._publish()

    def _publish(self) -> None:
        if self._room is None:
            return
        log.info(
            "field source %s",
            self.state,
            extra={"participant": self._participant_id, "reason": self.reason},
        )
        self._room.bus.publish(
            "source.state",
            self._room.name,
            participant=self._participant_id,
            state=self.state,
            reason=self.reason,
        )

    async def _supervise(self) -> None:
        attempt = 0
        while self.state not in ("failed", "stopped"):
            self._change("connecting")
            self._live_this_attempt = False
            reader = SourceReader(
                self.target,
                open_timeout=self.settings.open_timeout,
                read_timeout=self.settings.read_timeout,
            )
            self._reader = reader
            try:
                await self._in_thread(reader)
                reason = "the stream ended"
            except PullError as error:
                if error.permanent:
                    self._change("failed", error.reason)
                    return
                reason = error.reason
            finally:
                self._reader = None
            if self.state == "stopped":
                return
            attempt = 1 if self._live_this_attempt else attempt + 1
            if attempt > self.settings.max_attempts:
                self._change(
                    "failed", f"gave up after {self.settings.max_attempts} attempts: {reason}"
                )
                return
            self.reconnects += 1
            self._change("reconnecting", reason)
            await asyncio.sleep(self.settings.backoff(attempt))

    async def _in_thread(self, reader: SourceReader) -> None:
        """Run one connection on its own thread (it may block for hours: not the executor)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def finish(error: BaseException | None) -> None:
            if done.done():
                return
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

        def work() -> None:
            error: BaseException | None = None
            try:
                reader.run(self._opened_threadsafe, self._video_threadsafe)
            except BaseException as caught:  # handed to the loop, raised there
                error = caught
            try:
                loop.call_soon_threadsafe(finish, error)
            except RuntimeError:
                pass  # the loop has closed

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
