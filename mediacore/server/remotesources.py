"""Field cameras of rooms on media workers.

The camera itself stays in control: its `FieldSource` pulls (in a video process), decodes,
reconnects and publishes `source.state`, and its video is a source of control's hub, which
walls, recordings and every worker's peers watch. Its sound goes to the room's mix in the
worker of the shard it joins: "source.join" makes it a participant there
(mediacore/server/workersources.py) and its decoded audio follows on that worker's data path.
The roster shows the camera's fields from here next to the worker's entry.

When the participant leaves (removed, kicked, the room closed, its worker died) the camera
stops: a camera's pull is cheap to start again, a camera nobody placed is not."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ingest.service import IngestService, revealed
from ingest.source import FieldSource
from mediacore.codecs.base import Pcm
from mediacore.datapath import audio
from mediacore.events import Event, EventBus
from mediacore.server.shardedrooms import ShardedRooms
from mediacore.server.workers import WorkerProcess

log = logging.getLogger(__name__)


class _AudioTo:
    """A camera's decoded audio, sent down its worker's data path (from any thread)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.worker: WorkerProcess | None = None
        self.participant = ""

    def __call__(self, pcm: Pcm, rate: int) -> None:
        worker = self.worker
        if worker is None:
            return
        frame = audio(self.participant, pcm, rate)
        with contextlib.suppress(RuntimeError):  # the loop closed: shutting down
            self.loop.call_soon_threadsafe(worker.send, frame)


class RemoteSources:
    def __init__(self, sharded: ShardedRooms, ingest: IngestService, bus: EventBus) -> None:
        self.sharded = sharded
        self.ingest = ingest
        self.bus = bus
        self._sources: dict[str, tuple[str, FieldSource]] = {}  # participant -> room, camera
        self._tasks: set[asyncio.Task[None]] = set()
        sharded.event_observers.append(self._event)
        sharded.participant_fields.append(self._fields)

    async def add(self, room: str, url: str, name: str, audio: bool) -> dict[str, Any]:
        settings = self.sharded.settings(room)
        sink = _AudioTo()
        source = await self.ingest.source_for(url, settings.rate, audio=audio, audio_sink=sink)
        worker, answer = await self.sharded.add_leg(room, "source.join", name=name, audio=audio)
        participant = str(answer["participant"]["id"])
        sink.worker, sink.participant = worker, participant
        source.start(room, self.bus, settings, participant)
        self._sources[participant] = (room, source)
        return {"id": participant, "state": source.state, "name": name, "audio": audio}

    async def entries(self, room: str, *, reveal: bool = False) -> list[dict[str, Any]]:
        roster = await self.sharded.roster(room)
        return [
            {**entry, **(revealed(self._sources[entry["id"]][1]) if reveal else {})}
            for entry in roster
            if entry["id"] in self._sources
        ]

    async def remove(self, room: str, source_id: str) -> None:
        self.sharded.placed(room)
        held = self._sources.get(source_id)
        if held is None or held[0] != room:
            raise KeyError(source_id)
        with contextlib.suppress(LookupError, ConnectionError):  # gone meanwhile
            await self.sharded.remove(room, source_id, "removed")
        await self._stop(source_id, "removed")

    async def stop(self) -> None:
        for participant in list(self._sources):
            await self._stop(participant, "server-stopped")

    def _fields(self, participant: str) -> dict[str, Any]:
        held = self._sources.get(participant)
        return held[1].describe() if held is not None else {}

    def _event(self, worker: WorkerProcess, event: Event) -> None:
        if event.type == "participant.left" and event.data["participant"] in self._sources:
            reason = str(event.data.get("reason") or "left")
            task = asyncio.get_running_loop().create_task(
                self._stop(event.data["participant"], reason)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _stop(self, participant: str, reason: str) -> None:
        held = self._sources.pop(participant, None)
        if held is not None:
            await held[1].close(reason)
