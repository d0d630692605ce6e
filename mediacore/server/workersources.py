"""Field cameras' sound in a media worker's rooms.

A camera is pulled, decoded and supervised in control (ingest.source.FieldSource, its pull in a
video process) and its video goes to control's hub. Its sound belongs in the room's mix, which
runs here: "source.join" makes the camera a participant of the room (kind "video") whose audio
input is a `PcmFeed`, and control sends the decoded audio down the worker's data path, where
`frame` pushes it into that feed. The roster's source fields (state, codec, counters) are
control's; the feed's counters are this worker's."""

from __future__ import annotations

import re
from typing import Any

from ingest.pcmfeed import PcmFeed
from mediacore.channelio import Channel
from mediacore.datapath import MediaFrame
from mediacore.endpoint import Endpoint
from mediacore.participant import Participant
from mediacore.server.rooms import LocalRooms

PARTICIPANT_ID = re.compile(r"p-[0-9a-f]{6,32}")


class SourceLeg(Endpoint):
    """A camera whose sound arrives from control. It only talks, and only once audio came."""

    kind = "video"
    movable = False  # it plays into, or pulls for, its one room

    def __init__(self, room_rate: int, tick_ms: int, audio: bool) -> None:
        self.audio = audio
        self.feed = PcmFeed(room_rate, tick_ms) if audio else None

    def push(self, frame: MediaFrame) -> None:
        if self.feed is None:
            return
        self.feed.push(frame.pcm(), frame.rate)
        self.audio_input = self.feed  # mixed from the next tick on

    async def close(self, reason: str) -> None:
        self.feed = None
        self.audio_input = None

    def describe(self) -> dict[str, Any]:
        return {"audio": self.audio, **self.statistics()}

    def statistics(self) -> dict[str, float]:
        return self.feed.statistics() if self.feed is not None else {}


class WorkerSources:
    """The cameras in this worker's rooms, by participant id."""

    def __init__(self, rooms: LocalRooms, channel: Channel, worker_id: int) -> None:
        self.rooms = rooms
        self.worker_id = worker_id
        self.legs: dict[str, SourceLeg] = {}
        channel.handlers["source.join"] = self.join

    async def join(self, data: dict[str, Any]) -> dict[str, Any]:
        """{room, name, audio, id?}: the camera as a participant; `id` keeps the one it had
        on a worker that died (its video, pulled in control, kept that id all along)."""
        room = self.rooms.room(data["room"])
        room.check_capacity()
        leg = SourceLeg(room.settings.rate, room.settings.ptime, bool(data["audio"]))
        wanted = data.get("id")
        if wanted is not None and (
            not PARTICIPANT_ID.fullmatch(wanted) or wanted in room.participants
        ):
            raise ValueError(f"participant id {wanted!r} is not usable")
        participant = Participant(
            name=data["name"], endpoint=leg, **({"id": wanted} if wanted else {})
        )
        room.add(participant)
        self.legs[participant.id] = leg
        return {"participant": {**participant.roster_entry(), "worker": self.worker_id}}

    def frame(self, frame: MediaFrame) -> None:
        """A camera's audio from control."""
        leg = self.legs.get(frame.source)
        if leg is not None:
            leg.push(frame)

    def left(self, participant_id: str) -> None:
        self.legs.pop(participant_id, None)
