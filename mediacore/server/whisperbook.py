"""The whispers of every room the API serves: their ids, their events, and their end.

Each room's `Whispers` (mediacore/whispers.py) decides who hears a whisperer; this book checks
that speaker and listeners are in the room, publishes `whisper.started` and `whisper.ended` in
the room (so its recordings' timelines show them), ends or narrows whispers whose people leave,
and hands each room's audiences to wherever the room mixes (`push`: the room itself, or every
shard of it on media workers)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mediacore.events import Event, EventBus
from mediacore.mixing import Audiences
from mediacore.whispers import Whisper, Whispers

log = logging.getLogger(__name__)

# Checks that participants are in a room: raises NoSuchRoom or NoSuchParticipant.
Members = Callable[[str, Sequence[str]], None]
Push = Callable[[str, Audiences], Awaitable[None]]


class WhisperBook:
    def __init__(self, bus: EventBus, members: Members, push: Push) -> None:
        self._bus = bus
        self._members = members
        self._push = push
        self._rooms: dict[str, Whispers] = {}
        bus.listen(self._event)

    async def start(self, room: str, speaker: str, listeners: list[str], by: str) -> Whisper:
        self._members(room, [speaker, *listeners])  # a whisper stays within its room
        whispers = self._rooms.setdefault(room, Whispers())
        whisper = whispers.add(speaker, listeners)
        await self._push(room, whispers.audiences())
        self._bus.publish("whisper.started", room, **whisper.to_json(), by=by)
        return whisper

    async def end(self, room: str, whisper_id: str, reason: str = "ended", by: str = "") -> None:
        """End one whisper; raises KeyError for one the room does not have."""
        self._members(room, [])
        whispers = self._rooms.get(room)
        if whispers is None:
            raise KeyError(whisper_id)
        whisper = whispers.remove(whisper_id)
        await self._push(room, whispers.audiences())
        self._published_end(room, whisper, reason, by)

    def current(self, room: str) -> list[dict[str, Any]]:
        self._members(room, [])
        whispers = self._rooms.get(room)
        return [w.to_json() for w in whispers.current()] if whispers is not None else []

    def audiences(self, room: str) -> Audiences:
        """What a new (or restarted) shard of `room` must be told."""
        whispers = self._rooms.get(room)
        return whispers.audiences() if whispers is not None else {}

    def _published_end(self, room: str, whisper: Whisper, reason: str, by: str = "") -> None:
        extra = {"by": by} if by else {}
        self._bus.publish("whisper.ended", room, **whisper.to_json(), reason=reason, **extra)

    def _event(self, event: Event) -> None:
        room = event.room
        if room is None or room not in self._rooms:
            return
        if event.type == "room.closed":
            del self._rooms[room]
        elif event.type == "participant.left":
            whispers = self._rooms[room]
            ended, narrowed = whispers.left(str(event.data.get("participant")))
            if not ended and not narrowed:
                return
            for whisper in ended:
                self._published_end(room, whisper, "left")
            asyncio.get_running_loop().create_task(self._push_quietly(room, whispers.audiences()))

    async def _push_quietly(self, room: str, audiences: Audiences) -> None:
        try:
            await self._push(room, audiences)
        except Exception:  # the room closed or its worker restarts: nothing left to narrow
            log.debug("pushing whispers failed", exc_info=True)
