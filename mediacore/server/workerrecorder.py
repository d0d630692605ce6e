"""The recordings a media worker writes: rooms whose home shard it holds, tapped on their clock
and written by its own writer thread (recorder/site.py's LocalSite, as in a single process).

Control starts and stops them over the channel (`recording.start`, `recording.stop`), asks for
their summary and live manifest, and hands over the events of the room's other shards
(`recording.event`) for the timeline; this side tells control when writing failed
(`recording.failed` notification) so that control stops the recording. Control owns the ids,
the index and the `recording.*` events: nothing is published here, so no event is forwarded
twice. Tracks go to `<data_dir>/recordings/<id>/`, the directory control reads them from."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mediacore.channelio import Channel, Handler, RequestFailed
from mediacore.room import Room
from mediacore.server.rooms import NoSuchRoom
from recorder.live import LiveRecording
from recorder.site import LocalRecording, LocalSite, RecordingRequest

log = logging.getLogger(__name__)

RECORDING_ID = re.compile(r"rec-[0-9A-Za-z_-]{1,64}")  # names a directory: nothing else passes
ERROR_KIND = "RecordingError"  # the channel's kind: "RecordingError:<code>"


class WorkerRecorder:
    """The live recordings of one worker, by room name."""

    def __init__(
        self, data_dir: Path, rooms: Callable[[str], Room | None], channel: Channel
    ) -> None:
        self.root = data_dir / "recordings"
        self.site = LocalSite(rooms)
        self.channel = channel
        self.active: dict[str, LocalRecording] = {}

    def handlers(self) -> dict[str, Handler]:
        return {
            "recording.start": self.start,
            "recording.stop": self.stop,
            "recording.summary": self.summary,
            "recording.manifest": self.manifest,
            "recording.event": self.event,
        }

    def live_recordings(self) -> list[LiveRecording]:
        """The recordings this worker writes (their video is tapped from its hub)."""
        return [recording.live for recording in self.active.values()]

    async def start(self, data: dict[str, Any]) -> dict[str, Any]:
        """{room, id, by, continues?, present?: roster entries of the other shards}: tap the
        room now; answers the recording's summary."""
        room, recording_id = str(data["room"]), str(data["id"])
        if not RECORDING_ID.fullmatch(recording_id):
            raise ValueError(f"{recording_id!r} is not a recording id")
        if room in self.active:
            raise RequestFailed(f"{ERROR_KIND}:already-recording", f"room {room!r} is recording")
        self.root.mkdir(parents=True, exist_ok=True)
        request = RecordingRequest(
            id=recording_id,
            room=room,
            directory=self.root / recording_id,
            started_by=str(data["by"]),
            on_failed=lambda reason: self._failed(room, recording_id, reason),
            continues=data.get("continues"),
            also_present=list(data.get("present") or ()),
        )
        try:
            recording = await self.site.start(request)
        except LookupError:
            raise NoSuchRoom(f"no room named {room!r}") from None
        self.active[room] = recording
        log.info("recording started", extra={"room": room, "recording": recording_id})
        return await recording.summary()

    async def stop(self, data: dict[str, Any]) -> dict[str, Any]:
        """{room, id, reason}: stop and seal; answers what control needs to read the rest."""
        recording = self._recording(data)
        del self.active[recording.room_name]
        manifest = await recording.stop(str(data.get("reason") or "stopped"))
        keys = ("id", "state", "failure", "manifest_sha256")
        return {key: manifest.get(key) for key in keys}

    async def summary(self, data: dict[str, Any]) -> dict[str, Any]:
        return await self._recording(data).summary()

    async def manifest(self, data: dict[str, Any]) -> dict[str, Any]:
        return await self._recording(data).manifest()

    async def event(self, data: dict[str, Any]) -> None:
        """{room, id, event}: an event of another shard of the room, for the timeline."""
        self._recording(data).live.note_event(data["event"])

    async def stop_all(self, reason: str) -> None:
        """Seal every recording (the worker is stopping), then end the writer thread."""
        for room in list(self.active):
            recording = self.active.pop(room)
            try:
                await recording.stop(reason)
            except Exception:  # the others must still be sealed
                log.exception("stopping a recording failed", extra={"recording": recording.id})
        await self.site.close()

    def _recording(self, data: dict[str, Any]) -> LocalRecording:
        recording = self.active.get(str(data["room"]))
        if recording is None or recording.id != data["id"]:
            detail = f"recording {data['id']!r} is not running here"
            raise RequestFailed(f"{ERROR_KIND}:not-recording", detail)
        return recording

    def _failed(self, room: str, recording_id: str, reason: str) -> None:
        recording = self.active.get(room)
        if recording is not None and recording.id == recording_id:
            self.channel.notify("recording.failed", room=room, id=recording_id, reason=reason)
