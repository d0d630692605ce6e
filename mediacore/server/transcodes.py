"""H.264 twins of H.265 sources, for the receivers that cannot take H.265 (every browser over
aiortc, SIP and RTP terminals that negotiated H.264).

The first receiver that asks for a twin (`<source>~h264`, mediacore.transcodetwin) makes it:
a hub source registered at once, fed by a transcoder in a video process (FFmpeg work never
runs here nor in a media worker). The transcoder is a conference runner of that process
(mediacore.server.videoconferences: the walls' decoder, painter and x264 wrapper) painting
one picture, the source over the whole frame at the source's size, with one variant per
quality tier in use (`t0` full, `t1` half, `t2` a quarter of the bit rate,
mediacore.qualitytiers): receivers at one tier share its encode. Every transcode of the server
runs in one video process ("transcodes"), started with the first and stopped with the last.

A tier nobody receives for `idle_stop_s` ends (its twin closes, its encoder stops); a
transcode with no tier left ends. Subscribers of the original (walls, recordings) are
untouched: they tap the H.265 source as before."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av

from mediacore.channel import Notification
from mediacore.channelio import RequestFailed
from mediacore.clock import MONOTONIC, Clock
from mediacore.datapath import MediaFrame
from mediacore.qualitytiers import TIER_NAMES, TIERS
from mediacore.server.children import ChildProcess
from mediacore.server.sourcefeed import SourceFeed
from mediacore.server.videoconferences import variant_source
from mediacore.transcodetwin import CODEC, FPS, TRANSCODED, parse_twin, transcode_size, twin_id
from mediacore.videohub import TIME_BASE, VideoHub, VideoSource
from mixer.layout import Tile
from mixer.variants import picture_json

log = logging.getLogger(__name__)

IDLE_STOP_S = 10.0
ROUND_S = 0.5

ProcessFactory = Callable[[str], ChildProcess]


def variant_of(tier: int) -> str:
    return f"t{tier}"


@dataclass
class _Twin:
    source: VideoSource
    created: float
    watched_at: float = 0.0


@dataclass
class _Transcode:
    original: VideoSource
    created: float
    size: tuple[int, int]
    twins: dict[int, _Twin] = field(default_factory=dict)
    started: bool = False

    @property
    def key(self) -> str:
        """The runner's name in the video process."""
        return twin_id(self.original.id)


