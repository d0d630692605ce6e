"""The video hub: every published video track reaches every subscriber as its publisher encoded it.

It is the core's, because every edge meets here: WebRTC publishes and subscribes, field video
(ingest) publishes, walls and recorders tap. One `VideoSource` per published track takes encoded
frames (from a WebRTC publisher through `videotap.ReceiverTap`, or from any ingest through
`VideoSource.push`) and hands the same `av.Packet` to one `ForwardedVideoTrack` per subscriber.
aiortc's `RTCRtpSender` sees a packet, not a frame, and calls its encoder's `pack()`:
packetization only, no decode and no re-encode, whatever the number of subscribers.

A subscriber can only start decoding at a keyframe, so a new track holds everything until one
arrives and asks the source for it; the source turns requests into PLIs toward the publisher, at
most one per `pli_interval` (later ones are coalesced into one at the end of the interval, and
dropped if a keyframe arrives first). A track whose queue spans more than `max_delay` of video
drops it all and waits for the next keyframe the same way: a gap in a VP8/H.264 stream is only
repaired by a keyframe.

`VideoHub` is what signalling calls: it registers publishers (bare peer connections, or legs
through `attach`), gives each subscription a video sender pinned to the publisher's codec, and
reports per-source stats.
Everything here runs on the event loop thread.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

import av
from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc import sdp as aiortc_sdp
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcpeerconnection import is_codec_compatible
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters

from mediacore.clock import MONOTONIC, Clock
from mediacore.qualitytiers import lowest_estimate
from mediacore.senderestimate import SenderEstimate
from mediacore.videotap import (
    EncodedFrame,
    ReceiverTap,
    observe_sender_rtcp,
    relay_keyframe_requests,
    restrict_answer_codecs,
)

log = logging.getLogger(__name__)

CLOCK_RATE = 90000
TIME_BASE = Fraction(1, CLOCK_RATE)
# A frame duration to bridge a timestamp discontinuity (an ingest reconnecting): 30 fps.
_BRIDGE_TICKS = CLOCK_RATE // 30
_MAX_JUMP_TICKS = 10 * CLOCK_RATE


# What a tap receives: one encoded frame (90 kHz pts) and whether it is a keyframe.
PacketTap = Callable[["av.Packet[Any]", bool], None]


class VideoForwardingError(Exception):
    """A subscription cannot be made as asked."""


class UnknownVideoSourceError(VideoForwardingError, KeyError):
    """No source has this id (never registered, or its publisher left)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class NotSubscribedError(VideoForwardingError, KeyError):
    """This subscriber does not receive this source."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CodecMismatchError(VideoForwardingError):
    """The subscriber cannot receive the publisher's codec; forwarding never transcodes."""


# --- bitstream inspection: is this frame a keyframe, and what size does it announce -----------


@dataclass(frozen=True, slots=True)
class FrameInfo:
    keyframe: bool
    width: int | None = None
    height: int | None = None


def inspect_vp8(data: bytes) -> FrameInfo:
    """Read the VP8 frame tag (RFC 6386 section 9.1): P bit clear and the start code make a
    keyframe, which carries the 14-bit width and height."""
    if len(data) < 10 or data[0] & 0x01 or data[3:6] != b"\x9d\x01\x2a":
        return FrameInfo(keyframe=False)
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return FrameInfo(keyframe=True, width=width, height=height)


def _nal_units(data: bytes) -> Iterator[bytes]:
    for unit in data.split(b"\x00\x00\x01"):
        # a 4-byte start code leaves its first zero on the previous unit
        unit = unit.rstrip(b"\x00")
        if unit:
            yield unit


class _BitReader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def bit(self) -> int:
        index = self._pos >> 3
        if index >= len(self._data):
            raise ValueError("SPS is truncated")
        value = (self._data[index] >> (7 - (self._pos & 7))) & 1
        self._pos += 1
        return value

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("Exp-Golomb code too long")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)


