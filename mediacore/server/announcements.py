"""Announcements, as the API sees them: an uploaded file or text-to-speech played into a room.

Starting one prepares its clip here, in control (speech rendered by espeak-ng, mediacore/server/
speech.py; the file or speech decoded to the room's rate, clips.py, in a thread), then has the
room's process join it as a participant of kind "announcement" (announcementlegs.py: directly
in the single-process mode, over the worker's channel in the worker mode). Its id is that
participant's id. The room plays it on its own clock through the normal mix, and it leaves by
itself once played. Its events (`announcement.started`, `.progress`, `.finished`) come from its
leg in the room (mediacore/announcement.py), so that the room's recordings have them too; only
when its media worker dies does `announcement.finished` come from here, with reason
"worker-lost" (it is not replayed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediacore.announcement import STOPPED
from mediacore.events import Event, EventBus
from mediacore.server.announcefiles import AnnouncementFiles
from mediacore.server.clips import ClipCache
from mediacore.server.rooms import WORKER_LOST, Rooms
from mediacore.server.speech import Speech, check_text

# (room, join request) -> the new participant's roster entry; see AnnouncementLegs.join.
Join = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
KIND = "announcement"


@dataclass(frozen=True, slots=True)
class AnnouncementRequest:
    """What to play: `file` (a stored name) or `text` in `lang`; at floor `priority`."""

    file: str | None = None
    text: str | None = None
    lang: str = "en"
    priority: int = 2
    name: str = "announcement"

    def source(self) -> dict[str, Any]:
        if self.file is not None:
            return {"file": self.file}
        return {"text": self.text, "lang": self.lang}


class Announcements:
    def __init__(
        self,
        rooms: Rooms,
        join: Join,
        bus: EventBus,
        files: AnnouncementFiles,
        speech: Speech,
        clips: ClipCache,
    ) -> None:
        self.rooms = rooms
        self.join = join
        self.bus = bus
        self.files = files
        self.speech = speech
        self.clips = clips
        self.running: dict[str, str] = {}  # room by announcement id
        bus.listen(self._event)

    async def start(self, room: str, request: AnnouncementRequest) -> dict[str, Any]:
        """Play `request` into `room`: {"id", "room", "name", "duration_s", "source"}.
        Raises NoSuchRoom, KeyError (no such file), ValueError (a bad text),
        mediacore.server.speech.SpeechError, mediacore.server.clips.ClipError, or what
        joining a room raises (RoomClosed, RoomFull)."""
        rate = int((await self.rooms.summary(room))["rate"])  # NoSuchRoom before any work
        source: Path
        if request.file is not None:
            source = self.files.path(request.file)
        else:
            text = check_text(request.text or "", request.lang)
            source = await self.speech.render(text, request.lang)
        clip = await asyncio.to_thread(self.clips.prepare, source, rate)
        entry = await self.join(
            room,
            {
                "clip": str(clip.path),
                "rate": rate,
                "name": request.name,
                "priority": request.priority,
                "source": request.source(),
            },
        )
        announcement = str(entry["id"])
        self.running[announcement] = room
        return {
            "id": announcement,
            "room": room,
            "name": request.name,
            "source": request.source(),
            "duration_s": round(clip.duration_s, 2),
            "priority": request.priority,
        }

    async def entries(self, room: str) -> list[dict[str, Any]]:
        """The room's announcements playing now, with their progress."""
        return [
            {
                "id": entry["id"],
                "name": entry["name"],
                "source": entry.get("announcement"),
                "position_s": entry.get("position_s"),
                "duration_s": entry.get("duration_s"),
                "priority": entry["priority"],
                "has_floor": entry["has_floor"],
                "level_db": entry["level_db"],
            }
            for entry in await self.rooms.roster(room)
            if entry.get("kind") == KIND
        ]

    async def stop(self, room: str, announcement: str) -> None:
        """Stop an announcement early (reason "stopped"). Raises NoSuchRoom, or KeyError when
        the room plays no announcement of this id."""
        await self.rooms.summary(room)
        if self.running.get(announcement) != room:
            raise KeyError(announcement)
        await self.rooms.remove(room, announcement, STOPPED)

    def _event(self, event: Event) -> None:
        if event.type != "participant.left":
            return
        announcement = str(event.data.get("participant"))
        room = self.running.get(announcement)
        if room is None or room != event.room:
            return
        del self.running[announcement]
        if event.data.get("reason") == WORKER_LOST:  # its leg went with the worker: say it here
            self.bus.publish(
                "announcement.finished",
                room,
                id=announcement,
                reason=WORKER_LOST,
                detail=WORKER_LOST,
            )
