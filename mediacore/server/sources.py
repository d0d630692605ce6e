"""Field cameras of rooms, as the sources API sees them, wherever their rooms run.

`LocalSources` joins cameras to rooms of this process (ingest.service.IngestService does the
work); `mediacore.server.remotesources.RemoteSources` does it for rooms on media workers. Both
answer plain JSON; lookups raise NoSuchRoom, a source that is not there KeyError."""

from __future__ import annotations

from typing import Any, Protocol

from ingest.service import IngestService
from ingest.source import FieldSource
from mediacore.server.rooms import LocalRooms


class Sources(Protocol):
    async def add(self, room: str, url: str, name: str, audio: bool) -> dict[str, Any]:
        """Pull `url` into `room`: {"id", "state", "name", "audio"}. Raises NoSuchRoom,
        PullError (an unusable URL), AddressRefused (not an allowed network), RoomClosed or
        RoomError (full)."""
        ...

    async def entries(self, room: str, *, reveal: bool = False) -> list[dict[str, Any]]:
        """The roster entries of the room's sources (state, reason, codecs, counters); with
        `reveal` (admins) the URL as given and the whole reason."""
        ...

    async def remove(self, room: str, source_id: str) -> None:
        """The source leaves the room. Raises NoSuchRoom or KeyError."""
        ...

    async def find(self, room: str, source_id: str) -> FieldSource:
        """The source itself (to steer a played-back recording). Raises NoSuchRoom or
        KeyError."""
        ...


class LocalSources:
    def __init__(self, rooms: LocalRooms, ingest: IngestService) -> None:
        self.rooms = rooms
        self.ingest = ingest

    async def add(self, room: str, url: str, name: str, audio: bool) -> dict[str, Any]:
        participant = await self.ingest.add(self.rooms.room(room), url, name, audio=audio)
        entry = participant.roster_entry()
        return {"id": participant.id, "state": entry["state"], "name": name, "audio": audio}

    async def entries(self, room: str, *, reveal: bool = False) -> list[dict[str, Any]]:
        return self.ingest.sources(self.rooms.room(room), reveal=reveal)

    async def remove(self, room: str, source_id: str) -> None:
        await self.ingest.remove(self.rooms.room(room), source_id)

    async def find(self, room: str, source_id: str) -> FieldSource:
        participant = self.rooms.room(room).participants.get(source_id)
        if participant is None or not isinstance(participant.endpoint, FieldSource):
            raise KeyError(source_id)
        return participant.endpoint