_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def h264_sps_size(nal: bytes) -> tuple[int, int]:
    """Width and height in pixels, after cropping, from an H.264 SPS NAL unit (header byte
    included). ITU-T H.264 section 7.3.2.1.1. Raises ValueError on a truncated SPS."""
    r = _BitReader(nal[1:].replace(b"\x00\x00\x03", b"\x00\x00"))
    profile_idc = r.bits(8)
    r.bits(16)  # constraint flags, level_idc
    r.ue()  # seq_parameter_set_id
    chroma_format_idc = 1
    separate_planes = 0
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = r.ue()
        if chroma_format_idc == 3:
            separate_planes = r.bit()
        r.ue()  # bit_depth_luma_minus8
        r.ue()  # bit_depth_chroma_minus8
        r.bit()  # qpprime_y_zero_transform_bypass_flag
        if r.bit():  # seq_scaling_matrix_present_flag
            for i in range(12 if chroma_format_idc == 3 else 8):
                if r.bit():
                    last = following = 8
                    for _ in range(16 if i < 6 else 64):
                        if following:
                            following = (last + r.se() + 256) % 256
                        last = following or last
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.bit()
        r.se()
        r.se()
        for _ in range(r.ue()):
            r.se()
    r.ue()  # max_num_ref_frames
    r.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = r.ue() + 1
    height_units = r.ue() + 1
    frame_mbs_only = r.bit()
    if not frame_mbs_only:
        r.bit()  # mb_adaptive_frame_field_flag
    r.bit()  # direct_8x8_inference_flag
    left = right = top = bottom = 0
    if r.bit():
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
    if chroma_format_idc == 0 or separate_planes:
        unit_x, unit_y = 1, 2 - frame_mbs_only
    else:
        unit_x = 1 if chroma_format_idc == 3 else 2
        unit_y = (2 if chroma_format_idc == 1 else 1) * (2 - frame_mbs_only)
    width = width_mbs * 16 - unit_x * (left + right)
    height = (2 - frame_mbs_only) * height_units * 16 - unit_y * (top + bottom)
    return width, height


def inspect_h264(data: bytes) -> FrameInfo:
    """An Annex B access unit is a keyframe when it holds an IDR slice (NAL type 5); its size
    comes from the SPS (type 7) sent with it."""
    keyframe = False
    size: tuple[int, int] | None = None
    for nal in _nal_units(data):
        nal_type = nal[0] & 0x1F
        if nal_type == 5:
            keyframe = True
        elif nal_type == 7 and size is None:
            try:
                size = h264_sps_size(nal)
            except ValueError:
                pass
    if size is None:
        return FrameInfo(keyframe=keyframe)
    return FrameInfo(keyframe=keyframe, width=size[0], height=size[1])


# The codecs we forward, by aiortc codec name; adding one is adding a line here (plus its
# packetizer in aiortc).
INSPECTORS: dict[str, Callable[[bytes], FrameInfo]] = {"VP8": inspect_vp8, "H264": inspect_h264}


def codec_parameters(name: str, parameters: dict[str, Any] | None = None) -> RTCRtpCodecParameters:
    """aiortc's own parameters for codec `name` ("VP8", "H264"), the one compatible with
    `parameters` when given (H.264: same profile and packetization mode). Raises
    CodecMismatchError when aiortc cannot send it."""
    if name.upper() not in INSPECTORS:
        raise CodecMismatchError(f"video codec {name} is not forwarded (only {sorted(INSPECTORS)})")
    wanted = RTCRtpCodecParameters(
        mimeType=f"video/{name.upper()}",
        clockRate=CLOCK_RATE,
        payloadType=0,
        parameters=dict(parameters or {"packetization-mode": "1"}),
    )
    for capability in RTCRtpSender.getCapabilities("video").codecs:
        candidate = RTCRtpCodecParameters(
            mimeType=capability.mimeType,
            clockRate=capability.clockRate,
            payloadType=0,
            parameters=dict(capability.parameters),
        )
        if is_codec_compatible(candidate, wanted):
            return candidate
    raise CodecMismatchError(f"aiortc cannot send {wanted.mimeType} {wanted.parameters}")


# --- the per-subscriber track and the per-publisher source -----------------------------------


