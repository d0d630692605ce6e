"""Field cameras of rooms on media workers.

The camera itself stays in control: its `FieldSource` pulls (in a video process), decodes,
reconnects and publishes `source.state`, and its video is a source of control's hub, which
walls, recordings and every worker's peers watch. Its sound goes to the room's mix in the
worker of the shard it joins: "source.join" makes it a participant there
(mediacore/server/workersources.py) and its decoded audio follows on that worker's data path.
The roster shows the camera's fields from here next to the worker's entry.

When the participant leaves (removed, kicked, the room closed) the camera stops. When its
worker dies the camera keeps pulling (walls and recordings keep its picture) and its sound
joins the room again, under the same participant id, once the room is back (`room.restored`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from ingest.service import IngestService, revealed
from ingest.source import FieldSource
from mediacore.codecs.base import Pcm
from mediacore.datapath import audio
from mediacore.events import Event, EventBus
from mediacore.server.rooms import WORKER_LOST
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


@dataclass(slots=True)
class _Camera:
    room: str
    name: str
    source: FieldSource
    sink: _AudioTo
    orphaned: bool = False  # its worker died: it joins the room again when the room is back


class RemoteSources:
    def __init__(self, sharded: ShardedRooms, ingest: IngestService, bus: EventBus) -> None:
        self.sharded = sharded
        self.ingest = ingest
        self.bus = bus
        self._sources: dict[str, _Camera] = {}  # by participant id
        self._tasks: set[asyncio.Task[None]] = set()
        sharded.event_observers.append(self._event)
        sharded.participant_fields.append(self._fields)
        bus.listen(self._restored)

    async def add(self, room: str, url: str, name: str, audio: bool) -> dict[str, Any]:
        settings = self.sharded.settings(room)
        sink = _AudioTo()
        source = await self.ingest.source_for(url, settings.rate, audio=audio, audio_sink=sink)
        worker, answer = await self.sharded.add_leg(room, "source.join", name=name, audio=audio)
        participant = str(answer["participant"]["id"])
        sink.worker, sink.participant = worker, participant
        source.start(room, self.bus, settings, participant)
        self._sources[participant] = _Camera(room, name, source, sink)
        return {"id": participant, "state": source.state, "name": name, "audio": audio}

    async def entries(self, room: str, *, reveal: bool = False) -> list[dict[str, Any]]:
        roster = await self.sharded.roster(room)
        return [
            {**entry, **(revealed(self._sources[entry["id"]].source) if reveal else {})}
            for entry in roster
            if entry["id"] in self._sources
        ]

    async def remove(self, room: str, source_id: str) -> None:
        self.sharded.placed(room)
        held = self._sources.get(source_id)
        if held is None or held.room != room:
            raise KeyError(source_id)
        with contextlib.suppress(LookupError, ConnectionError):  # gone meanwhile
            await self.sharded.remove(room, source_id, "removed")
        await self._stop(source_id, "removed")

    async def find(self, room: str, source_id: str) -> FieldSource:
        self.sharded.placed(room)
        held = self._sources.get(source_id)
        if held is None or held.room != room:
            raise KeyError(source_id)
        return held.source

    async def stop(self) -> None:
        for participant in list(self._sources):
            await self._stop(participant, "server-stopped")

    def _fields(self, participant: str) -> dict[str, Any]:
        held = self._sources.get(participant)
        return held.source.describe() if held is not None else {}

    def _event(self, worker: WorkerProcess, event: Event) -> None:
        held = self._sources.get(str(event.data.get("participant")))
        if event.type != "participant.left" or held is None:
            return
        reason = str(event.data.get("reason") or "left")
        if reason == WORKER_LOST:
            held.orphaned = True
            held.sink.worker = None  # its sound waits for the room to come back
            return
        self._spawn(self._stop(event.data["participant"], reason))

    def _restored(self, event: Event) -> None:
        if event.type != "room.restored":
            return
        for participant, held in list(self._sources.items()):
            if held.orphaned and held.room == event.room:
                held.orphaned = False
                self._spawn(self._rejoin(participant, held))

    async def _rejoin(self, participant: str, held: _Camera) -> None:
        try:
            worker, _ = await self.sharded.add_leg(
                held.room, "source.join", name=held.name, audio=held.source.audio, id=participant
            )
        except Exception as error:  # the room closed meanwhile, or is full now
            log.warning("a camera could not rejoin its room", extra={"error": str(error)})
            await self._stop(participant, WORKER_LOST)
            return
        held.sink.worker = worker
        log.info("camera back in its room", extra={"room": held.room, "participant": participant})

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stop(self, participant: str, reason: str) -> None:
        held = self._sources.pop(participant, None)
        if held is not None:
            await held.source.close(reason)
