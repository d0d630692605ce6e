"""The picture a SIP or plain RTP leg receives: the encoded frames of one video source, as
they come (never decoded, never re-encoded).

`follow(source)` is the one switch: `ComposedPicture` points it at the room's composed picture
(a hub source), and its fallback `ForwardedPicture` at the room's floor holder or most recent
camera. The frames come through a subscriber track of the source (`VideoSource.track()`),
so a new source starts at its next keyframe, asked for at once, and a sender that falls behind
drops to the next keyframe, exactly as a browser subscriber would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiortc.mediastreams import MediaStreamError

from mediacore.videohub import ForwardedVideoTrack, VideoSource

log = logging.getLogger(__name__)

# What the sender hands each frame to: (encoded bytes, 90 kHz pts or None).
FrameSink = Callable[[bytes, "int | None"], None]


class VideoSender:
    """Sends one source's frames to `sink`, for a leg negotiated with codec `codec` ("H264",
    "VP8"). A source of another codec is refused (forwarding never transcodes)."""

    def __init__(self, sink: FrameSink, codec: str) -> None:
        self.sink = sink
        self.codec = codec.upper()
        self.frames = 0
        self.switches = 0
        self._source: VideoSource | None = None
        self._track: ForwardedVideoTrack | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def source(self) -> VideoSource | None:
        """The source being sent, None when nothing is."""
        return self._source

    def accepts(self, source: VideoSource) -> bool:
        """Whether this sender can send `source` as it is (same codec, still open)."""
        return not source.closed and source.codec_name == self.codec

    def follow(self, source: VideoSource | None) -> bool:
        """Send `source` from its next keyframe on (None: send nothing). Returns False, and
        keeps what it sent, when `source` cannot be sent (another codec, ended)."""
        if source is self._source:
            return True
        if source is not None and not self.accepts(source):
            return False
        self._stop_track()
        self._source = source
        if source is not None:
            self.switches += 1
            self._track = track = source.track()
            self._task = asyncio.get_running_loop().create_task(self._pump(track))
        return True

    def request_keyframe(self) -> None:
        """The receiving peer lost the picture (PLI/FIR): ask the source for a keyframe."""
        if self._source is not None:
            self._source.request_keyframe()

    def close(self) -> None:
        self._stop_track()
        self._source = None

    def _stop_track(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._track is not None:
            self._track.stop()
            self._track = None

    async def _pump(self, track: ForwardedVideoTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                packet = await track.recv()
                self.frames += 1
                try:
                    self.sink(bytes(packet), None if packet.pts is None else int(packet.pts))
                except Exception:  # one bad frame must not end the picture
                    log.exception("sending a video frame failed")
        if self._track is track:  # the source ended: nothing to send until the next choice
            self._track = None
            self._task = None
            self._source = None
