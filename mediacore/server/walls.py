"""The server's LED walls: definitions kept on disk, painted by the compositor, fed by the hub.

Each wall runs a `mixer.wall.WallRunner`. Five times a second this service tells every wall
what its room looks like now (video participants in join order, the active speaker, the floor
holder, names) and lets the compositor open a decoder, through a packet tap on the video hub,
for each source some wall shows; a source no wall shows is not decoded at all.

A PUT that changes only the layout switches it live (same encoders, same connections); one that
changes the canvas, the outputs or the room restarts the wall. A WHEP output is a video source
in the hub (`wall-<name>-<n>`): browsers play it with the room's WHEP endpoint, as they play a
camera. Definitions live in `walls.json` in the data directory and come back after a restart."""

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

from mediacore.events import EventBus
from mediacore.room import Room
from mediacore.server.directory import RoomDirectory
from mediacore.videohub import TIME_BASE, PacketTap, VideoHub, VideoSource
from mixer.compositor import Compositor
from mixer.layout import Wall, parse_wall
from mixer.wall import Scene, WallRunner
from mixer.wallout import OutputState, WallOutput
from mixer.walltransport import (
    ContainerTransport,
    PacketTransport,
    WallTransport,
    rtp_sdp,
)

log = logging.getLogger(__name__)

WALLS_FILE = "walls.json"
RECONCILE_INTERVAL_S = 0.2
_WALL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def is_wall_name(name: str) -> bool:
    return _WALL_NAME.fullmatch(name) is not None


def whep_source_id(wall: str, index: int) -> str:
    return f"wall-{wall}-{index}"


class _Running:
    """A wall as defined (the JSON the user sent) and as running."""

    def __init__(self, definition: dict[str, Any], wall: Wall, runner: WallRunner) -> None:
        self.definition = definition
        self.wall = wall
        self.runner = runner
        self.whep: dict[int, VideoSource] = {}
        self.speaker: str | None = None


