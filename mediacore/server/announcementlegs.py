"""Announcements joining the rooms of this process: control's in the single-process mode, a
media worker's own (channel request "announcement.join") in the worker mode.

Control decodes the clip into the data directory, which the workers share, and names its file;
the room's process maps it (mediacore.announcement.load_clip) and plays it on its own clock, so
no audio crosses the data path and the pacing is the mixer's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mediacore.announcement import AnnouncementLeg, ClipPlayback, load_clip
from mediacore.participant import Participant
from mediacore.room import RoomError
from mediacore.server.rooms import LocalRooms


def clips_directory(data_dir: Path) -> Path:
    """Where decoded clips are kept (mediacore/server/clips.py), absolute."""
    return (data_dir / "announcements" / "clips").absolute()


class AnnouncementLegs:
    def __init__(self, rooms: LocalRooms, clips: Path, worker_id: int | None = None) -> None:
        self.rooms = rooms
        self.clips = clips.resolve()
        self.worker_id = worker_id

    async def join(self, data: dict[str, Any]) -> dict[str, Any]:
        """{room, clip, rate, name, priority, source}: the clip file `clip` (int16 at `rate`,
        in the clips directory) plays into `room` as a participant; answers its roster entry
        as {"participant": entry}. Raises NoSuchRoom, RoomClosed, RoomFull or RoomError."""
        room = self.rooms.room(data["room"])
        room.check_capacity()
        rate = int(data["rate"])
        if rate != room.settings.rate:
            raise RoomError(f"the clip is at {rate} Hz, the room at {room.settings.rate} Hz")
        clip = Path(data["clip"]).resolve()
        if clip.parent != self.clips:
            raise RoomError("clips are played from the announcements' clip directory only")
        try:
            samples = load_clip(clip)
        except (OSError, ValueError) as error:
            raise RoomError(f"the clip cannot be read: {error}") from None
        priority, name = int(data["priority"]), str(data["name"])
        playback = ClipPlayback(samples, rate, room.settings.ptime)
        leg = AnnouncementLeg(playback, name, priority, dict(data["source"]))
        participant = Participant(name=name, endpoint=leg, priority=priority)
        room.add(participant)
        entry = participant.roster_entry()
        if self.worker_id is not None:
            entry["worker"] = self.worker_id
        return {"participant": entry}
