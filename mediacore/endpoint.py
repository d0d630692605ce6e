"""The one interface every participant of a room implements.

A plain RTP leg, a SIP call, a radio leg, a WebRTC peer, a recorder and a wall output are all
endpoints; the room and its mixer know nothing else about them. Audio flows through two small
protocols: the mixer reads one frame per tick from an `AudioInput` and hands encoded payloads to
an `AudioOutput` (encoding is the mixer's job, so it can be shared between listeners)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from mediacore.codecs.base import CodecInfo, Pcm
from mediacore.joinedroom import JoinedRoom, Member


class AudioInput(Protocol):
    native_rate: int

    def read(self, now: float) -> Pcm | None:
        """One tick of audio at `native_rate`, or None when the participant sends nothing."""
        ...

    def to_room_rate(self, pcm: Pcm, restart: bool) -> Pcm:
        """Convert a frame from `read()` to the room rate (exactly one tick of samples).

        The mixer converts only the frames it mixes; `restart` says the previous frame was not
        converted, so the converter must not join the two."""
        ...


@dataclass(frozen=True, slots=True, eq=False)
class OutputFormat:
    """What a listener receives; listeners with equal formats and equal mixes share an encode.

    Formats are interned (make them with `output_format`), so the mixer groups listeners by
    identity: hashing a nested dataclass for every listener on every tick is measurable."""

    codec: CodecInfo
    ptime: int


@lru_cache(maxsize=256)
def output_format(codec: CodecInfo, ptime: int) -> OutputFormat:
    """The one OutputFormat object for this codec and packet time."""
    return OutputFormat(codec, ptime)


class AudioOutput(Protocol):
    format: OutputFormat

    def send_payload(self, payload: bytes, tick: int) -> None:
        """Send one encoded packet produced on mixer tick number `tick`."""
        ...


class PcmOutput(Protocol):
    """A listener that takes its mix as samples at the room rate, not encoded: a relay carrying
    a room to a participant in another room (mediacore/relays.py)."""

    def receive_pcm(self, pcm: Pcm, now: float) -> None: ...


class Endpoint(ABC):
    """A participant's media side. Subclasses say what kind of leg they are."""

    kind: str = "endpoint"
    audio_input: AudioInput | None = None
    audio_output: AudioOutput | None = None
    pcm_output: PcmOutput | None = None
    # A floor listener (a radio leg) hears only the floor holder, never the room's mix: a
    # half-duplex radio keyed with everyone's voices would never let its users talk back.
    floor_listener: bool = False
    # Whether the participant may move to another room with this endpoint (`joined` is then
    # called again, with the new room); a leg that plays into or pulls for one room may not.
    movable: bool = True

    @abstractmethod
    async def close(self, reason: str) -> None:
        """Release sockets and tasks; called once when the participant leaves."""

    def joined(self, room: JoinedRoom, participant: Member) -> None:
        """Called once the participant is in the room (legs that act on the room keep it), and
        again with the new room each time it moves."""
        return None

    def floor_changed(self, holder: str | None, priority: int) -> None:
        """The room's floor went to participant `holder` (priority `priority`), or is free."""
        return None

    def check(self, now: float) -> str | None:
        """Called about once a second; a returned reason (e.g. "rtp-timeout") removes the leg."""
        return None

    def describe(self) -> dict[str, Any]:
        """Leg details for the roster (codec, addresses); plain JSON values only."""
        return {}

    def statistics(self) -> dict[str, float]:
        """Counters and gauges for /metrics (packets, loss, jitter...)."""
        return {}
