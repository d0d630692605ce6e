"""Which room video a SIP or plain RTP leg sees until the room has a composed picture: the floor
holder's, else that of the participant who joined most recently with video; never its own.

Looked at once a second (and at once when the floor changes): a source is found by participant
id through `find`, which in a media worker may bring it from control; ids that have no video
are asked again only every NEGATIVE_TTL seconds. `choose()` is pure, for tests.

A source the leg cannot take as it is (H.265 to an H.264 terminal) is replaced by its H.264
twin (mediacore.transcodetwin), at the quality tier the leg's bandwidth estimate picks
(`estimate()`: its b=TIAS/b=AS, TMMBR or REMB, with hysteresis, mediacore.qualitytiers).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from mediacore.clock import MONOTONIC, Clock
from mediacore.joinedroom import JoinedRoom
from mediacore.lookloop import LookLoop
from mediacore.qualitytiers import TierChooser
from mediacore.transcodetwin import CODEC, TRANSCODED, full_bitrate, twin_id
from mediacore.videohub import VideoSource

INTERVAL = 1.0
NEGATIVE_TTL = 5.0

FindSource = Callable[[str], Awaitable[VideoSource | None]]


class PictureTarget(Protocol):
    """What the picture is chosen for (a `VideoSender`)."""

    codec: str  # what it sends: "H264", "VP8"

    @property
    def source(self) -> VideoSource | None: ...

    def accepts(self, source: VideoSource) -> bool: ...

    def follow(self, source: VideoSource | None) -> bool: ...


def candidates(own: str, holder: str | None, participants: Iterable[str]) -> list[str]:
    """Participant ids in the order their video is preferred: the floor holder, then the most
    recent joiners first; `own` never."""
    ordered = [holder] if holder else []
    ordered += [pid for pid in reversed(list(participants)) if pid != holder]
    return [pid for pid in ordered if pid != own]


class ForwardedPicture:
    """Keeps `target` following the preferred source of `room` for participant `own`."""

    def __init__(
        self,
        target: PictureTarget,
        own: str,
        room: JoinedRoom,
        find: FindSource,
        *,
        clock: Clock = MONOTONIC,
        interval: float = INTERVAL,
        estimate: Callable[[], float | None] | None = None,
    ) -> None:
        self.target = target
        self.own = own
        self.room = room
        self.find = find
        self.clock = clock
        self.estimate = estimate
        self.tiers = TierChooser()
        self._missing: dict[str, float] = {}
        self._looks = LookLoop(self.choose, interval, "a leg's picture")

    def start(self) -> None:
        self._looks.start()

    def poke(self) -> None:
        """Look again now (the floor changed)."""
        self._looks.poke()

    def stop(self) -> None:
        self._looks.stop()

    async def choose(self) -> VideoSource | None:
        """Point the target at the preferred source that exists; returns it (None: none)."""
        now = self.clock.now()
        order = candidates(self.own, self.room.floor.holder, self.room.participants)
        for pid in order:
            if self._missing.get(pid, -1.0) > now:
                continue
            source = await self.find(pid)
            if source is not None and not self.target.accepts(source):
                source = await self._twin(source)
            if source is None or not self.target.accepts(source):
                self._missing[pid] = now + NEGATIVE_TTL
                continue
            self._missing.pop(pid, None)
            if source is not self.target.source:
                self.target.follow(source)
            return source
        current = self.target.source
        if current is not None and current.closed:
            self.target.follow(None)
        return None

    async def _twin(self, source: VideoSource) -> VideoSource | None:
        """The H.264 twin of `source` at this leg's tier; None when it has none."""
        if source.closed or source.codec_name not in TRANSCODED or self.target.codec != CODEC:
            return None  # (a VP8 leg: no twin is made for nothing)
        estimate = self.estimate() if self.estimate is not None else None
        full = full_bitrate(source.width, source.height)
        tier = self.tiers.choose(full, estimate, self.clock.now())
        return await self.find(twin_id(source.id, tier))
