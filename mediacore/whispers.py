"""A room's whispers (耳语): a speaker heard only by a chosen few of its room until it ends.

The mixer needs only `audiences()`: for each whispering speaker, the participants who may hear
it (everyone else's mix leaves it out). A speaker with two whispers is heard by both audiences.
A whisper ends when it is deleted, when its speaker leaves, or when its last listener does.
Pure: the rooms service publishes the events and hands the audiences to the room's shards."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mediacore.room import RoomError

MAX_LISTENERS = 64
MAX_WHISPERS = 256  # per room


class WhisperError(RoomError):
    """A whisper that cannot be (empty audience, whispering to oneself, too many)."""


@dataclass(frozen=True, slots=True)
class Whisper:
    id: str
    speaker: str
    listeners: frozenset[str]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "from": self.speaker, "to": sorted(self.listeners)}


class Whispers:
    def __init__(self) -> None:
        self._whispers: dict[str, Whisper] = {}

    def add(self, speaker: str, listeners: Iterable[str]) -> Whisper:
        audience = frozenset(listeners)
        if not audience:
            raise WhisperError("a whisper needs at least one listener")
        if speaker in audience:
            raise WhisperError("a participant cannot whisper to itself")
        if len(audience) > MAX_LISTENERS:
            raise WhisperError(f"a whisper reaches at most {MAX_LISTENERS} listeners")
        if len(self._whispers) >= MAX_WHISPERS:
            raise WhisperError(f"a room holds at most {MAX_WHISPERS} whispers")
        whisper = Whisper("w-" + secrets.token_hex(5), speaker, audience)
        self._whispers[whisper.id] = whisper
        return whisper

    def remove(self, whisper_id: str) -> Whisper:
        """The whisper ended; raises KeyError for an unknown id."""
        return self._whispers.pop(whisper_id)

    def left(self, participant: str) -> tuple[list[Whisper], list[Whisper]]:
        """`participant` left the room: (whispers that ended, whispers that lost a listener)."""
        ended: list[Whisper] = []
        narrowed: list[Whisper] = []
        for whisper in list(self._whispers.values()):
            if whisper.speaker == participant or whisper.listeners == {participant}:
                ended.append(self._whispers.pop(whisper.id))
            elif participant in whisper.listeners:
                smaller = Whisper(whisper.id, whisper.speaker, whisper.listeners - {participant})
                self._whispers[whisper.id] = smaller
                narrowed.append(smaller)
        return ended, narrowed

    def audiences(self) -> dict[str, frozenset[str]]:
        """Each whispering speaker and everyone who may hear it."""
        audiences: dict[str, frozenset[str]] = {}
        for whisper in self._whispers.values():
            audiences[whisper.speaker] = audiences.get(whisper.speaker, frozenset()) | (
                whisper.listeners
            )
        return audiences

    def current(self) -> list[Whisper]:
        return list(self._whispers.values())

    def __bool__(self) -> bool:
        return bool(self._whispers)
