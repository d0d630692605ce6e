"""Field video sources of every room: added and removed by the API, stopped with the server."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from ingest.gbreader import SCHEME as GB28181
from ingest.gbreader import gb_target
from ingest.netpolicy import AddressRefused, NetworkPolicy
from ingest.puller import OPEN_FAILED, AudioSink, PullError, PullTarget, pull_target
from ingest.source import (
    DEFAULT_SETTINGS,
    Admission,
    FieldSource,
    FieldSourceSettings,
    ReaderFactory,
)
from mediacore.participant import Participant
from mediacore.room import Room
from mediacore.videohub import VideoHub


class IngestService:
    """Creates `FieldSource` participants. `settings` applies to sources added afterwards."""

    def __init__(
        self,
        hub: VideoHub,
        settings: FieldSourceSettings = DEFAULT_SETTINGS,
        networks: NetworkPolicy | None = None,
    ) -> None:
        self.hub = hub
        self.settings = settings
        # Where network sources may be pulled from (checked at add and before every
        # connection attempt); None: anywhere.
        self.networks = networks
        self._sources: dict[str, tuple[Room, FieldSource]] = {}
        # URL schemes whose sources another reader opens (gb28181: the GB/T 28181 platform)
        self.readers: dict[str, ReaderFactory] = {}
        # URL schemes whose sources' roster entries have more fields: fields(target) -> dict
        self.fields: dict[str, Callable[[PullTarget], dict[str, Any]]] = {}
        # The readers of every other source, given the room's rate (the assembly's: pulls in
        # a video process); None reads them on a thread of this process.
        self.pullers: Callable[[int], ReaderFactory] | None = None

    async def add(self, room: Room, url: str, name: str, *, audio: bool = True) -> Participant:
        """Join a pulled camera to `room`; it starts connecting at once. With `audio` its
        sound (if it has any) is mixed into the room. Raises what `source_for` raises, or
        RoomError (room closed or full)."""
        source = await self.source_for(url, room.settings.rate, audio=audio)
        room.check_capacity()
        participant = Participant(name=name, endpoint=source)
        room.add(participant)
        # forget sources that left their room (kicked, room closed) since the last add
        self._sources = {k: v for k, v in self._sources.items() if v[1].state != "stopped"}
        self._sources[participant.id] = (room, source)
        return participant

    async def source_for(
        self, url: str, rate: int, *, audio: bool = True, audio_sink: AudioSink | None = None
    ) -> FieldSource:
        """A field source for `url`, for a room mixing at `rate` Hz, not started yet (it
        starts when it joins a room, or with `start`). Raises PullError (an unsupported URL)
        or AddressRefused (its host is not in the allowed networks). A host that does not
        resolve yet is accepted: each attempt checks again."""
        scheme = urlsplit(url).scheme.lower()
        factory = self.readers.get(scheme)
        admit: Admission | None = None
        if scheme == GB28181:
            target = gb_target(url)
            if factory is None:
                raise PullError("GB/T 28181 is off: configure [gb28181]", permanent=True)
        else:
            target = pull_target(url, self.settings.read_timeout)
            if factory is None and self.pullers is not None:
                factory = self.pullers(rate)
            if self.networks is not None:
                admit = _admission(self.networks, url)
                with contextlib.suppress(OSError):  # unresolvable now: each attempt checks
                    await self.networks.check_url(url)
        source = FieldSource(
            url,
            target,
            self.hub,
            self.settings,
            audio=audio,
            reader_factory=factory,
            admit=admit,
            audio_sink=audio_sink,
        )
        fields = self.fields.get(scheme)
        if fields is not None:
            source.fields = partial(fields, target)
        return source

    def sources(self, room: Room, *, reveal: bool = False) -> list[dict[str, Any]]:
        """Roster entries of the room's field sources (state, reason, counters). Their URLs
        are redacted and their reasons never quote the network, unless `reveal` (for admins):
        then `url` is the URL as given and `reason` the whole story."""
        entries = []
        for participant in room.participants.values():
            source = participant.endpoint
            if isinstance(source, FieldSource):
                entry = participant.roster_entry()
                if reveal:
                    entry |= revealed(source)
                entries.append(entry)
        return entries

    def size(self, source_id: str) -> tuple[int, int] | None:
        """The picture size of the field source whose video is `source_id`, once known."""
        entry = self._sources.get(source_id)
        if entry is None or entry[1].width is None or entry[1].height is None:
            return None
        return entry[1].width, entry[1].height

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


def revealed(source: FieldSource) -> dict[str, Any]:
    """What an admin sees of a source besides its roster entry: the URL as given, and the
    whole story of its last failure."""
    return {"url": source.url, "reason": source.detail}


# What a source whose address is refused says (the address itself only to admins and the log).
ADDRESS_REFUSED = "the source's address is not in the networks this server may pull from"


def _admission(networks: NetworkPolicy, url: str) -> Admission:
    async def admit() -> None:
        try:
            await networks.check_url(url)
        except AddressRefused as error:
            raise PullError(str(error), permanent=True, public=ADDRESS_REFUSED) from None
        except OSError as error:
            host = urlsplit(url).hostname
            raise PullError(f"cannot resolve {host}: {error}", public=OPEN_FAILED) from None

    return admit
