"""The conference pictures a video process paints for the server (mixer.conference).

The server decides who sees what (mixer.variants) and keeps the rooms and the video hub; this
process decodes the sources, paints each variant and encodes it. Requests on the channel:

    conference.start   {room, fps}        start the room's runner (none painted yet)
    conference.stop    {room}
    conference.status  {room}             the runner's statistics

notifications from the server: `conference.variants` {room, variants: {id: {width, height,
tiles, share?}}, available: {source id: codec}} whenever a picture changes (and five times a
second), `conference.keyframe` {room, variant}. Back to the server: `video.wanted` and
`source.keyframe` as a wall's process sends them, and on the data path each variant's H.264
access units under the source id `<room>/<variant id>`."""

from __future__ import annotations

import asyncio
from typing import Any

from mediacore.channel import Notification
from mediacore.channelio import Channel
from mediacore.datapath import video
from mediacore.datapathio import DataPath
from mediacore.server.videowalls import WallHost
from mixer.conference import ConferenceRunner, VariantPicture
from mixer.variants import picture_from_json


def variant_source(room: str, variant: str) -> str:
    """The data path's name for a variant's stream."""
    return f"{room}/{variant}"


def _compositor_name(room: str) -> str:
    return f"conference:{room}"


class ConferenceHost:
    """The rooms' runners of this process; their sources are decoded by the process's wall
    host (one decoder per source for walls and conferences alike), which also tells the
    server which sources to send."""

    def __init__(self, channel: Channel, data: DataPath, walls: WallHost) -> None:
        self._walls = walls
        self._data = data
        self._runners: dict[str, ConferenceRunner] = {}
        channel.handlers.update(
            {
                "conference.start": self.start,
                "conference.stop": self.stop_room,
                "conference.status": self.status,
            }
        )

    def __len__(self) -> int:
        return len(self._runners)

    async def start(self, data: dict[str, Any]) -> None:
        room = str(data["room"])
        await self.stop_room({"room": room})
        runner = ConferenceRunner(room, float(data["fps"]), self._sink(room))
        self._runners[room] = runner
        self._walls.compositor.add(_compositor_name(room), runner)

    async def stop_room(self, data: dict[str, Any]) -> None:
        runner = self._runners.pop(str(data["room"]), None)
        if runner is not None:
            self._walls.compositor.remove(_compositor_name(runner.name))
            await asyncio.to_thread(runner.stop)
            self._walls.follow()

    async def status(self, data: dict[str, Any]) -> dict[str, Any]:
        """Raises KeyError for a room not painted here."""
        return self._runners[str(data["room"])].statistics()

    def statistics(self) -> dict[str, Any]:
        return {"conferences": {room: r.statistics() for room, r in self._runners.items()}}

    async def stop(self) -> None:
        for room in list(self._runners):
            await self.stop_room({"room": room})

    def notified(self, message: Notification) -> bool:
        """Handle a `conference.*` notification; False when it is not one of ours."""
        data = message.data
        runner = self._runners.get(str(data.get("room")))
        if message.event == "conference.variants":
            if runner is not None:
                runner.set_variants(
                    {
                        str(vid): VariantPicture(
                            int(v["width"]),
                            int(v["height"]),
                            picture_from_json(v["tiles"]),
                            float(v.get("share", 1.0)),
                        )
                        for vid, v in dict(data["variants"]).items()
                    }
                )
            self._walls.follow({str(k): str(v) for k, v in dict(data["available"]).items()})
            return True
        if message.event == "conference.keyframe":
            if runner is not None:
                runner.request_keyframe(str(data.get("variant")))
            return True
        return False

    def _sink(self, room: str) -> Any:
        def sink(variant: str, data: bytes, pts: int, keyframe: bool) -> None:  # output thread
            frame = video(variant_source(room, variant), "H264", data, pts, keyframe)
            self._data.send_threadsafe(frame)

        return sink