class WallService:
    def __init__(
        self, data_dir: Path, directory: RoomDirectory, hub: VideoHub, bus: EventBus
    ) -> None:
        self.compositor = Compositor()
        self._file = data_dir / WALLS_FILE
        self._directory = directory
        self._hub = hub
        self._bus = bus
        self._walls: dict[str, _Running] = {}
        self._taps: dict[str, Callable[[], None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for name, definition in self._load().items():
            try:
                await self.put(name, definition, persist=False)
            except ValueError as error:
                log.warning("wall %s in %s not started: %s", name, self._file, error)
        self._task = self._loop.create_task(self._reconcile_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for name in list(self._walls):
            await self._stop_wall(name)
        for remove in self._taps.values():
            remove()
        self._taps.clear()
        self.compositor.close()

    # -- what the API calls ---------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted(self._walls)

    def describe(self, name: str) -> dict[str, Any]:
        """The definition as given plus its running status. Raises KeyError."""
        running = self._walls[name]
        status = running.runner.statistics()
        for index, output in enumerate(running.wall.outputs):
            entry = status["outputs"][index]
            if output.kind == "rtp":
                entry["sdp"] = f"/api/v1/walls/{name}/outputs/{index}.sdp"
            if output.kind == "whep":
                entry["whep"] = {"room": running.wall.room, "video": whep_source_id(name, index)}
        status["tiles"] = [
            {"x": t.x, "y": t.y, "w": t.w, "h": t.h, "source": t.source_id, "label": t.label}
            for t in running.runner.tiles
        ]
        status["decoders"] = {
            sid: stats
            for sid, stats in self.compositor.pool.statistics().items()
            if sid in running.runner.wanted
        }
        return {**running.definition, "name": name, "status": status}

    def statistics(self) -> dict[str, dict[str, Any]]:
        """For /metrics: {"walls": runner statistics by name,
        "decoders": decoder statistics by source id}."""
        walls = {name: running.runner.statistics() for name, running in self._walls.items()}
        return {"walls": walls, "decoders": self.compositor.pool.statistics()}

    async def put(self, name: str, data: Any, *, persist: bool = True) -> bool:
        """Define or change wall `name`; True when it is new. Raises LayoutError (a
        ValueError) with a message for the client."""
        wall = parse_wall(data)
        definition = json.loads(json.dumps(data))  # a plain, detached copy
        running = self._walls.get(name)
        created = running is None
        if running is not None and _same_but_layout(running.wall, wall):
            running.runner.set_layout(wall.layout)
            running.wall, running.definition = wall, definition
        else:
            if running is not None:
                await self._stop_wall(name)
            self._start_wall(name, wall, definition)
        if persist:
            await self._save()
        self._reconcile()
        return created

    async def delete(self, name: str) -> None:
        """Stop and forget wall `name`. Raises KeyError."""
        if name not in self._walls:
            raise KeyError(name)
        await self._stop_wall(name)
        await self._save()
        self._reconcile()

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

    # -- running walls --------------------------------------------------------------------

    def _start_wall(self, name: str, wall: Wall, definition: dict[str, Any]) -> None:
        whep: dict[int, VideoSource] = {}
        transports: list[WallTransport] = []
        for index, output in enumerate(wall.outputs):
            _, _, w, h = output.region
            if output.kind == "whep":
                source = self._hub.register_source(VideoSource(whep_source_id(name, index), "H264"))
                transport = PacketTransport(self._whep_sink(source), w, h, wall.canvas.fps)
                source.keyframe_requester = transport.force_keyframe
                whep[index] = source
                transports.append(transport)
            else:
                assert output.url is not None
                transports.append(
                    ContainerTransport(output.kind, output.url, w, h, wall.canvas.fps)
                )
        self._write_sdp_files(name, wall)
        runner = WallRunner(
            name, wall, transports, on_output_state=self._output_state_callback(name, wall)
        )
        running = _Running(definition, wall, runner)
        running.whep = whep
        self._walls[name] = running
        self.compositor.add(name, runner)
        log.info("wall started", extra={"wall": name, "outputs": len(wall.outputs)})

    async def _stop_wall(self, name: str) -> None:
        running = self._walls.pop(name)
        self.compositor.remove(name)
        await asyncio.to_thread(running.runner.stop)
        for source in running.whep.values():
            source.close()
        log.info("wall stopped", extra={"wall": name})

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

    def _whep_sink(self, source: VideoSource) -> Callable[[bytes, int, bool], None]:
        loop = self._loop

        def push(data: bytes, pts: int, keyframe: bool) -> None:
            packet = av.Packet(data)
            packet.pts, packet.time_base = pts, TIME_BASE
            source.push(packet, keyframe)

        def sink(data: bytes, pts: int, keyframe: bool) -> None:  # on the output's thread
            if loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop closed: shutting down
                    loop.call_soon_threadsafe(push, data, pts, keyframe)

        return sink

    def _output_state_callback(
        self, name: str, wall: Wall
    ) -> Callable[[WallOutput, OutputState, str], None]:
        loop = self._loop

        def publish(output: WallOutput, state: OutputState, reason: str) -> None:
            self._bus.publish(
                "wall.output",
                wall.room,
                wall=name,
                output=output.index,
                kind=output.output.kind,
                state=state,
                reason=reason,
            )

        def callback(output: WallOutput, state: OutputState, reason: str) -> None:
            if loop is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(publish, output, state, reason)

        return callback

    # -- keeping walls in step with rooms -------------------------------------------------

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(RECONCILE_INTERVAL_S)
            try:
                self._reconcile()
            except Exception:
                log.exception("walls failed to follow their rooms")

    def _reconcile(self) -> None:
        sources = {s.id: s for s in self._hub.all()}
        names = {
            p.id: p.name or p.id
            for room in self._directory.rooms.values()
            for p in room.participants.values()
        }
        for running in self._walls.values():
            running.runner.set_scene(self._scene(running, sources, names))
        opened, closed = self.compositor.sync_sources(sources, self._request_keyframe)
        for sid in closed:
            remove = self._taps.pop(sid, None)
            if remove is not None:
                remove()
        for sid in opened:
            self._taps[sid] = sources[sid].add_tap(self._tap(sources[sid]))

    def _scene(
        self, running: _Running, sources: dict[str, VideoSource], names: dict[str, str]
    ) -> Scene:
        room_name = running.wall.room
        room: Room | None = self._directory.rooms.get(room_name) if room_name else None
        if room is None:
            # no room: every participant's video, nobody speaks or holds the floor
            shown = tuple(s.id for s in sources.values() if s.participant_id is not None)
            return Scene(shown, None, None, names)
        members = room.participants
        shown = tuple(pid for pid in members if pid in sources)
        talking = [p for p in members.values() if p.talking]
        if talking:
            running.speaker = max(talking, key=lambda p: p.level_db).id
        elif running.speaker not in members:
            running.speaker = None  # the last speaker left; until someone talks: nobody
        return Scene(shown, running.speaker, room.floor.holder, names)

    def _tap(self, source: VideoSource) -> PacketTap:
        compositor, sid = self.compositor, source.id

        def tap(packet: av.Packet[Any], keyframe: bool) -> None:
            compositor.feed(sid, source.codec_name, bytes(packet), keyframe)

        return tap

    def _request_keyframe(self, source_id: str) -> None:
        loop = self._loop

        def request() -> None:
            with contextlib.suppress(KeyError):
                self._hub.get(source_id).request_keyframe()

        if loop is not None:  # decoders call from their own threads
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(request)

    # -- persistence ----------------------------------------------------------------------

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
