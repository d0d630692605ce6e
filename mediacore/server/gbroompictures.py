"""Our rooms' composed conference pictures an upper GB/T 28181 platform can play
(ingest.gbupperrelay.RoomPictures). A play is one more viewer of the room's common picture
(`ConferenceService.composed(room, None)`, at the room's size): its tap keeps the picture
watched, and removing the tap lets it go (the room's video process stops once nobody
watches)."""

from __future__ import annotations

from collections.abc import Callable

from ingest.gbupperrelay import PictureSink
from mediacore.server.conferences import ConferenceService
from mediacore.server.gbpictures import tap_source
from mediacore.server.rooms import Rooms
from mediacore.videohub import VideoHub


class ConferencePictures:
    def __init__(self, rooms: Rooms, conferences: ConferenceService, hub: VideoHub) -> None:
        self.rooms_service = rooms
        self.conferences = conferences
        self.hub = hub

    def rooms(self) -> list[str]:
        names = self.rooms_service.names()
        return [name for name in names if self.conferences.settings(name) is not None]

    async def tap(self, room: str, sink: PictureSink) -> Callable[[], None]:
        source_id = await self.conferences.composed(room, None)
        return tap_source(self.hub.get(source_id), sink)