class ForwardedVideoTrack(MediaStreamTrack):
    """What one subscriber's `RTCRtpSender` reads: `av.Packet`s of the source's encoded frames.

    Holds frames until a keyframe; drops its queue when it spans more than `max_delay` seconds
    (or `max_frames`), then waits for the next keyframe, which it requests once its sender reads
    (a subscriber still connecting does not make the publisher send keyframes every interval).
    `recv()` raises MediaStreamError once stopped; stopping detaches it from its source."""

    kind = "video"

    def __init__(self, source: VideoSource, max_delay: float = 0.5, max_frames: int = 64) -> None:
        super().__init__()
        self.source = source
        self.frames_forwarded = 0
        self.bytes_forwarded = 0
        # What its subscriber says about bandwidth (set by VideoHub.subscribe for a WebRTC one).
        self.feedback: SenderEstimate | None = None
        self.frames_dropped = 0
        self.frames_skipped = 0
        self._max_delay_ticks = int(max_delay * CLOCK_RATE)
        self._max_frames = max_frames
        self._queue: collections.deque[av.Packet[Any]] = collections.deque()
        self._wakeup = asyncio.Event()
        self._waiting_keyframe = True
        self._started = False

    @property
    def waiting_for_keyframe(self) -> bool:
        return self._waiting_keyframe

    @property
    def started(self) -> bool:
        """Whether the sender has asked for a frame yet (the subscriber's transport is up)."""
        return self._started

    async def recv(self) -> av.Packet[Any]:
        if not self._started:
            self._started = True
            if self._waiting_keyframe:
                # the keyframe asked for at subscription may have been dropped while connecting
                self.source.request_keyframe()
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            if self._queue:
                self.frames_forwarded += 1
                packet = self._queue.popleft()
                self.bytes_forwarded += packet.size
                return packet
            self._wakeup.clear()
            await self._wakeup.wait()

    def stop(self) -> None:
        super().stop()
        self._queue.clear()
        self._wakeup.set()
        self.source._detach(self)

    def _offer(self, packet: av.Packet[Any], keyframe: bool) -> None:
        """Queue one frame (called by the source); a drop asks the source for a keyframe."""
        if self._queue:
            span = int(packet.pts or 0) - int(self._queue[0].pts or 0)
            if span > self._max_delay_ticks or len(self._queue) >= self._max_frames:
                self.frames_dropped += len(self._queue)
                self._queue.clear()
                self._waiting_keyframe = True
                if not keyframe and self._started:
                    self.source.request_keyframe()
        if self._waiting_keyframe:
            if not keyframe:
                self.frames_skipped += 1
                return
            self._waiting_keyframe = False
        self._queue.append(packet)
        self._wakeup.set()


