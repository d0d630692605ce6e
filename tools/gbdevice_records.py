"""The device simulator's recordings (录像): what a simulated device answers to RecordInfo,
playback and download.

Plugged into tools.gbdevice.GbDeviceSimulator (`DeviceRecordings.attach(device, recordings)`):
- keeps a list of recordings, each a plain picture of one colour over a time range of one
  channel;
- answers Query/RecordInfo with the recordings that overlap the asked range (and its Type),
  `page_size` items per MESSAGE (all of the same SN, each with SumNum, the total);
- answers an INVITE with s=Playback or s=Download: streams the PS picture of the recording
  that covers the offer's t= start, from that time (PTS 0 = the asked start) to the end of the
  recording or of the range, in real time for a playback, `a=downloadspeed` times faster for a
  download; 404 when no recording covers it;
- honours MANSRTSP in INFO: PAUSE, PLAY (resume), `Range: npt=<s>-` (seek, from the
  playback's start) and `Scale:` (speed);
- sends Notify/MediaStatus with NotifyType 121 (in the playback's dialog: its Call-ID) when the
  stream reached its end, and stops sending (or, with `end_with = "bye"`, hangs up instead).

A recording may be given as text: `red@2026-12-07T10:00:00Z/2026-12-07T10:00:30Z[@channel]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ingest.gbmansrtsp import MansrtspError, PlaybackControl, parse_control
from ingest.gbrecords import (
    MEDIA_STATUS_END,
    MediaStatus,
    RecordInfoQuery,
    RecordInfoResponse,
    RecordItem,
    encode_records_message,
    parse_records_message,
    time_range,
)
from ingest.manscdp import ManscdpError
from mediacore.sdp import SdpError, SessionDescription
from sip.message import Request, make_response
from tools.gbdevice import CLOCK, GbDeviceSimulator, encode_gop, parse_colour

log = logging.getLogger("gbdevice")


MAX_DOWNLOAD_SPEED = 16
END_LINGER = 5.0  # seconds a finished stream keeps its socket, waiting for the platform's BYE


@dataclass(frozen=True, slots=True)
class Recording:
    """A recording of channel number `channel` (1-based): `colour` from `start` to `end`
    (Unix seconds)."""

    colour: str
    start: int
    end: int
    channel: int = 1
    name: str = "录像"
    type: str = "time"  # all of them are scheduled (time) recordings


def parse_recording(text: str) -> Recording:
    """`colour@START/END` (ISO 8601 times) or `colour@START/END@channel`. Raises ValueError."""
    colour, _, rest = text.partition("@")
    span, _, channel = rest.partition("@")
    first, _, last = span.partition("/")
    parse_colour(colour)
    start, end = time_range(first, last)
    return Recording(colour, start, end, int(channel or 1))


@dataclass
class RecordStats:
    queries: int = 0
    pages: int = 0
    playbacks: int = 0
    downloads: int = 0
    controls: list[PlaybackControl] = field(default_factory=list)
    media_status: int = 0


class Playback:
    """Drives a stream (`send_frame`) through `duration` seconds of one recording from its
    asked start (PTS from 0), at `scale` times real time, under MANSRTSP control; calls
    `on_end` once everything was sent."""

    def __init__(
        self,
        gop: list[bytes],
        fps: int,
        *,
        duration: float,
        scale: float,
        on_end: Callable[[], None],
    ) -> None:
        self.gop = gop
        self.fps = fps
        self.duration = duration
        self.scale = scale
        self.on_end = on_end
        self.paused = False
        self.finished = False
        self._seek: float | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()

    def control(self, control: PlaybackControl) -> None:
        """Apply a MANSRTSP control (from the SIP side's thread)."""
        with self._lock:
            if control.method == "PAUSE":
                self.paused = True
            elif control.method == "PLAY":
                self.paused = False
                if control.scale is not None:
                    self.scale = control.scale
                if control.position is not None:
                    self._seek = control.position
        self._wake.set()

    def drive(self, send_frame: Callable[[bytes, int, int], None], stop: threading.Event) -> None:
        """Send the recording's frames on the stream's thread until the end or `stop`."""
        fps = self.fps
        total = int(self.duration * fps)
        index = gop_index = sent = 0
        anchor = time.monotonic()
        while not stop.is_set():
            with self._lock:
                seek, self._seek = self._seek, None
                paused, scale = self.paused, self.scale
            if self._wake.is_set():  # a control came: pace from now on
                self._wake.clear()
                anchor, sent = time.monotonic(), 0
            if seek is not None:
                index, gop_index = min(total, int(seek * fps)), 0  # a keyframe first
            if paused:
                stop.wait(0.05)
                continue
            if index >= total:
                self.finished = True
                self.on_end()
                stop.wait(END_LINGER)  # a TCP close before the MESSAGE would look like a drop
                return
            send_frame(self.gop[gop_index % len(self.gop)], index, index * CLOCK // fps)
            index, gop_index, sent = index + 1, gop_index + 1, sent + 1
            delay = anchor + sent / (fps * scale) - time.monotonic()
            if delay > 0:
                self._wake.wait(delay)


class DeviceRecordings:
    """The recordings side of one simulated device."""

    def __init__(
        self,
        device: GbDeviceSimulator,
        recordings: Iterable[Recording | str] = (),
        page_size: int = 2,
    ) -> None:
        """`recordings` as Recording or parse_recording's text; `page_size` items a MESSAGE."""
        self.device = device
        self.recordings = [parse_recording(r) if isinstance(r, str) else r for r in recordings]
        self.page_size = max(1, page_size)
        self.stats = RecordStats()
        self.playbacks: dict[str, Playback] = {}  # by the INVITE's Call-ID
        # how a finished stream says so: MediaStatus 121, or (as some devices do) a BYE
        self.end_with = "media-status"
        self._gops: dict[str, list[bytes]] = {}

    @classmethod
    def attach(
        cls,
        device: GbDeviceSimulator,
        recordings: Iterable[Recording | str] = (),
        page_size: int = 2,
    ) -> DeviceRecordings:
        records = cls(device, recordings, page_size)
        device.extensions.append(records)
        device.recordings = records
        return records

    def request_received(self, request: Request) -> bool:
        """A RecordInfo MESSAGE or an INFO of one of our playbacks: handled, True."""
        if request.method == "MESSAGE":
            return self.message(request)
        if request.method == "INFO" and request.call_id in self.playbacks:
            self.info(request)
            return True
        return False

    # -- RecordInfo ------------------------------------------------------------------------

    def message(self, request: Request) -> bool:
        """A MESSAGE that is a RecordInfo query: answered 200 and then with its pages, True.
        False for anything else (the simulator handles it)."""
        try:
            query = parse_records_message(request.body)
        except ManscdpError:
            return False
        if not isinstance(query, RecordInfoQuery):
            return False
        self.stats.queries += 1
        self.device.respond(make_response(request, 200))
        asyncio.get_running_loop().create_task(self._answer(query))
        return True

    def matching(self, query: RecordInfoQuery) -> list[RecordItem]:
        """The recordings of the query's channel (all channels for the device's id) that
        overlap its range, as items."""
        channels = self.device.channels
        items = []
        for recording in self.recordings:
            channel = channels[recording.channel - 1]
            if query.device_id not in (channel, self.device.config.device_id):
                continue
            if recording.end <= query.start or recording.start >= query.end:
                continue
            if query.type not in ("all", recording.type):
                continue
            items.append(
                RecordItem(
                    channel,
                    name=recording.name,
                    file_path=f"/records/{channel}/{recording.start}.ps",
                    address="指挥中心",
                    start=recording.start,
                    end=recording.end,
                    type=recording.type,
                    file_size=(recording.end - recording.start) * 50_000,
                )
            )
        return items

    async def _answer(self, query: RecordInfoQuery) -> None:
        items = self.matching(query)
        pages = [items[i : i + self.page_size] for i in range(0, len(items), self.page_size)]
        for page in pages or [[]]:
            response = RecordInfoResponse(
                query.device_id, query.sn, len(items), "前门摄像机", tuple(page)
            )
            self.stats.pages += 1
            status = await self.device.send_document(encode_records_message(response))
            if status != 200:
                log.info("the platform answered %d to a RecordInfo page", status)

    # -- playback and download -------------------------------------------------------------

    def playback(self, request: Request, channel: str) -> Playback | None:
        """What an s=Playback / s=Download INVITE asks to stream; None for a live INVITE.
        Raises LookupError when no recording of `channel` covers the asked start."""
        try:
            offer = SessionDescription.parse(request.body)
        except SdpError:
            return None
        kind = offer.session_name.strip()
        if kind not in ("Playback", "Download"):
            return None
        first, _, last = offer.timing.partition(" ")
        start, end = int(first or 0), int(last or 0)
        recording = self._covering(channel, start)
        if recording is None:
            raise LookupError(f"no recording of {channel} at {start}")
        speed = 1.0
        if kind == "Download":
            self.stats.downloads += 1
            media = offer.media[0] if offer.media else None
            asked = media.attribute("downloadspeed") if media is not None else None
            speed = float(min(MAX_DOWNLOAD_SPEED, max(1, int(asked or 1))))
        else:
            self.stats.playbacks += 1
        begin = max(start, recording.start)
        finish = min(end, recording.end) if end > start else recording.end
        call_id = request.call_id
        loop = asyncio.get_running_loop()

        def ended() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed
                loop.call_soon_threadsafe(self._ended, call_id, channel)

        playback = Playback(
            self._gop(recording.colour),
            self.device.config.fps,
            duration=max(0, finish - begin),
            scale=speed,
            on_end=ended,
        )
        self.playbacks[call_id] = playback
        return playback

    def _covering(self, channel: str, moment: int) -> Recording | None:
        channels = self.device.channels
        return next(
            (
                r
                for r in self.recordings
                if channels[r.channel - 1] == channel and r.start <= moment < r.end
            ),
            None,
        )

    def _ended(self, call_id: str, channel: str) -> None:
        if call_id not in self.device.plays:
            return  # the platform ended it meanwhile
        if self.end_with == "bye":
            self.device.hang_up()
            return
        self.stats.media_status += 1
        notify = MediaStatus(channel, self.stats.media_status, MEDIA_STATUS_END)
        asyncio.get_running_loop().create_task(
            self.device.send_document(encode_records_message(notify), call_id=call_id)
        )

    def _gop(self, colour: str) -> list[bytes]:
        if colour not in self._gops:
            config = self.device.config
            self._gops[colour] = encode_gop(
                parse_colour(colour), config.codec, config.width, config.height, config.fps
            )
        return self._gops[colour]

    # -- MANSRTSP --------------------------------------------------------------------------

    def info(self, request: Request) -> None:
        """An INFO: a MANSRTSP control for a playback of ours (200), or 400/481."""
        playback = self.playbacks.get(request.call_id)
        if playback is None or request.call_id not in self.device.plays:
            self.device.respond(make_response(request, 481))
            return
        try:
            control = parse_control(request.body)
        except MansrtspError as error:
            self.device.respond(make_response(request, 400, f"Bad MANSRTSP ({error})"))
            return
        self.stats.controls.append(control)
        playback.control(control)
        self.device.respond(make_response(request, 200))
