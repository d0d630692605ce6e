"""Where a room's recording runs: in this process, tapping a local room (`LocalSite`), or in the
media worker that holds the room (the server's glue, mediacore/server/shardedrecordings.py).

The recorder service (service.py) owns ids, the index and the events; a site only taps rooms
and writes tracks. Both speak through `Recording`: a recording in progress, wherever it is."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mediacore.room import Room, RoomSettings
from recorder.live import LiveRecording


@dataclass(frozen=True, slots=True)
class RecordingRequest:
    """What the service asks a site to start.

    `on_failed(reason)` and `on_lost(reason)` are called on the event loop: the first when
    writing failed (disk full: the service then stops the recording), the second when the
    process writing it died (the service then recovers what reached the disk)."""

    id: str
    room: str
    directory: Path
    started_by: str
    on_failed: Callable[[str], None]
    on_lost: Callable[[str], None] = lambda reason: None
    continues: str | None = None  # the recording a dead process left, that this one continues
    # roster entries of participants the tapped room does not hold (other shards of the room)
    also_present: Sequence[Mapping[str, Any]] = field(default_factory=tuple)


class Recording(Protocol):
    """A recording in progress."""

    @property
    def id(self) -> str: ...

    @property
    def room_name(self) -> str: ...

    @property
    def started_by(self) -> str: ...

    async def summary(self) -> dict[str, Any]:
        """id, room, state, started_at, tracks, bytes and statistics, as the API lists it."""
        ...

    async def manifest(self) -> dict[str, Any]:
        """The manifest as it stands (unsealed)."""
        ...

    async def stop(self, reason: str) -> dict[str, Any]:
        """Stop, write what is left and seal; returns the sealed manifest."""
        ...


class RecordingSite(Protocol):
    """Where rooms are tapped and their tracks written."""

    def settings(self, room: str) -> RoomSettings | None:
        """The settings of the open room `room`, None when no such room is open."""
        ...

    async def start(self, request: RecordingRequest) -> Recording:
        """Start recording; raises LookupError when the room is not open."""
        ...

    async def close(self) -> None:
        """Release what the site holds (every recording is stopped already)."""
        ...


class LocalRecording:
    """A recording of a room of this process: its LiveRecording."""

    def __init__(self, live: LiveRecording) -> None:
        self.live = live

    @property
    def id(self) -> str:
        return self.live.id

    @property
    def room_name(self) -> str:
        return self.live.room.name

    @property
    def started_by(self) -> str:
        return self.live.started_by

    async def summary(self) -> dict[str, Any]:
        return self.live.summary()

    async def manifest(self) -> dict[str, Any]:
        return self.live.manifest()

    async def stop(self, reason: str) -> dict[str, Any]:
        return await self.live.stop(reason)


class LocalSite:
    """Rooms of this process, found by `rooms(name)`; one writer thread takes every live
    recording's bytes, in order, so a recording's segments never race."""

    def __init__(self, rooms: Callable[[str], Room | None]) -> None:
        self.rooms = rooms
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder-write")

    def settings(self, room: str) -> RoomSettings | None:
        found = self.rooms(room)
        return found.settings if found is not None else None

    async def start(self, request: RecordingRequest) -> LocalRecording:
        """Start recording at once: the tap is in place when this returns (no await)."""
        room = self.rooms(request.room)
        if room is None:
            raise LookupError(f"no room named {request.room!r}")
        loop = asyncio.get_running_loop()

        def failed(live: LiveRecording, reason: str) -> None:  # on the writer thread
            loop.call_soon_threadsafe(request.on_failed, reason)

        live = LiveRecording(
            request.id,
            room,
            request.directory,
            self.writer,
            request.started_by,
            failed,
            continues=request.continues,
        )
        live.start(also_present=request.also_present)
        return LocalRecording(live)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.writer.shutdown, True)