class VideoSource:
    """One published video track, fanned out to subscriber tracks without decoding.

    `codec` is aiortc's codec name ("VP8", "H264") or parameters, None until known. A codec we
    do not forward ("H265" from a field camera) is still carried: taps (the compositor, the
    recorder) receive it, WebRTC subscriptions are refused with CodecMismatchError.
    `keyframe_requester` is called (rate-limited) when a keyframe is needed: for a WebRTC
    publisher it sends a PLI; an ingest sets its own (e.g. RTSP: nothing, or restart the GOP).
    `estimate_listener` is called with what its receivers can take (bit/s, the lowest of their
    estimates; None: no limit known) when that changes: a composed picture's owner moves the
    picture's quality tier with it, a worker's copy tells control."""

    def __init__(
        self,
        source_id: str,
        codec: str | RTCRtpCodecParameters | None = None,
        *,
        keyframe_requester: Callable[[], None] | None = None,
        participant_id: str | None = None,
        pli_interval: float = 0.5,
        retry_interval: float = 1.0,
        max_delay: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        room: str | None = None,
    ) -> None:
        self.id = source_id
        self.participant_id = participant_id
        # Who may watch it: the participants of the room its publisher is in, or for a source
        # no participant publishes (a wall's output) those of `room`.
        self.room = room
        self.codec: RTCRtpCodecParameters | None = None
        self.codec_name = ""  # "VP8", "H264", "H265"; "" until known
        if isinstance(codec, str):
            self.codec_name = codec.upper()
            if self.codec_name in INSPECTORS:
                self.codec = codec_parameters(codec)
        elif codec is not None:
            self.codec, self.codec_name = codec, codec.name.upper()
        self.keyframe_requester = keyframe_requester
        self.estimate_listener: Callable[[float | None], None] | None = None
        self._estimates: dict[object, float] = {}  # by receiver (a subscriber, a worker)
        self._estimate: float | None = None
        self.width: int | None = None
        self.height: int | None = None
        self.frames_in = 0
        self.keyframes = 0
        self.keyframe_requests = 0
        self.closed = False
        self._tracks: list[ForwardedVideoTrack] = []
        self._pli_interval = pli_interval
        self._retry_interval = retry_interval
        self._max_delay = max_delay
        self._clock = clock
        self._last_request = -float("inf")
        self._deferred: asyncio.TimerHandle | None = None
        self._last_pts: int | None = None
        self._pts_offset = 0
        self._ended_callbacks: list[Callable[[VideoSource], None]] = []
        self._gone_forwarded = 0
        self._taps: list[PacketTap] = []

    @property
    def subscribers(self) -> list[ForwardedVideoTrack]:
        return list(self._tracks)

    @property
    def watched(self) -> bool:
        """Someone takes its frames: a subscriber track or a tap (a wall, a recording)."""
        return bool(self._tracks or self._taps)

    @property
    def frames_forwarded(self) -> int:
        return sum(t.frames_forwarded for t in self._tracks) + self._gone_forwarded

    def track(self) -> ForwardedVideoTrack:
        """A new subscriber track, held until a keyframe, which is requested now."""
        if self.closed:
            raise UnknownVideoSourceError(f"video source {self.id} has ended")
        track = ForwardedVideoTrack(self, max_delay=self._max_delay)
        self._tracks.append(track)
        self.request_keyframe()
        return track

    def push(self, packet: av.Packet[Any], keyframe: bool) -> None:
        """Forward one encoded frame (a whole VP8 frame, or an H.264 Annex B access unit).

        `packet.pts` in `packet.time_base` (90 kHz when unset); it is rebased to stay monotonic
        across publisher restarts. The packet is shared by every subscriber: do not reuse it.
        Call on the event loop thread (an ingest thread: `loop.call_soon_threadsafe`)."""
        if self.closed:
            return
        packet.pts = self._rebase(packet)
        packet.dts = packet.pts
        packet.time_base = TIME_BASE
        packet.is_keyframe = keyframe
        self.frames_in += 1
        if keyframe:
            self.keyframes += 1
            self._cancel_deferred()
            self._read_size(bytes(packet))
        for track in list(self._tracks):
            track._offer(packet, keyframe)
        for tap in list(self._taps):
            try:
                tap(packet, keyframe)
            except Exception:  # a consumer's bug must not stop forwarding to the others
                log.exception("video tap on source %s failed", self.id)
        if (
            not keyframe
            and any(t.waiting_for_keyframe and t.started for t in self._tracks)
            and self._clock() - self._last_request >= self._retry_interval
        ):
            # the PLI or its keyframe was lost
            self.request_keyframe()

    def push_encoded(self, frame: EncodedFrame) -> None:
        """Forward a frame from a receiver tap; its keyframe flag is read from the bitstream.
        A publisher switching codec ends the current subscribers: theirs was negotiated."""
        if self.codec is None or self.codec.mimeType.lower() != frame.codec.mimeType.lower():
            if self.codec is not None and self._tracks:
                log.warning("video source %s switched to %s", self.id, frame.codec.name)
                for track in list(self._tracks):
                    track.stop()
            self.codec = frame.codec
            self.codec_name = frame.codec.name.upper()
        inspector = INSPECTORS.get(frame.codec.name.upper())
        if inspector is None:
            return
        packet = av.Packet(frame.data)
        packet.pts = frame.timestamp
        packet.time_base = TIME_BASE
        self.push(packet, inspector(frame.data).keyframe)

    def add_tap(self, tap: PacketTap) -> Callable[[], None]:
        """Call `tap(packet, keyframe)` for every frame pushed from now on (on the event loop
        thread: a tap hands heavy work to a thread of its own). Returns the function that
        removes the tap. Unlike a subscriber track, a tap gets every frame, never waits for a
        keyframe and never drops: it asks with `request_keyframe()` when it needs one."""
        self._taps.append(tap)

        def remove() -> None:
            if tap in self._taps:
                self._taps.remove(tap)

        return remove

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe: now, or at the end of the current `pli_interval`
        (one request however many asked meanwhile; none if a keyframe comes first)."""
        if self.closed or self._deferred is not None:
            return
        wait = self._last_request + self._pli_interval - self._clock()
        if wait <= 0:
            self._send_request()
        else:
            loop = asyncio.get_running_loop()
            self._deferred = loop.call_later(wait, self._send_deferred)

    def close(self) -> None:
        """The publisher is gone: end every subscriber track (their senders then stop)."""
        if self.closed:
            return
        self.closed = True
        self._cancel_deferred()
        for track in list(self._tracks):
            track.stop()
        for callback in self._ended_callbacks:
            callback(self)

    def on_ended(self, callback: Callable[[VideoSource], None]) -> None:
        self._ended_callbacks.append(callback)

    def report_estimate(self, receiver: object, bitrate: float | None) -> None:
        """`receiver` (a subscriber track, a worker) can take `bitrate` bit/s of this source
        (None: no limit known); the listener hears the lowest of all when it changes."""
        if bitrate is None:
            self._estimates.pop(receiver, None)
        else:
            self._estimates[receiver] = bitrate
        lowest = lowest_estimate(*self._estimates.values())
        if lowest != self._estimate:
            self._estimate = lowest
            if self.estimate_listener is not None:
                self.estimate_listener(lowest)

    def _detach(self, track: ForwardedVideoTrack) -> None:
        if track in self._tracks:
            self._tracks.remove(track)
            self._gone_forwarded += track.frames_forwarded
        if track in self._estimates:
            self.report_estimate(track, None)

    def _send_request(self) -> None:
        self._last_request = self._clock()
        self.keyframe_requests += 1
        if self.keyframe_requester is not None:
            self.keyframe_requester()

    def _send_deferred(self) -> None:
        self._deferred = None
        if not self.closed:
            self._send_request()

    def _cancel_deferred(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None

    def _rebase(self, packet: av.Packet[Any]) -> int:
        if packet.pts is None:
            pts = (self._last_pts or 0) + _BRIDGE_TICKS - self._pts_offset
        elif packet.time_base is None or packet.time_base == TIME_BASE:
            pts = int(packet.pts)
        else:
            tb = packet.time_base
            pts = int(
                Fraction(int(packet.pts)) * Fraction(tb.numerator, tb.denominator) * CLOCK_RATE
            )
        out = pts + self._pts_offset
        if self._last_pts is not None and not 0 < out - self._last_pts <= _MAX_JUMP_TICKS:
            self._pts_offset = self._last_pts + _BRIDGE_TICKS - pts
            out = self._last_pts + _BRIDGE_TICKS
        self._last_pts = out
        return out

    def _read_size(self, data: bytes) -> None:
        if self.codec is None:
            return
        inspector = INSPECTORS.get(self.codec.name.upper())
        if inspector is None:
            return
        info = inspector(data)
        if info.width and info.height:
            self.width, self.height = info.width, info.height


# --- the hub signalling talks to ---------------------------------------------------------------


class VideoLeg(Protocol):
    """What the hub needs of a WebRTC leg (webrtc.peer.WebRtcLeg): its peer connection, the
    receivers of the video it publishes, and a way to add and remove a video sender that also
    asks the leg's signalling for a renegotiation."""

    @property
    def pc(self) -> RTCPeerConnection: ...

    @property
    def participant_id(self) -> str | None: ...

    @property
    def video_receivers(self) -> list[RTCRtpReceiver]: ...

    def add_video_sender(self, track: MediaStreamTrack) -> RTCRtpSender: ...

    def remove_video_sender(self, sender: RTCRtpSender) -> None: ...


