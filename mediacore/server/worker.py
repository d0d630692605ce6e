"""A media worker process: the rooms (or room shards) the control process places on it.

Started by mediacore.server.workers with one end of a socketpair as its control channel. It owns
everything per packet for its rooms: RTP sockets, jitter buffers, codecs, the mixer clock, radio
legs, the cascade links between shards, and the recorder taps and writers of its home shards
(workerrecorder.py). Control asks through the channel (requests named
like "room.open" or "leg.rtp", answered with the same JSON the HTTP API shows) and hears back
the worker's events as notifications. The worker ends when the channel closes or on SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediacore.cascadeio import RoomLinks
from mediacore.channel import Notification
from mediacore.channelio import Channel, RequestFailed
from mediacore.clock import iso8601
from mediacore.datapath import FrameKind, MediaFrame
from mediacore.datapathio import DataPath
from mediacore.events import Event, EventBus
from mediacore.legvideo import LegVideo
from mediacore.offeranswer import OfferAnswerError
from mediacore.room import MOVED, RoomSettings
from mediacore.server.announcementlegs import AnnouncementLegs, clips_directory
from mediacore.server.children import READY
from mediacore.server.config import Config, RtpSection, ServerSection
from mediacore.server.directory import RoomDirectory
from mediacore.server.legvideoplace import WorkerVideoPlace
from mediacore.server.metricsdata import TickTimings, room_snapshot
from mediacore.server.niceness import renice
from mediacore.server.parentdeath import die_with_parent
from mediacore.server.recordcomposite import RecordingComposite, worker_finder
from mediacore.server.recordvideo import RecordingVideo
from mediacore.server.rooms import LegRequest, LocalRooms, offer_answer_kind
from mediacore.server.workerlegs import WorkerLegs
from mediacore.server.workerpeers import WorkerPeers
from mediacore.server.workerrecorder import WorkerRecorder
from mediacore.server.workersources import WorkerSources
from mediacore.server.workervideo import WorkerVideo
from mediacore.uvloops import install_uvloop
from mediacore.videohub import VideoHub

log = logging.getLogger(__name__)

# Room-wide events come from the home shard only; the others would repeat them.
_HOME_ONLY = ("room.opened", "room.closed", "room.updated")


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """What control tells a worker at start: who it is and which ports are its own."""

    id: int
    host: str
    port_min: int
    port_max: int
    rtp_timeout: float
    link_host: str = "127.0.0.1"  # where the cascade links between shards listen
    port_start: int = 0  # the first port pair handed out (0: the range's low end)
    data_dir: str = "./var"  # the server's: recordings are written under <data_dir>/recordings
    store: str = ""  # ...or under <store>/recordings ([recording] shared_dir: the node's folder)
    nice: int = 0  # added to the niceness it starts with ([server] media_nice)

    def config(self) -> Config:
        return Config(
            server=ServerSection(host=self.host),
            rtp=RtpSection(
                port_min=self.port_min, port_max=self.port_max, timeout=self.rtp_timeout
            ),
            rooms=(),
        )


class Worker:
    """The worker's rooms behind its end of the control channel."""

    def __init__(
        self, settings: WorkerSettings, channel: Channel, data: DataPath | None = None
    ) -> None:
        self.settings = settings
        self.channel = channel
        self.bus = EventBus()
        self.directory = RoomDirectory(settings.config(), self.bus)
        if settings.port_start:
            self.directory.ports.start_at(settings.port_start)
        self.timings = TickTimings()
        self.directory.tick_observers.append(self.timings.observe_tick)
        self.rooms = LocalRooms(self.directory)
        self.home: dict[str, bool] = {}
        self.links: dict[str, RoomLinks] = {}
        self.links_rejected = 0  # datagrams the links of rooms closed since refused
        self.stopped = asyncio.Event()
        self.sip_legs = WorkerLegs(self.rooms, channel)
        self.video = WorkerVideo(VideoHub(), channel, data)
        # SIP and plain RTP legs with m=video publish into, and watch, this worker's hub
        legs = self.directory.legs
        legs.video = LegVideo(self.directory.ports, WorkerVideoPlace(self.video), legs.clock)
        self.peers = WorkerPeers(self.rooms, channel, settings.id, self.video)
        self.sources = WorkerSources(self.rooms, channel, settings.id)
        clips = clips_directory(Path(settings.data_dir))
        self.announcements = AnnouncementLegs(self.rooms, clips, settings.id)
        if data is not None:
            data.on_frame = self._frame
        self.notices: dict[str, Callable[[dict[str, Any]], None]] = {
            "video.keyframe": self.video.keyframe,
            "video.ended": self.video.ended,
        }
        channel.on_notification = self._notified
        store = Path(settings.store or settings.data_dir)
        self.recorder = WorkerRecorder(store, self.directory.rooms.get, channel)
        # Recordings written here take their room's video from this worker's hub: its peers'
        # own, and the cameras' brought from control (`_every_second`).
        self.recording_video = RecordingVideo(self.recorder, self.video.hub, self.bus)
        # and the room's composed picture with its mix, from control's conference service
        self.recording_composite = RecordingComposite(
            self.recorder, self.video.hub, worker_finder(self.video)
        )
        self._housekeeping: asyncio.Task[None] | None = None
        self._stopping = False
        self.bus.listen(self._forward_event)
        channel.handlers.update(
            {
                "room.open": self.open_room,
                "room.close": self.close_room,
                "room.change": lambda d: self.rooms.change(d["room"], d["changes"]),
                "room.summary": lambda d: self.rooms.summary(d["room"]),
                "room.summaries": self.summaries,
                "room.roster": lambda d: self.rooms.roster(d["room"]),
                "room.whispers": lambda d: self.rooms.set_whispers(
                    d["room"], {k: frozenset(v) for k, v in d["audiences"].items()}
                ),
                "participant.get": lambda d: self.rooms.participant(d["room"], d["participant"]),
                "participant.update": lambda d: self.rooms.update(
                    d["room"], d["participant"], d["changes"]
                ),
                "participant.remove": lambda d: self.rooms.remove(
                    d["room"], d["participant"], d["reason"]
                ),
                "participant.hold": lambda d: self.rooms.hold(
                    d["room"], d["participant"], d["by"], d.get("music")
                ),
                "participant.resume": lambda d: self.rooms.resume(
                    d["room"], d["participant"], d["by"]
                ),
                "participant.move": self.move,
                "leg.rtp": self.add_rtp_leg,
                "announcement.join": self.announcements.join,
                "floor.get": lambda d: self.rooms.floor(d["room"]),
                "floor.action": lambda d: self.rooms.floor_action(
                    d["room"],
                    d["participant"],
                    d["action"],
                    d.get("priority"),
                    d["by"],
                    d.get("source", "api"),
                ),
                "floor.decide": self.decide_floor,
                "floor.apply": self.apply_floor,
                "cascade.bind": self.bind_links,
                "cascade.connect": self.connect_link,
                "worker.stats": self.stats,
                "worker.metrics": self.metrics,
                "worker.stop": self.stop,
            }
        )
        channel.handlers.update(self.recorder.handlers())

    # -- rooms ----------------------------------------------------------------------------

    async def open_room(self, data: dict[str, Any]) -> dict[str, Any]:
        settings = RoomSettings(**data["settings"])
        home = bool(data.get("home", True))
        phase = data.get("phase")
        self.home[settings.name] = home
        summary = await self.rooms.open(settings, None if phase is None else float(phase))
        if not home:
            room = self.rooms.room(settings.name)
            room.mirror_floor(
                lambda action, participant, priority, source, hang: self.channel.notify(
                    "floor.forward",
                    room=settings.name,
                    action=action,
                    participant=participant,
                    priority=priority,
                    source=source,
                    hang=hang,
                )
            )
        return summary

    async def close_room(self, data: dict[str, Any]) -> None:
        name = data["room"]
        links = self.links.pop(name, None)
        if links is not None:
            links.close()
            self.links_rejected += links.rejected
        await self.rooms.close(name, data["reason"])
        await self.sip_legs.room_closed(name)
        self.home.pop(name, None)
        self.timings.forget(name)

    async def move(self, data: dict[str, Any]) -> dict[str, Any]:
        """Move a participant between two rooms' shards of this worker, its leg open."""
        entry = await self.rooms.move(data["room"], data["participant"], data["to"])
        self.sip_legs.moved(data["participant"], data["to"])
        return {**entry, "worker": self.settings.id}

    async def add_rtp_leg(self, data: dict[str, Any]) -> dict[str, Any]:
        try:
            entry, answer = await self.rooms.add_rtp_leg(
                data["room"], data["offer"], LegRequest.from_json(data["leg"])
            )
        except OfferAnswerError as error:
            raise RequestFailed(offer_answer_kind(error), str(error)) from None
        return {"participant": {**entry, "worker": self.settings.id}, "answer": answer}

    # -- the floor of a room spanning workers ---------------------------------------------

    async def decide_floor(self, data: dict[str, Any]) -> dict[str, Any]:
        """On the home shard: act for a participant of another shard."""
        room = self.rooms.room(data["room"])
        floor, participant, now = room.floor, data["participant"], room.media_clock.now()
        action = data["action"]
        if action == "request":
            result = floor.request(participant, int(data["priority"]), data["source"], now)
        elif action == "release":
            result = floor.release(participant, data["source"], now, hang=bool(data["hang"]))
        elif action == "revoke":
            revoked = floor.revoke(participant, data["source"], now, by=data.get("by"))
            return {"result": "revoked" if revoked else "not-holder", "holder": floor.holder}
        else:
            floor.remove(participant, now)
            return {"result": "removed", "holder": floor.holder}
        return result.to_json()

    async def apply_floor(self, data: dict[str, Any]) -> None:
        """On another shard: follow the home shard's floor."""
        room = self.rooms.room(data["room"])
        apply = getattr(room.floor, "apply", None)
        if apply is not None:
            apply(data["state"])

    # -- cascade links --------------------------------------------------------------------

    async def bind_links(self, data: dict[str, Any]) -> dict[str, Any]:
        room = self.rooms.room(data["room"])
        links = self.links.get(room.name)
        if links is None:
            settings = room.settings
            links = RoomLinks(settings.rate, settings.ptime, room.media_clock, room.name)
            await links.bind(self.settings.link_host)
            self.links[room.name] = links
            room.links = links
        return {"address": self.settings.link_host, "port": links.port, "key": links.key}

    async def connect_link(self, data: dict[str, Any]) -> None:
        """Join the room's links to a peer's: `address`, `port` and `key` as its bind gave."""
        self.rooms.room(data["room"])
        links = self.links[data["room"]]
        links.connect(data["link"], data["address"], int(data["port"]), data["key"])

    # -- the worker -----------------------------------------------------------------------

    async def summaries(self, data: dict[str, Any]) -> dict[str, Any]:
        """The summaries of this worker's shards of `rooms`, by room name."""
        found = await self.rooms.summaries(data["rooms"])
        return {summary["name"]: summary for summary in found}

    async def stats(self, data: dict[str, Any]) -> dict[str, Any]:
        rooms = list(self.directory.rooms.values())
        return {
            "id": self.settings.id,
            "rooms": [room.name for room in rooms],
            "legs": sum(len(room.participants) for room in rooms),
            "cpu_seconds": time.process_time(),
            "ticks": sum(room.clock.ticks for room in rooms),
            "late_ticks": sum(room.clock.late_ticks for room in rooms),
            "link_rejected": self.links_rejected + sum(x.rejected for x in self.links.values()),
            "nice": os.getpriority(os.PRIO_PROCESS, 0),
        }

    async def metrics(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        rooms = list(self.directory.rooms.values())
        return [room_snapshot(room, self.timings).to_json() for room in rooms]

    async def start(self) -> None:
        await self.recording_video.start()
        await self.recording_composite.start()
        self._housekeeping = asyncio.get_running_loop().create_task(self._every_second())

    async def _every_second(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self._recorded_cameras()
            except Exception:  # a bug here must not end the housekeeping for good
                log.exception("bringing recorded cameras' video failed")

    async def _recorded_cameras(self) -> None:
        """Cameras of recorded rooms: their video comes from control, to be recorded here."""
        cameras = [
            participant.id
            for live in self.recorder.live_recordings()
            for participant in list(live.room.participants.values())
            if participant.endpoint.kind == "video"
        ]
        await self.video.ensure_quietly(cameras)
        self.video.release_unwatched(keep=set(cameras))

    async def stop(self, data: dict[str, Any] | None = None) -> None:
        if self._stopping:  # asked by control, then again as the channel closed
            await self.stopped.wait()
            return
        self._stopping = True
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        await self.recorder.stop_all("server-stopping")  # sealed while the rooms are whole
        await self.recording_video.stop()
        await self.recording_composite.stop()
        for links in self.links.values():
            links.close()
        await self.directory.stop()
        await self.peers.stop()
        self.stopped.set()

    def _frame(self, frame: MediaFrame) -> None:
        if frame.kind == FrameKind.AUDIO:
            self.sources.frame(frame)
        else:
            self.video.frame(frame)

    def _notified(self, message: Notification) -> None:
        notice = self.notices.get(message.event)
        if notice is not None:
            notice(message.data)

    def _forward_event(self, event: Event) -> None:
        if event.type == "participant.left" and event.data.get("reason") != MOVED:
            self.sip_legs.left(event.data["participant"])
            self.sources.left(event.data["participant"])
        if event.type in _HOME_ONLY and not self.home.get(event.room or "", True):
            return
        self.channel.notify(
            "event", type=event.type, room=event.room, at=iso8601(event.at), data=event.data
        )


async def serve(settings: WorkerSettings, channel_fd: int, data_fd: int | None) -> None:
    sock = socket.socket(fileno=channel_fd)
    channel = await Channel.over(sock, f"worker-{settings.id}")
    data = None
    if data_fd is not None:
        data = await DataPath.over(socket.socket(fileno=data_fd), f"worker-{settings.id}-data")
    worker = Worker(settings, channel, data)
    await worker.start()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(worker.stop()))
    gc.collect()
    gc.freeze()
    channel.notify(READY, id=settings.id)
    ends: set[asyncio.Future[Any]] = {
        asyncio.ensure_future(asyncio.shield(channel.closed)),
        asyncio.ensure_future(worker.stopped.wait()),
    }
    await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
    if not worker.stopped.is_set():
        await worker.stop()  # control went away: hang up our legs before we go
    channel.close()
    if data is not None:
        data.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mediacore-worker")
    parser.add_argument("--channel-fd", type=int, required=True)
    # The data path (mediacore.datapath): the video of the worker's WebRTC peers, both ways.
    parser.add_argument("--data-fd", type=int)
    parser.add_argument("--name", default="worker")
    parser.add_argument("--settings", required=True, help="WorkerSettings as JSON")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--log-format", default="json")
    args = parser.parse_args(argv)
    from mediacore.server.logs import setup_logging

    setup_logging(args.log_level, args.log_format)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches control, which stops us
    die_with_parent()
    settings = WorkerSettings(**json.loads(args.settings))
    renice(settings.nice)  # before any thread exists: they all inherit it
    install_uvloop()
    sys.setswitchinterval(0.001)
    asyncio.run(serve(settings, args.channel_fd, args.data_fd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
