"""The server's LED walls: definitions kept on disk, painted in video processes, fed by the hub.

Each wall is painted in a video process of its own (mediacore.server.videoworker, at a lower
CPU priority): its decoders, painter and encoders run there, so a 4K encode never competes
with an audio clock on equal terms and an FFmpeg crash ends only that process. This service
keeps what the server knows: the definitions, the rooms and the video hub. Five times a second
it tells every wall's process what its room looks like now (video participants in join order,
the active speaker, the floor holder, names) and which sources exist; the process answers with
the sources it decodes (`video.wanted`), and the service forwards exactly those sources'
packets to it over its data path, through a packet tap on the hub. A source no wall shows is
not forwarded, nor decoded.

A PUT that changes only the layout switches it live (same encoders, same connections); one that
changes the canvas, the outputs or the room restarts the wall in its process. A WHEP output is
a video source in the hub (`wall-<name>-<n>`) fed with the packets its process encodes:
browsers play it with the room's WHEP endpoint, as they play a camera. A wall process that
dies is started again and given its wall back: the outputs reconnect, and meanwhile the hub's
WHEP sources stay, so players resume at the next keyframe. Definitions live in `walls.json` in
the data directory and come back after a restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from mediacore.channel import Notification
from mediacore.channelio import RequestFailed
from mediacore.datapath import MediaFrame, video
from mediacore.events import EventBus
from mediacore.server.children import ChildProcess
from mediacore.server.roomscenes import RoomScenes
from mediacore.server.walltours import WallTours, wall_tours
from mediacore.videohub import TIME_BASE, PacketTap, VideoHub, VideoSource
from mixer.layout import Wall, parse_wall
from mixer.walltransport import RtpStart, new_rtp_start, rtp_sdp

log = logging.getLogger(__name__)

WALLS_FILE = "walls.json"
RECONCILE_INTERVAL_S = 0.2
STATUS_TIMEOUT_S = 2.0
STATS_TIMEOUT_S = 1.0
PROCESS_LOST = "the wall's video process stopped"
OUTPUT_FAILED = "the output could not reach its receiver"
# How far ahead of its last reported packet a restarted rtp output starts: more than the
# packets of the half second between reports at the highest bit rate (about 1,700), far less
# than the half of the sequence space a receiver would take for old packets.
RTP_SEQ_AHEAD = 5000
_WALL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")

# Makes the (not yet started) video process of a wall, given its process name.
ProcessFactory = Callable[[str], ChildProcess]


def is_wall_name(name: str) -> bool:
    return _WALL_NAME.fullmatch(name) is not None


def whep_source_id(wall: str, index: int) -> str:
    return f"wall-{wall}-{index}"


class _Running:
    """A wall as defined (the JSON the user sent), its process, and what feeds it."""

    def __init__(
        self, name: str, definition: dict[str, Any], wall: Wall, process: ChildProcess
    ) -> None:
        self.name = name
        self.definition = definition
        self.wall = wall
        self.process = process
        self.whep: dict[int, VideoSource] = {}
        self.speaker: str | None = None
        self.wanted: frozenset[str] = frozenset()  # the sources its process decodes
        self.taps: dict[str, tuple[VideoSource, Callable[[], None]]] = {}
        self.status: dict[str, Any] | None = None  # the last status its process gave
        self.rtp: dict[int, RtpStart] = {}  # where each rtp output goes on from
        self.statistics: dict[str, Any] = {}  # the last `video.stats`


class WallService:
    def __init__(
        self,
        data_dir: Path,
        scenes: RoomScenes,
        hub: VideoHub,
        bus: EventBus,
        new_process: ProcessFactory,
    ) -> None:
        self._file = data_dir / WALLS_FILE
        self._scenes = scenes
        self._hub = hub
        self._bus = bus
        self._new_process = new_process
        self._walls: dict[str, _Running] = {}
        self._task: asyncio.Task[None] | None = None
        self.tours = WallTours(bus)  # 轮巡: tiles cycling through sources

    # -- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        for name, definition in self._load().items():
            try:
                await self.put(name, definition, persist=False)
            except ValueError as error:
                log.warning("wall %s in %s not started: %s", name, self._file, error)
        self._task = asyncio.get_running_loop().create_task(self._reconcile_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.gather(*(self._stop_wall(name) for name in list(self._walls)))

    # -- what the API calls ---------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted(self._walls)

    def definition(self, name: str) -> dict[str, Any] | None:
        """Wall `name`'s definition as last PUT (a copy), None if there is no such wall."""
        running = self._walls.get(name)
        return json.loads(json.dumps(running.definition)) if running is not None else None

    def process(self, name: str) -> ChildProcess:
        """The video process of wall `name`. Raises KeyError."""
        return self._walls[name].process

    async def describe(self, name: str) -> dict[str, Any]:
        """The definition as given plus its running status, asked of its process (the last
        known one while the process restarts). Raises KeyError."""
        running = self._walls[name]
        try:
            status = await running.process.request(
                "wall.status", timeout=STATUS_TIMEOUT_S, name=name
            )
            running.status = status
        except (ConnectionError, TimeoutError, RequestFailed):
            status = _stale_status(running)
        status = json.loads(json.dumps(status))  # ours to annotate
        for index, output in enumerate(running.wall.outputs):
            entry = status["outputs"][index]
            if output.kind == "rtp":
                entry["sdp"] = f"/api/v1/walls/{name}/outputs/{index}.sdp"
            if output.kind == "whep":
                entry["whep"] = {"room": running.wall.room, "video": whep_source_id(name, index)}
        process = running.process
        status["process"] = {
            "pid": process.pid,
            "state": process.state,
            "restarts": process.restarts,
        }
        return {**running.definition, "name": name, "status": status}

    async def statistics(self) -> dict[str, dict[str, Any]]:
        """For /metrics: {"walls": runner statistics by name, "decoders": decoder statistics
        by source id (summed over the walls' processes)}."""
        await asyncio.gather(*(self._refresh(r) for r in list(self._walls.values())))
        walls: dict[str, Any] = {}
        decoders: dict[str, dict[str, Any]] = {}
        for running in self._walls.values():
            stats = running.statistics
            walls.update(stats.get("walls", {}))
            for source, counters in stats.get("decoders", {}).items():
                decoders[source] = _summed(decoders.get(source), counters)
        return {"walls": walls, "decoders": decoders}

    async def put(self, name: str, data: Any, *, persist: bool = True) -> bool:
        """Define or change wall `name`; True when it is new. Raises LayoutError (a
        ValueError) with a message for the client, TimeoutError or OSError when its video
        process cannot be started."""
        wall = parse_wall(data)
        tours = wall_tours(data, wall.layout)
        definition = json.loads(json.dumps(data))  # a plain, detached copy
        running = self._walls.get(name)
        created = running is None
        self.tours.set(name, wall.room, tours)  # before its first scene goes out
        if running is None:
            running = await self._start_process(name, definition, wall)
            self._walls[name] = running
            await self._open(running)
        elif _same_but_layout(running.wall, wall):
            running.wall, running.definition = wall, definition
            with contextlib.suppress(ConnectionError):  # restarting: it gets the new one
                await running.process.request("wall.layout", name=name, definition=definition)
        else:
            await self._close(running)
            running.wall, running.definition = wall, definition
            await self._open(running)
        if persist:
            await self._save()
        return created

    async def delete(self, name: str) -> None:
        """Stop and forget wall `name`. Raises KeyError."""
        if name not in self._walls:
            raise KeyError(name)
        await self._stop_wall(name)
        self.tours.drop(name)
        await self._save()

    def sdp(self, name: str, index: int) -> str:
        """The SDP of rtp output `index`. Raises KeyError (no such wall or rtp output)."""
        wall = self._walls[name].wall
        if not 0 <= index < len(wall.outputs) or wall.outputs[index].kind != "rtp":
            raise KeyError(index)
        return self.sdp_text(wall, index)

    @staticmethod
    def sdp_text(wall: Wall, index: int) -> str:
        output = wall.outputs[index]
        assert output.url is not None
        _, _, w, h = output.region
        return rtp_sdp(output.url, w, h, wall.canvas.fps)

    # -- a wall's process -----------------------------------------------------------------

    async def _start_process(self, name: str, definition: dict[str, Any], wall: Wall) -> _Running:
        process = self._new_process(f"wall-{name}")
        running = _Running(name, definition, wall, process)
        process.on_notification = lambda message: self._notified(running, message)
        process.on_frame = lambda frame: self._whep_frame(running, frame)
        process.on_drop = self._request_keyframe
        process.on_lost = lambda: self._lost(running)
        process.on_restart = lambda: self._restarted(running)
        await process.start()
        return running

    async def _stop_wall(self, name: str) -> None:
        running = self._walls.pop(name)
        self._untap(running)
        for source in running.whep.values():
            source.close()
        running.whep.clear()
        await running.process.stop()
        log.info("wall stopped", extra={"wall": name})

    async def _open(self, running: _Running) -> None:
        """Register the wall's WHEP sources and start it in its process."""
        name, wall = running.name, running.wall
        for index, output in enumerate(wall.outputs):
            if output.kind == "whep":
                # watched from its room's WHEP endpoint, by that room's participants only
                source = VideoSource(whep_source_id(name, index), "H264", room=wall.room)
                self._hub.register_source(source)
                source.keyframe_requester = self._whep_keyframe(running, index)
                running.whep[index] = source
        self._write_sdp_files(name, wall)
        await self._start_in_process(running)
        log.info("wall started", extra={"wall": name, "outputs": len(wall.outputs)})

    async def _start_in_process(self, running: _Running) -> None:
        whep = {str(index): source.id for index, source in running.whep.items()}
        for index, output in enumerate(running.wall.outputs):
            if output.kind == "rtp" and index not in running.rtp:
                running.rtp[index] = new_rtp_start()
        rtp = {str(i): {"ssrc": s.ssrc, "seq": s.seq} for i, s in running.rtp.items()}
        try:
            await running.process.request(
                "wall.start",
                name=running.name,
                definition=running.definition,
                whep=whep,
                rtp=rtp,
            )
        except ConnectionError:
            return  # restarting: `_restarted` starts it
        self._send_scene(running, self._sources(), self._names())

    async def _close(self, running: _Running) -> None:
        """Stop the wall in its process (which stays) and drop its taps and WHEP sources."""
        with contextlib.suppress(ConnectionError):
            await running.process.request("wall.stop", name=running.name)
        self._untap(running)
        for source in running.whep.values():
            source.close()
        running.whep.clear()
        running.status = None
        running.rtp.clear()  # new outputs: new streams

    def _lost(self, running: _Running) -> None:
        log.error("wall process lost", extra={"wall": running.name})
        self._untap(running)
        # packets sent after the last report are unknown: go on well ahead of it (a receiver
        # drops packets that seem older than the last it took, and skips a gap ahead)
        for index, start in running.rtp.items():
            running.rtp[index] = RtpStart(start.ssrc, (start.seq + RTP_SEQ_AHEAD) & 0xFFFF)
        for index, output in enumerate(running.wall.outputs):
            self._bus.publish(
                "wall.output",
                running.wall.room,
                wall=running.name,
                output=index,
                kind=output.kind,
                state="reconnecting",
                reason=PROCESS_LOST,
            )

    async def _restarted(self, running: _Running) -> None:
        if self._walls.get(running.name) is running:
            await self._start_in_process(running)

    def _notified(self, running: _Running, message: Notification) -> None:
        data = message.data
        if message.event == "video.wanted":
            running.wanted = frozenset(str(s) for s in data.get("sources", ()))
            self._retap(running, self._sources())
        elif message.event == "wall.rtp":
            for index, seq in dict(data.get("outputs", {})).items():
                start = running.rtp.get(int(index))
                if start is not None:
                    running.rtp[int(index)] = RtpStart(start.ssrc, (int(seq) + 1) & 0xFFFF)
        elif message.event == "source.keyframe":
            self._request_keyframe(str(data.get("source")))
        elif message.event == "wall.output":
            self._bus.publish(
                "wall.output",
                running.wall.room,
                wall=running.name,
                output=data.get("output"),
                kind=data.get("kind"),
                state=data.get("state"),
                # every room reader sees it: the network's words stay in the wall's log and
                # its status for admins (they would make outputs a port scanner)
                reason=OUTPUT_FAILED if data.get("reason") else "",
            )

    async def _refresh(self, running: _Running) -> None:
        try:
            running.statistics = await running.process.request(
                "video.stats", timeout=STATS_TIMEOUT_S
            )
        except (ConnectionError, TimeoutError, RequestFailed):
            pass  # restarting: the last numbers stand

    # -- packets to the walls' processes, and back ----------------------------------------

    def _retap(self, running: _Running, sources: dict[str, VideoSource]) -> None:
        """Tap exactly the live hub sources the process decodes."""
        for sid, (tapped, remove) in list(running.taps.items()):
            if sid not in running.wanted or tapped.closed or sources.get(sid) is not tapped:
                remove()
                del running.taps[sid]
        for sid in running.wanted:
            source = sources.get(sid)
            if sid in running.taps or source is None or running.process.state != "running":
                continue
            running.taps[sid] = (source, source.add_tap(self._tap(running, source)))
            source.request_keyframe()  # its decoder starts at a keyframe: do not wait a GOP

    def _untap(self, running: _Running) -> None:
        for _source, remove in running.taps.values():
            remove()
        running.taps.clear()
        running.wanted = frozenset()

    @staticmethod
    def _tap(running: _Running, source: VideoSource) -> PacketTap:
        process, sid = running.process, source.id

        def tap(packet: av.Packet[Any], keyframe: bool) -> None:
            pts = int(packet.pts) if packet.pts is not None else None
            process.send(video(sid, source.codec_name, bytes(packet), pts, keyframe))

        return tap

    def _whep_frame(self, running: _Running, frame: MediaFrame) -> None:
        for source in running.whep.values():
            if source.id == frame.source:
                packet = av.Packet(frame.payload)
                packet.pts, packet.time_base = frame.pts, TIME_BASE
                source.push(packet, frame.keyframe)
                return

    @staticmethod
    def _whep_keyframe(running: _Running, index: int) -> Callable[[], None]:
        def request() -> None:
            running.process.notify("wall.keyframe", name=running.name, output=index)

        return request

    def _request_keyframe(self, source_id: str) -> None:
        with contextlib.suppress(KeyError):
            self._hub.get(source_id).request_keyframe()

    # -- keeping walls in step with rooms -------------------------------------------------

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(RECONCILE_INTERVAL_S)
            try:
                self._reconcile()
            except Exception:
                log.exception("walls failed to follow their rooms")

    def _reconcile(self) -> None:
        sources, names = self._sources(), self._names()
        for running in self._walls.values():
            self._send_scene(running, sources, names)
            self._retap(running, sources)

    def _sources(self) -> dict[str, VideoSource]:
        return {s.id: s for s in self._hub.all()}

    def _names(self) -> dict[str, str]:
        return self._scenes.names()

    def _send_scene(
        self, running: _Running, sources: dict[str, VideoSource], names: dict[str, str]
    ) -> None:
        shown, speaker, floor = self._scene(running, sources)
        toured = self.tours.shown(running.name, names)
        running.process.notify(
            "wall.scene",
            name=running.name,
            sources=list(shown),
            speaker=speaker,
            floor=floor,
            names={sid: names[sid] for sid in (*shown, *toured.values()) if sid in names},
            tours={str(slot): source for slot, source in toured.items()},
            available={sid: source.codec_name for sid, source in sources.items()},
        )

    def _scene(
        self, running: _Running, sources: dict[str, VideoSource]
    ) -> tuple[tuple[str, ...], str | None, str | None]:
        """(sources shown in join order, the active speaker, the floor holder)."""
        room_name = running.wall.room
        room = self._scenes.get(room_name) if room_name else None
        if room is None:
            # no room: every participant's video, nobody speaks or holds the floor
            return tuple(s.id for s in sources.values() if s.participant_id is not None), None, None
        members = room.members
        shown = tuple(pid for pid in members if pid in sources)
        loudest = room.loudest()
        if loudest is not None:
            running.speaker = loudest
        elif running.speaker not in members:
            running.speaker = None  # the last speaker left; until someone talks: nobody
        return shown, running.speaker, room.floor

    # -- files ----------------------------------------------------------------------------

    def _write_sdp_files(self, name: str, wall: Wall) -> None:
        """`<data dir>/walls/<wall>-<n>.sdp` for each rtp output: what a receiver on this host
        (or a copy on the LED controller) opens."""
        folder = self._file.parent / "walls"
        for index, output in enumerate(wall.outputs):
            if output.kind != "rtp":
                continue
            try:
                folder.mkdir(exist_ok=True)
                (folder / f"{name}-{index}.sdp").write_text(self.sdp_text(wall, index))
            except OSError as error:
                log.warning("cannot write the SDP file of wall %s: %s", name, error)

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self._file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.warning("ignoring unreadable %s: %s", self._file, error)
            return {}
        return data if isinstance(data, dict) else {}

    async def _save(self) -> None:
        data = {name: running.definition for name, running in self._walls.items()}
        text = json.dumps(data, indent=2, ensure_ascii=False)
        await asyncio.to_thread(self._write, text)

    def _write(self, text: str) -> None:
        tmp = self._file.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self._file)  # a crash leaves the old file or the new, never half


