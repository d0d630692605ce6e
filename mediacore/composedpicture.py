"""What a SIP or plain RTP leg with video receives: the room's composed picture (continuous
presence, mediacore.server.conferences), its own camera left out, at the size its a=imageattr
asked for or the room's.

`compose(room, participant, width, height, bitrate)` (the leg's `VideoPlace`) answers the hub source
carrying that participant's picture, starting the room's video process if need be; in a media
worker it asks control ("video.composed") and imports the source like any other. While the
composed picture cannot be had (no composer, a leg negotiated VP8, the video process does not
start), the leg falls back to `ForwardedPicture` (the floor holder's or latest camera,
forwarded as received) and composition is tried again every RETRY_S seconds.

The leg's keyframe requests (PLI/FIR) reach the followed source, whose requester asks the
picture's variant encoder for a keyframe. When the leg stops receiving video (hang-up, a
re-INVITE with port 0 or `recvonly`), its sender stops following the source: the viewer has
no subscriber any more and the conference drops it from its variants.

`estimate` is what the leg can take (bit/s: its b=TIAS or b=AS, its last TMMBR or REMB): it
goes with the request, and asking again when it changes moves the leg's picture to the quality
tier that fits (mediacore.qualitytiers), the same source throughout.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from mediacore.clock import MONOTONIC, Clock
from mediacore.forwardedpicture import INTERVAL, ForwardedPicture, PictureTarget
from mediacore.lookloop import LookLoop
from mediacore.videohub import VideoSource

log = logging.getLogger(__name__)

RETRY_S = 10.0
COMPOSED_CODEC = "H264"  # what the conference encoders make (mediacore.server.conferences)

# (room, participant, width or None, height or None, bit/s or None) -> the composed source,
# None if none.
Compose = Callable[[str, str, int | None, int | None, float | None], Awaitable[VideoSource | None]]
# The same, answering the source's id (the server's `ConferenceService.composed`).
ComposeId = Callable[[str, str, int | None, int | None, float | None], Awaitable[str]]


class ComposedTarget(PictureTarget, Protocol):
    """What the picture is chosen for (a `VideoSender`), with the codec it sends (`codec`)."""


class ComposedPicture:
    """Keeps `target` following `own`'s composed picture of `room`, else `fallback`'s choice."""

    def __init__(
        self,
        target: ComposedTarget,
        own: str,
        room: str,
        compose: Compose | None,
        fallback: ForwardedPicture,
        *,
        size: tuple[int, int] | None = None,
        estimate: Callable[[], float | None] | None = None,
        clock: Clock = MONOTONIC,
        interval: float = INTERVAL,
    ) -> None:
        self._target = target
        self.own = own
        self.room = room
        self.compose = compose
        self.fallback = fallback
        self.size = size
        self.estimate = estimate
        self._asked_bitrate: float | None = None  # the estimate the last request carried
        self.clock = clock
        self.composed: VideoSource | None = None  # the composed source while it is followed
        self._retry_at = 0.0
        self._looks = LookLoop(self.choose, interval, "a leg's composed picture")

    @property
    def target(self) -> ComposedTarget:
        return self._target

    @target.setter
    def target(self, target: ComposedTarget) -> None:
        """A new sender (a re-INVITE changed the codec): it follows from the next look."""
        self._target = target
        self.fallback.target = target
        self.composed = None
        self._retry_at = 0.0

    @property
    def mode(self) -> str:
        """ "composed" while the composed picture is sent, else "forwarded"."""
        return "composed" if self.composed is not None else "forwarded"

    def start(self) -> None:
        self._looks.start()

    def poke(self) -> None:
        """Look again now (the floor changed: a forwarded picture may change)."""
        self._looks.poke()

    def stop(self) -> None:
        self._looks.stop()
        self.composed = None

    async def choose(self) -> VideoSource | None:
        """Point the target at the composed picture, else at the forwarded one; returns it."""
        composed = self.composed
        if composed is not None and not composed.closed and self._target.source is composed:
            await self._follow_estimate()
            return composed
        self.composed = None
        source = await self._compose()
        if source is not None and self._target.follow(source):
            self.composed = source
            return source
        return await self.fallback.choose()

    async def _compose(self) -> VideoSource | None:
        now = self.clock.now()
        if self.compose is None or now < self._retry_at:
            return None
        if self._target.codec != COMPOSED_CODEC:  # a VP8 leg: never asked, never started
            return None
        width, height = self.size if self.size is not None else (None, None)
        bitrate = self._asked_bitrate = self._estimate()
        try:
            source = await self.compose(self.room, self.own, width, height, bitrate)
        except Exception:  # the video process did not start: forwarded until the retry
            log.warning("composed picture unavailable", extra={"room": self.room}, exc_info=True)
            source = None
        if source is None or not self._target.accepts(source):
            self._retry_at = now + RETRY_S
            return None
        return source

    def _estimate(self) -> float | None:
        return self.estimate() if self.estimate is not None else None

    async def _follow_estimate(self) -> None:
        """The leg's estimate changed: ask again, so its picture moves to the tier that fits."""
        bitrate = self._estimate()
        if bitrate == self._asked_bitrate or self.compose is None:
            return
        self._asked_bitrate = bitrate
        width, height = self.size if self.size is not None else (None, None)
        try:
            await self.compose(self.room, self.own, width, height, bitrate)
        except Exception:  # the same picture at its old tier until the next look
            log.info("tier not changed", extra={"room": self.room}, exc_info=True)
