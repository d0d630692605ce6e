"""Field video sources of every room: added and removed by the API, stopped with the server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ingest.gbreader import SCHEME as GB28181
from ingest.gbreader import gb_target
from ingest.puller import AudioSink, PullError, pull_target
from ingest.source import DEFAULT_SETTINGS, FieldSource, FieldSourceSettings, ReaderFactory
from mediacore.participant import Participant
from mediacore.room import Room
from mediacore.videohub import VideoHub


class IngestService:
    """Creates `FieldSource` participants. `settings` applies to sources added afterwards."""

    def __init__(self, hub: VideoHub, settings: FieldSourceSettings = DEFAULT_SETTINGS) -> None:
        self.hub = hub
        self.settings = settings
        self._sources: dict[str, tuple[Room, FieldSource]] = {}
        # URL schemes whose sources another reader opens (gb28181: the GB/T 28181 platform)
        self.readers: dict[str, ReaderFactory] = {}
        # The readers of every other source, given the room's rate (the assembly's: pulls in
        # a video process); None reads them on a thread of this process.
        self.pullers: Callable[[int], ReaderFactory] | None = None

    def add(self, room: Room, url: str, name: str, *, audio: bool = True) -> Participant:
        """Join a pulled camera to `room`; it starts connecting at once. With `audio` its
        sound (if it has any) is mixed into the room. Raises PullError (an unsupported URL)
        or RoomError (room closed or full)."""
        source = self.source_for(url, room.settings.rate, audio=audio)
        room.check_capacity()
        participant = Participant(name=name, endpoint=source)
        room.add(participant)
        # forget sources that left their room (kicked, room closed) since the last add
        self._sources = {k: v for k, v in self._sources.items() if v[1].state != "stopped"}
        self._sources[participant.id] = (room, source)
        return participant

    def source_for(
        self, url: str, rate: int, *, audio: bool = True, audio_sink: AudioSink | None = None
    ) -> FieldSource:
        """A field source for `url`, for a room mixing at `rate` Hz, not started yet (it
        starts when it joins a room, or with `start`). Raises PullError (an unsupported URL)."""
        scheme = urlsplit(url).scheme.lower()
        factory = self.readers.get(scheme)
        if scheme == GB28181:
            target = gb_target(url)
            if factory is None:
                raise PullError("GB/T 28181 is off: configure [gb28181]", permanent=True)
        else:
            target = pull_target(url, self.settings.read_timeout)
            if factory is None and self.pullers is not None:
                factory = self.pullers(rate)
        return FieldSource(
            url,
            target,
            self.hub,
            self.settings,
            audio=audio,
            reader_factory=factory,
            audio_sink=audio_sink,
        )

    def sources(self, room: Room) -> list[dict[str, Any]]:
        """Roster entries of the room's field sources (state, reason, counters)."""
        return [
            p.roster_entry()
            for p in room.participants.values()
            if isinstance(p.endpoint, FieldSource)
        ]

    def is_source(self, room: Room, participant_id: str) -> bool:
        participant = room.participants.get(participant_id)
        return participant is not None and isinstance(participant.endpoint, FieldSource)

    async def remove(self, room: Room, participant_id: str) -> None:
        """The source leaves the room (its subscribers' video ends). Raises KeyError."""
        if not self.is_source(room, participant_id):
            raise KeyError(participant_id)
        self._sources.pop(participant_id, None)
        await room.remove(participant_id, "removed")

    async def stop(self) -> None:
        """Stop sources still pulling (rooms normally close them first)."""
        sources, self._sources = self._sources, {}
        for _room, source in sources.values():
            if source.state != "stopped":
                await source.close("server-stopped")