def _same_but_layout(old: Wall, new: Wall) -> bool:
    return (old.canvas, old.outputs, old.room) == (new.canvas, new.outputs, new.room)


def _stale_status(running: _Running) -> dict[str, Any]:
    """What is known of a wall whose process does not answer: its last status (or zeros),
    every output reconnecting."""
    status = running.status or {
        "frames_painted": 0,
        "ticks_missed": 0,
        "layout_switches": 0,
        "paint_ms_p50": None,
        "paint_ms_p99": None,
        "outputs": [
            {
                "kind": output.kind,
                "region": list(output.region),
                "frames_sent": 0,
                "frames_dropped": 0,
                "frames_late": 0,
                "reconnects": 0,
                "send_ms_p50": None,
                "send_ms_p99": None,
            }
            for output in running.wall.outputs
        ],
        "tiles": [],
        "decoders": {},
    }
    status = json.loads(json.dumps(status))
    for output in status["outputs"]:
        output["state"], output["reason"] = "reconnecting", PROCESS_LOST
    return status


def _summed(total: dict[str, Any] | None, counters: dict[str, Any]) -> dict[str, Any]:
    """Two processes' statistics of one source's decoders: numbers added, the rest kept."""
    if total is None:
        return dict(counters)
    return {
        key: total.get(key, 0) + value
        if isinstance(value, int) and not isinstance(value, bool)
        else value
        for key, value in counters.items()
    }