class TranscodeService:
    def __init__(
        self,
        hub: VideoHub,
        new_process: ProcessFactory,
        *,
        clock: Clock = MONOTONIC,
        fps: float = FPS,
        idle_stop_s: float = IDLE_STOP_S,
    ) -> None:
        self._hub = hub
        self._new_process = new_process
        self._clock = clock
        self._fps = fps
        self._idle_stop_s = idle_stop_s
        self._transcodes: dict[str, _Transcode] = {}
        self._process: ChildProcess | None = None
        self._feed: SourceFeed | None = None
        self._wanted: frozenset[str] = frozenset()
        self._starting: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.started_total = 0  # transcodes ever started (tests, metrics)

    # -- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._spawn(self._rounds())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for transcode in list(self._transcodes.values()):
            self._end(transcode)
        process, self._process = self._process, None
        if process is not None:
            await process.stop()

    # -- what receivers ask ---------------------------------------------------------------

    def playable(self, source_id: str) -> str:
        """The source a WebRTC subscriber is given for `source_id`: its H.264 twin when it is
        H.265, else the source itself."""
        with contextlib.suppress(KeyError):
            if self._hub.get(source_id).codec_name in TRANSCODED:
                return twin_id(source_id)
        return source_id

    def resolve(self, source_id: str) -> VideoSource | None:
        """The twin named `source_id`, made now if its original is an open H.265 source (the
        hub's resolver: any `get` of a twin's name makes it); None for any other name."""
        parsed = parse_twin(source_id)
        if parsed is None or parsed[1] >= len(TIERS):
            return None
        original_id, tier = parsed
        try:
            original = self._hub.get(original_id)
        except KeyError:
            return None
        if original.closed or original.codec_name not in TRANSCODED:
            return None
        now = self._clock.now()
        transcode = self._transcodes.get(original_id)
        if transcode is None or transcode.original is not original:
            if transcode is not None:
                self._end(transcode)
            transcode = _Transcode(original, now, self._size(original))
            self._transcodes[original_id] = transcode
            original.on_ended(lambda _s: self._original_ended(transcode))
            self.started_total += 1
            log.info("transcode started", extra={"source": original_id})
        twin = VideoSource(
            source_id, CODEC, participant_id=original.participant_id, room=original.room
        )
        twin.keyframe_requester = lambda: self._keyframe(transcode, tier)
        self._hub.register_source(twin)
        transcode.twins[tier] = _Twin(twin, now, now)
        twin.on_ended(lambda s: self._twin_ended(transcode, tier, s))
        self._spawn(self._run(transcode))
        return twin

    # -- what the API shows ---------------------------------------------------------------

    def fields(self, source_id: str) -> dict[str, Any]:
        """What a source's listing adds while a transcode of it runs."""
        transcode = self._transcodes.get(source_id)
        if transcode is None:
            return {}
        tiers = {
            TIER_NAMES[tier]: {
                "source": twin.source.id,
                "subscribers": len(twin.source.subscribers),
            }
            for tier, twin in sorted(transcode.twins.items())
        }
        width, height = transcode.size
        return {
            "transcode": {
                "codec": CODEC,
                "source": transcode.key,
                "width": width,
                "height": height,
                "running": transcode.started,
                "tiers": tiers,
            }
        }

    def statistics(self) -> dict[str, Any]:
        return {
            "transcodes": len(self._transcodes),
            "encodes": sum(len(t.twins) for t in self._transcodes.values()),
            "started_total": self.started_total,
        }

    # -- the video process ----------------------------------------------------------------

    async def _run(self, transcode: _Transcode) -> None:
        try:
            process = await self._ensure_process()
        except (OSError, TimeoutError, ConnectionError) as error:
            log.error("the transcodes' video process did not start: %s", error)
            return
        if self._transcodes.get(transcode.original.id) is not transcode:
            return
        if not transcode.started:
            try:
                await process.request("conference.start", room=transcode.key, fps=self._fps)
            except (ConnectionError, RequestFailed, TimeoutError):
                return  # restarting: on_restart starts it again
            transcode.started = True
        self._update(transcode)

    async def _ensure_process(self) -> ChildProcess:
        if self._process is None:
            process = self._new_process("transcodes")
            self._process = process
            self._feed = SourceFeed(process.send)
            process.on_notification = self._notified
            process.on_frame = self._frame
            process.on_drop = self._request_keyframe
            process.on_lost = self._lost
            process.on_restart = self._restarted
            self._starting = asyncio.ensure_future(process.start())
        process, starting = self._process, self._starting
        try:
            if starting is not None:
                await asyncio.shield(starting)
            await process.wait_running()
        except BaseException:
            if self._process is process and starting is not None and starting.done():
                self._process, self._feed, self._starting = None, None, None  # next ask: anew
            raise
        return process

    def _update(self, transcode: _Transcode) -> None:
        process = self._process
        if process is None or not transcode.started or process.state != "running":
            return
        width, height = transcode.size
        tiles = picture_json((Tile(0, 0, width, height, transcode.original.id, ""),))
        variants = {
            variant_of(tier): {"width": width, "height": height, "tiles": tiles, "share": share}
            for tier, share in enumerate(TIERS)
            if tier in transcode.twins
        }
        sources = {s.id: s for s in self._hub.all()}
        process.notify(
            "conference.variants",
            room=transcode.key,
            variants=variants,
            available={sid: source.codec_name for sid, source in sources.items()},
        )
        if self._feed is not None:
            self._feed.follow(self._wanted, sources)

    def _notified(self, message: Notification) -> None:
        if message.event == "video.wanted":
            self._wanted = frozenset(str(s) for s in message.data.get("sources", ()))
            if self._feed is not None:
                self._feed.follow(self._wanted, {s.id: s for s in self._hub.all()})
        elif message.event == "source.keyframe":
            self._request_keyframe(str(message.data.get("source")))

    def _frame(self, frame: MediaFrame) -> None:
        """An encoded picture of a tier: to its twin."""
        for transcode in list(self._transcodes.values()):
            prefix = variant_source(transcode.key, "t")
            if frame.source.startswith(prefix) and frame.source[len(prefix) :].isdigit():
                twin = transcode.twins.get(int(frame.source[len(prefix) :]))
                if twin is not None:
                    packet = av.Packet(frame.payload)
                    packet.pts, packet.time_base = frame.pts, TIME_BASE
                    twin.source.push(packet, frame.keyframe)
                return

    def _keyframe(self, transcode: _Transcode, tier: int) -> None:
        if self._process is not None and transcode.started:
            self._process.notify(
                "conference.keyframe", room=transcode.key, variant=variant_of(tier)
            )

    def _request_keyframe(self, source_id: str) -> None:
        with contextlib.suppress(KeyError):
            self._hub.get(source_id).request_keyframe()

    def _lost(self) -> None:
        log.error("the transcodes' video process was lost")
        for transcode in self._transcodes.values():
            transcode.started = False
        if self._feed is not None:
            self._feed.clear()

    async def _restarted(self) -> None:
        for transcode in list(self._transcodes.values()):
            await self._run(transcode)

    # -- ends -----------------------------------------------------------------------------

    def _twin_ended(self, transcode: _Transcode, tier: int, source: VideoSource) -> None:
        twin = transcode.twins.get(tier)
        if twin is not None and twin.source is source:
            del transcode.twins[tier]
        if not transcode.twins:
            self._end(transcode)
        else:
            self._update(transcode)

    def _original_ended(self, transcode: _Transcode) -> None:
        self._end(transcode)

    def _end(self, transcode: _Transcode) -> None:
        if self._transcodes.get(transcode.original.id) is not transcode:
            return
        del self._transcodes[transcode.original.id]
        log.info("transcode stopped", extra={"source": transcode.original.id})
        for twin in list(transcode.twins.values()):
            twin.source.close()
        if self._process is not None and transcode.started:
            self._spawn(self._stop_runner(transcode.key))

    async def _stop_runner(self, key: str) -> None:
        process = self._process
        if process is None:
            return
        with contextlib.suppress(ConnectionError, RequestFailed, TimeoutError):
            await process.request("conference.stop", room=key)
        if not self._transcodes and self._process is process:
            self._process, self._feed, self._starting = None, None, None
            await process.stop()

    # -- every round ----------------------------------------------------------------------

    def _size(self, original: VideoSource) -> tuple[int, int]:
        return transcode_size(original.width, original.height)

    async def _rounds(self) -> None:
        while True:
            await asyncio.sleep(ROUND_S)
            now = self._clock.now()
            for transcode in list(self._transcodes.values()):
                for twin in list(transcode.twins.values()):
                    if twin.source.watched:
                        twin.watched_at = now
                    elif now - twin.watched_at > self._idle_stop_s:
                        twin.source.close()  # its tier ends; the last one ends the transcode
                size = self._size(transcode.original)
                if size != transcode.size:
                    transcode.size = size
                    self._update(transcode)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
