"""An announcement in a room: a prepared clip played into the mix one tick at a time.

The clip is mono 16-bit PCM at the room's rate, already decoded (a file or rendered speech,
mediacore/server/clips.py), so playing it is slicing: `ClipPlayback` is the participant's
`AudioInput` and the room's clock paces it, one tick per mixer tick, never drifting. The
`AnnouncementLeg` talks only (it has no output), asks for the floor when it joins (and again
whenever the floor is free while it plays), so that radio legs, which hear only the floor
holder, carry it too. It reports its progress about once a second and leaves the room with
reason "played" on the tick after its last sample.

Its events go out on the room's bus, so they reach the room's recordings wherever it runs:
`announcement.started` {id, name, source, duration_s, priority} as it joins,
`announcement.progress` {id, position_s, duration_s} about once a second, and
`announcement.finished` {id, reason, detail, position_s} as it leaves, where `reason` is
"played", "room-closed" (the room closed or the server stopped) or "stopped" (stopped by the
API, kicked, its join link ended) and `detail` the participant's own leaving reason."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mediacore.codecs.base import Pcm
from mediacore.endpoint import Endpoint
from mediacore.joinedroom import JoinedRoom, Member

PLAYED = "played"  # the participant's leaving reason once the clip is through
STOPPED = "stopped"
ROOM_CLOSED = "room-closed"
# The reasons a closing room (or a stopping server) gives its participants; any other removal
# (stopped, kicked, a join link that ended) stopped the announcement.
_CLOSING = frozenset({ROOM_CLOSED, "closed-by-api", "server-stopping"})
_SCALE = np.float32(1 / 32768)

Samples = npt.NDArray[np.int16]


def finish_reason(reason: str) -> str:
    """What `announcement.finished` says for a participant that left for `reason`."""
    if reason == PLAYED:
        return PLAYED
    return ROOM_CLOSED if reason in _CLOSING else STOPPED


def load_clip(path: Path) -> Samples:
    """A clip file (raw little-endian int16 mono) mapped into memory, not read: pages come in
    as they play. Raises OSError or ValueError (an empty file)."""
    samples: Samples = np.memmap(path, dtype="<i2", mode="r")
    return samples


class ClipPlayback:
    """An `AudioInput` (mediacore.endpoint) playing `samples` at `rate` one tick at a time;
    the last tick is padded with silence. After it `read` gives None and `on_end` is called
    once."""

    def __init__(self, samples: Samples, rate: int, tick_ms: int) -> None:
        if rate <= 0 or tick_ms <= 0:
            raise ValueError(f"need a positive rate and tick, got {rate} and {tick_ms}")
        self.native_rate = rate
        self.tick_samples = rate * tick_ms // 1000
        self.samples = samples
        self.position = 0  # samples played
        self.on_end: Callable[[], None] | None = None
        self._ended = False

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.native_rate

    @property
    def position_s(self) -> float:
        return min(self.position, len(self.samples)) / self.native_rate

    @property
    def finished(self) -> bool:
        return self.position >= len(self.samples)

    def read(self, now: float) -> Pcm | None:
        if self.finished:
            if not self._ended:
                self._ended = True
                if self.on_end is not None:
                    self.on_end()
            return None
        chunk = self.samples[self.position : self.position + self.tick_samples]
        self.position += self.tick_samples
        frame: Pcm = np.zeros(self.tick_samples, dtype=np.float32)
        np.multiply(chunk, _SCALE, out=frame[: len(chunk)], casting="unsafe")
        return frame

    def to_room_rate(self, pcm: Pcm, restart: bool) -> Pcm:
        return pcm  # prepared at the room's rate


class AnnouncementLeg(Endpoint):
    """A clip as a participant: it talks (at `priority`, holding the floor when it can get
    it) and hears nothing. `source` says what it plays ({"file": name} or {"text", "lang"})."""

    kind = "announcement"
    movable = False  # it plays into, or pulls for, its one room

    def __init__(
        self, clip: ClipPlayback, name: str, priority: int, source: dict[str, Any]
    ) -> None:
        self.clip = clip
        self.name = name
        self.priority = priority
        self.source = source
        self.audio_input = clip
        self._room: JoinedRoom | None = None
        self._id = ""
        self._leaving: asyncio.Task[None] | None = None
        clip.on_end = self._played

    def joined(self, room: JoinedRoom, participant: Member) -> None:
        self._room, self._id = room, participant.id
        room.bus.publish(
            "announcement.started",
            room.name,
            id=self._id,
            name=self.name,
            source=self.source,
            duration_s=round(self.clip.duration_s, 2),
            priority=self.priority,
        )
        # Radio legs hear the floor holder only: an announcement that did not hold the floor
        # would not reach them. A holder of higher (or, with "deny", equal) priority keeps it;
        # the announcement is then heard by everyone but the radios, or waits in the queue.
        room.request_floor(participant.id, "announcement", self.priority)

    def check(self, now: float) -> str | None:
        room = self._room
        if room is not None and not self.clip.finished:
            if room.floor.holder is None:  # lost it (talk time-out) or was denied: free now
                room.request_floor(self._id, "announcement", self.priority)
            room.bus.publish(
                "announcement.progress",
                room.name,
                id=self._id,
                position_s=round(self.clip.position_s, 2),
                duration_s=round(self.clip.duration_s, 2),
            )
        return None

    async def close(self, reason: str) -> None:
        self.audio_input = None
        room = self._room
        if room is not None:
            room.bus.publish(
                "announcement.finished",
                room.name,
                id=self._id,
                reason=finish_reason(reason),
                detail=reason,
                position_s=round(self.clip.position_s, 2),
            )

    def describe(self) -> dict[str, Any]:
        return {
            "announcement": self.source,
            "position_s": round(self.clip.position_s, 2),
            "duration_s": round(self.clip.duration_s, 2),
        }

    def _played(self) -> None:
        room = self._room
        if room is None or self._leaving is not None:
            return
        self._leaving = asyncio.get_running_loop().create_task(self._leave(room))

    async def _leave(self, room: JoinedRoom) -> None:
        with contextlib.suppress(KeyError):  # removed meanwhile (stopped, room closed)
            await room.remove(self._id, PLAYED)