Subscriber = RTCPeerConnection | VideoLeg


@dataclass(slots=True)
class _Publisher:
    pc: RTCPeerConnection
    receiver: RTCRtpReceiver
    tap: ReceiverTap


@dataclass(slots=True)
class _Subscription:
    pc: RTCPeerConnection
    leg: VideoLeg | None
    source_id: str
    track: ForwardedVideoTrack
    transceiver: RTCRtpTransceiver


class WatchingRoom(Protocol):
    """What `VideoHub.may_watch` reads of a room (mediacore.room.Room has it)."""

    @property
    def name(self) -> str: ...

    @property
    def participants(self) -> Mapping[str, object]: ...


class VideoHub:
    """Every video source of a server, and who receives which.

    Subscribers are bare peer connections (the caller renegotiates after `subscribe` and
    `unsubscribe`) or legs (`VideoLeg`: the leg asks for renegotiation itself). `pli_interval`
    and `max_delay` are passed to each new source."""

    def __init__(
        self, *, pli_interval: float = 0.5, max_delay: float = 0.5, clock: Clock = MONOTONIC
    ) -> None:
        self._clock = clock
        self._pli_interval = pli_interval
        self._max_delay = max_delay
        self._sources: dict[str, VideoSource] = {}
        self._publishers: dict[str, _Publisher] = {}
        self._subscriptions: dict[tuple[RTCPeerConnection, str], _Subscription] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._registered: list[Callable[[VideoSource], None]] = []
        # Makes a source on demand from its name (an H.265 source's H.264 twin), or None.
        self.resolver: Callable[[str], VideoSource | None] | None = None

    def get(self, source_id: str) -> VideoSource:
        """The source `source_id` (made by `resolver` if it has a source of that name);
        raises UnknownVideoSourceError (a KeyError)."""
        source = self._sources.get(source_id)
        if source is None and self.resolver is not None:
            source = self.resolver(source_id)
        if source is None:
            raise UnknownVideoSourceError(f"no video source {source_id!r}")
        return source

    def all(self) -> list[VideoSource]:
        """Every open source, in registration order."""
        return list(self._sources.values())

    def may_watch(self, room: WatchingRoom, source_id: str) -> bool:
        """Whether a participant of `room` may receive `source_id`: a source published by a
        participant of that room, or one bound to it (a wall showing the room). False for an
        unknown source, so a refusal says no more than "no such source"."""
        source = self._sources.get(source_id)
        if source is None or source.closed:
            return False
        if source.participant_id is not None:
            return source.participant_id in room.participants
        return source.room is not None and source.room == room.name

    # -- publishers ---------------------------------------------------------------------

    def register_publisher(
        self,
        participant_id: str,
        pc: RTCPeerConnection,
        receiver_or_track: RTCRtpReceiver | MediaStreamTrack,
        *,
        source_id: str | None = None,
    ) -> VideoSource:
        """Tap a publisher's video receiver (call from the `track` event, before or after the
        connection is up). The source id is `source_id`, else `participant_id` (suffixed `/2`,
        `/3` for further tracks). Raises ValueError for a track that `pc` does not receive or
        that is not video, AiortcContractError if aiortc's internals moved."""
        receiver = self._find_receiver(pc, receiver_or_track)
        sid = source_id or self._free_id(participant_id)
        if sid in self._sources:
            raise ValueError(f"video source {sid!r} already exists")
        source = VideoSource(
            sid,
            participant_id=participant_id,
            pli_interval=self._pli_interval,
            max_delay=self._max_delay,
        )
        tap = ReceiverTap(receiver, on_frame=source.push_encoded, on_end=source.close)
        source.keyframe_requester = tap.request_keyframe
        self._publishers[sid] = _Publisher(pc=pc, receiver=receiver, tap=tap)
        self.register_source(source)
        return source

    def register_source(self, source: VideoSource) -> VideoSource:
        """Add a source fed by something other than WebRTC (field video ingest)."""
        if source.id in self._sources:
            raise ValueError(f"video source {source.id!r} already exists")
        self._sources[source.id] = source
        source.on_ended(self._source_ended)
        for callback in list(self._registered):
            callback(source)
        return source

    def on_registered(self, callback: Callable[[VideoSource], None]) -> None:
        """Call `callback(source)` for every source registered from now on."""
        self._registered.append(callback)

    def receiver_source(self, leg: VideoLeg, receiver: RTCRtpReceiver, suffix: str) -> str:
        """The id of the source `receiver` (a video receiver of `leg`) feeds: the one tapping it
        already, else a new one named `<participant>/<suffix>` (`-2`, `-3` ... when taken).
        Raises ValueError for a receiver whose source has ended (it cannot be tapped again)."""
        for source_id, publisher in self._publishers.items():
            if publisher.receiver is receiver:
                return source_id
        if leg.participant_id is None:
            raise ValueError("the leg is not a participant yet")
        base = source_id = f"{leg.participant_id}/{suffix}"
        n = 2
        while source_id in self._sources:
            source_id, n = f"{base}-{n}", n + 1
        return self.register_publisher(leg.participant_id, leg.pc, receiver, source_id=source_id).id

    def unregister(self, participant_id: str) -> None:
        """The participant left: close its sources; their subscribers' tracks end and their
        senders stop. Unknown ids are ignored."""
        for source in [s for s in self._sources.values() if s.participant_id == participant_id]:
            source.close()

    def attach(self, leg: VideoLeg) -> None:
        """Register the video `leg` publishes as sources named after its participant. Safe to
        call again after a renegotiation: receivers already tapped are skipped."""
        if leg.participant_id is None:
            return
        tapped = {p.receiver for p in self._publishers.values()}
        for receiver in leg.video_receivers:
            if receiver not in tapped:
                self.register_publisher(leg.participant_id, leg.pc, receiver)

    def detach(self, leg: VideoLeg) -> None:
        """The leg has closed: its sources end, and so do its subscriptions."""
        if leg.participant_id is not None:
            self.unregister(leg.participant_id)
        for subscription in [s for s in self._subscriptions.values() if s.pc is leg.pc]:
            subscription.track.stop()

    # -- subscribers --------------------------------------------------------------------

    async def subscribe(self, subscriber: Subscriber, source_id: str) -> RTCRtpSender:
        """Send `source_id`'s packets to `subscriber` and ask the publisher for a keyframe.

        A bare peer connection gets a new sendonly video transceiver, codec preferences set to
        the publisher's codec; the caller then renegotiates. A leg adds the sender itself (in an
        offer being answered, e.g. a WHEP player's, the offered transceiver is narrowed to the
        publisher's codec). Subscribing twice returns the first sender.

        Raises UnknownVideoSourceError (a KeyError); VideoForwardingError while the publisher's
        codec is not negotiated yet; CodecMismatchError when the subscriber did not offer that
        codec (forwarding never transcodes)."""
        leg: VideoLeg | None
        if isinstance(subscriber, RTCPeerConnection):
            leg, pc = None, subscriber
        else:
            leg, pc = subscriber, subscriber.pc
        existing = self._subscriptions.get((pc, source_id))
        if existing is not None:
            return existing.transceiver.sender
        source = self.get(source_id)
        if source.codec is None and source.codec_name and source.codec_name not in INSPECTORS:
            raise CodecMismatchError(
                f"video source {source_id!r} is {source.codec_name}, which is not forwarded to "
                "WebRTC (video is never transcoded); it is shown on walls and recorded"
            )
        codec = source.codec or self._negotiated_codec(source_id)
        if codec is None:
            raise VideoForwardingError(f"video source {source_id!r} has no negotiated codec yet")
        capability = codec_parameters(codec.name, codec.parameters)
        _check_subscriber_accepts(pc, capability, source_id)
        track = source.track()
        if leg is None:
            transceiver = pc.addTransceiver(track, direction="sendonly")
        else:
            sender = leg.add_video_sender(track)
            transceiver = next(t for t in pc.getTransceivers() if t.sender is sender)
        subscription = _Subscription(pc, leg, source_id, track, transceiver)
        self._subscriptions[(pc, source_id)] = subscription
        track.on("ended", lambda: self._track_ended(subscription))
        if pc.signalingState == "have-remote-offer" and transceiver.mid is not None:
            # part of the answer being made: preferences would only apply to a later offer
            if not restrict_answer_codecs(transceiver, lambda c: is_codec_compatible(c, codec)):
                track.stop()
                raise CodecMismatchError(
                    f"subscriber's offer has no {capability.name} for source {source_id!r}; "
                    "video is never transcoded"
                )
        else:
            transceiver.setCodecPreferences(
                [
                    RTCRtpCodecCapability(
                        mimeType=capability.mimeType,
                        clockRate=capability.clockRate,
                        parameters=capability.parameters,
                    ),
                    RTCRtpCodecCapability(mimeType="video/rtx", clockRate=CLOCK_RATE),
                ]
            )
        relay_keyframe_requests(transceiver.sender, source.request_keyframe)

        # What the subscriber says about bandwidth (REMB, receiver reports) goes to the source.
        def report(bitrate: float | None) -> None:
            if track.readyState == "live":  # RTCP may still come after the track ended
                source.report_estimate(track, bitrate)

        track.feedback = SenderEstimate(lambda: track.bytes_forwarded, report, self._clock)
        observe_sender_rtcp(transceiver.sender, track.feedback.rtcp)
        return transceiver.sender

    async def unsubscribe(self, subscriber: Subscriber, source_id: str) -> None:
        """Stop forwarding `source_id` to `subscriber`: its track ends, its sender stops (RTCP
        BYE) and its transceiver goes inactive (a bare peer connection: renegotiate after).
        Raises NotSubscribedError (a KeyError)."""
        pc = subscriber if isinstance(subscriber, RTCPeerConnection) else subscriber.pc
        subscription = self._subscriptions.get((pc, source_id))
        if subscription is None:
            raise NotSubscribedError(f"not subscribed to {source_id!r}")
        subscription.track.stop()

    def sources(self) -> list[dict[str, Any]]:
        """One dict per source: id, participant_id, codec, width, height (from the last keyframe,
        None until one), subscribers, frames_in, frames_forwarded, frames_dropped, keyframes,
        keyframe_requests, plis_sent (RTCP PLIs actually sent; 0 for non-WebRTC sources)."""
        result = []
        for source in self._sources.values():
            publisher = self._publishers.get(source.id)
            result.append(
                {
                    "id": source.id,
                    "participant_id": source.participant_id,
                    "codec": source.codec.name if source.codec else (source.codec_name or None),
                    "width": source.width,
                    "height": source.height,
                    "subscribers": len(source.subscribers),
                    "frames_in": source.frames_in,
                    "frames_forwarded": source.frames_forwarded,
                    "frames_dropped": sum(t.frames_dropped for t in source.subscribers),
                    "keyframes": source.keyframes,
                    "keyframe_requests": source.keyframe_requests,
                    "plis_sent": publisher.tap.plis_sent if publisher else 0,
                }
            )
        return result

    # -- internals ----------------------------------------------------------------------

    def _source_ended(self, source: VideoSource) -> None:
        self._sources.pop(source.id, None)
        publisher = self._publishers.pop(source.id, None)
        if publisher is not None:
            publisher.tap.detach()

    def _track_ended(self, subscription: _Subscription) -> None:
        key = (subscription.pc, subscription.source_id)
        if self._subscriptions.get(key) is subscription:
            del self._subscriptions[key]
        transceiver = subscription.transceiver
        if subscription.pc.connectionState != "closed":
            if subscription.leg is not None:
                subscription.leg.remove_video_sender(transceiver.sender)
            else:
                transceiver.direction = "inactive"
        # aiortc cannot restart a sender whose track ended: stop it for good (RTCP BYE)
        task = asyncio.get_running_loop().create_task(transceiver.sender.stop())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _negotiated_codec(self, source_id: str) -> RTCRtpCodecParameters | None:
        """The publisher's codec from the SDP answer, before its first frame arrives."""
        publisher = self._publishers.get(source_id)
        if publisher is None:
            return None
        mid = next(
            (t.mid for t in publisher.pc.getTransceivers() if t.receiver is publisher.receiver),
            None,
        )
        for description in (publisher.pc.localDescription, publisher.pc.remoteDescription):
            if description is None or description.type != "answer":
                continue
            for media in aiortc_sdp.SessionDescription.parse(description.sdp).media:
                if media.kind == "video" and media.rtp.muxId == mid:
                    for codec in media.rtp.codecs:
                        if codec.name.upper() in INSPECTORS:
                            return codec
        return None

    def _free_id(self, participant_id: str) -> str:
        if participant_id not in self._sources:
            return participant_id
        n = 2
        while f"{participant_id}/{n}" in self._sources:
            n += 1
        return f"{participant_id}/{n}"

    @staticmethod
    def _find_receiver(
        pc: RTCPeerConnection, receiver_or_track: RTCRtpReceiver | MediaStreamTrack
    ) -> RTCRtpReceiver:
        if isinstance(receiver_or_track, RTCRtpReceiver):
            receiver = receiver_or_track
        else:
            found = next((r for r in pc.getReceivers() if r.track is receiver_or_track), None)
            if found is None:
                raise ValueError("this track is not received by this peer connection")
            receiver = found
        if receiver.track is not None and receiver.track.kind != "video":
            raise ValueError(f"not a video receiver: {receiver.track.kind}")
        return receiver


def _check_subscriber_accepts(
    pc: RTCPeerConnection, codec: RTCRtpCodecParameters, source_id: str
) -> None:
    """Raise CodecMismatchError if the subscriber already described its video and left the
    codec out. With no description (or no video in it) the answer will tell: aiortc then
    refuses it ("Failed to set remote video description send parameters")."""
    description = pc.remoteDescription
    if description is None:
        return
    offered: list[RTCRtpCodecParameters] = []
    for media in aiortc_sdp.SessionDescription.parse(description.sdp).media:
        if media.kind == "video":
            offered.extend(media.rtp.codecs)
    if offered and not any(is_codec_compatible(codec, c) for c in offered):
        names = sorted({c.name for c in offered if c.name.lower() != "rtx"})
        raise CodecMismatchError(
            f"subscriber cannot receive {codec.name} from source {source_id!r} "
            f"(it offers {', '.join(names) or 'no video codec'}); video is never transcoded"
        )
