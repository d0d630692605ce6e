"""The LED walls a video process paints for the server: compositor, decoders, painters, encoders.

The server keeps the definitions, the rooms and the video hub; this process keeps the FFmpeg
work. Requests on the channel:

    wall.start   {name, definition, whep: {output index: source id},
                  rtp: {output index: {ssrc, seq}}}                     start painting
    wall.layout  {name, definition}                                     switch the layout live
    wall.stop    {name}
    wall.status  {name}   runner statistics, tiles, and the decoders of its sources

and notifications from the server: `wall.scene` {name, sources, speaker, floor, names,
available: {source id: codec}} five times a second (what the room looks like, which sources
exist), and `wall.keyframe` {name, output} (a WHEP player joined). Encoded packets of the
sources arrive on the data path; the compositor decodes each once and hands the pictures to
every wall here that shows it.

Back to the server: `video.wanted` {sources} whenever the set of sources decoded here changes
(the server then forwards exactly those), `source.keyframe` {source} when a decoder must
restart at a keyframe, `wall.output` {wall, output, kind, state, reason} for each output state
change, `wall.rtp` {name, outputs: {output index: last sequence number}} twice a second (so
that a restarted wall's rtp outputs go on ahead of where they were), and, on the data path,
the encoded packets of each WHEP output under its source id."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from mediacore.channel import Notification
from mediacore.channelio import Channel
from mediacore.datapath import FrameKind, MediaFrame, video
from mediacore.datapathio import DataPath
from mixer.compositor import Compositor
from mixer.layout import Wall, parse_wall
from mixer.wall import Scene, WallRunner
from mixer.wallout import OutputState, WallOutput
from mixer.walltransport import ContainerTransport, PacketTransport, RtpStart, WallTransport

log = logging.getLogger(__name__)

RTP_REPORT_INTERVAL = 0.5


@dataclass(slots=True)
class _Hosted:
    wall: Wall
    runner: WallRunner


class WallHost:
    """The walls of this process and the decoders they share."""

    def __init__(self, channel: Channel, data: DataPath) -> None:
        self.compositor = Compositor()
        self._channel = channel
        self._data = data
        self._loop = asyncio.get_running_loop()
        self._walls: dict[str, _Hosted] = {}
        self._available: dict[str, str] = {}
        self._decoding: list[str] = []
        self._reports: asyncio.Task[None] | None = None
        channel.handlers.update(
            {
                "wall.start": self.start_wall,
                "wall.layout": self.set_layout,
                "wall.stop": self.stop_wall,
                "wall.status": self.status,
            }
        )

    def __len__(self) -> int:
        return len(self._walls)

    # -- requests -------------------------------------------------------------------------

    async def start_wall(self, data: dict[str, Any]) -> None:
        name = str(data["name"])
        if name in self._walls:
            await self.stop_wall({"name": name})
        wall = parse_wall(data["definition"])
        whep = {int(index): str(source) for index, source in dict(data.get("whep", {})).items()}
        rtp = {
            int(index): RtpStart(int(start["ssrc"]), int(start["seq"]))
            for index, start in dict(data.get("rtp", {})).items()
        }
        transports: list[WallTransport] = []
        for index, output in enumerate(wall.outputs):
            _, _, w, h = output.region
            if output.kind == "whep":
                sink = self._whep_sink(whep.get(index, f"wall-{name}-{index}"))
                transports.append(PacketTransport(sink, w, h, wall.canvas.fps))
            else:
                assert output.url is not None
                transport = ContainerTransport(
                    output.kind, output.url, w, h, wall.canvas.fps, rtp_start=rtp.get(index)
                )
                transports.append(transport)
        runner = WallRunner(name, wall, transports, on_output_state=self._output_state(name))
        self._walls[name] = _Hosted(wall, runner)
        self.compositor.add(name, runner)
        if self._reports is None:
            self._reports = self._loop.create_task(self._report_forever())
        log.info("wall started", extra={"wall": name, "outputs": len(wall.outputs)})

    async def set_layout(self, data: dict[str, Any]) -> None:
        hosted = self._walls[str(data["name"])]
        wall = parse_wall(data["definition"])
        hosted.runner.set_layout(wall.layout)
        hosted.wall = wall

    async def stop_wall(self, data: dict[str, Any]) -> None:
        name = str(data["name"])
        hosted = self._walls.pop(name, None)
        if hosted is None:
            return
        self.compositor.remove(name)
        await asyncio.to_thread(hosted.runner.stop)
        self._sync()
        log.info("wall stopped", extra={"wall": name})

    async def status(self, data: dict[str, Any]) -> dict[str, Any]:
        """The runner's statistics plus `tiles` and `decoders` (of the sources it shows).
        Raises KeyError for a wall not here."""
        runner = self._walls[str(data["name"])].runner
        status = runner.statistics()
        status["tiles"] = [
            {"x": t.x, "y": t.y, "w": t.w, "h": t.h, "source": t.source_id, "label": t.label}
            for t in runner.tiles
        ]
        status["decoders"] = {
            sid: stats
            for sid, stats in self.compositor.pool.statistics().items()
            if sid in runner.wanted
        }
        return status

    def statistics(self) -> dict[str, Any]:
        return {
            "walls": {name: h.runner.statistics() for name, h in self._walls.items()},
            "decoders": self.compositor.pool.statistics(),
        }

    async def stop(self) -> None:
        if self._reports is not None:
            self._reports.cancel()
        for name in list(self._walls):
            await self.stop_wall({"name": name})
        self.compositor.close()

    async def _report_forever(self) -> None:
        while True:
            await asyncio.sleep(RTP_REPORT_INTERVAL)
            for name, hosted in self._walls.items():
                sent = {
                    str(output.index): output.transport.last_seq
                    for output in hosted.runner.outputs
                    if isinstance(output.transport, ContainerTransport)
                    and output.transport.last_seq is not None
                }
                if sent:
                    self._channel.notify("wall.rtp", name=name, outputs=sent)

    # -- notifications and frames from the server ----------------------------------------

    def notified(self, message: Notification) -> bool:
        """Handle a `wall.*` notification; False when it is not one of ours."""
        data = message.data
        if message.event == "wall.scene":
            hosted = self._walls.get(str(data.get("name")))
            self._available = {str(k): str(v) for k, v in dict(data["available"]).items()}
            if hosted is not None:
                hosted.runner.set_scene(
                    Scene(
                        tuple(str(s) for s in data["sources"]),
                        data.get("speaker"),
                        data.get("floor"),
                        {str(k): str(v) for k, v in dict(data["names"]).items()},
                        {int(k): str(v) for k, v in dict(data.get("tours") or {}).items()},
                    )
                )
            self._sync()
            return True
        if message.event == "wall.keyframe":
            hosted = self._walls.get(str(data.get("name")))
            output = int(data.get("output", -1))
            if hosted is not None and 0 <= output < len(hosted.runner.outputs):
                hosted.runner.outputs[output].request_keyframe()
            return True
        return False

    def frame(self, frame: MediaFrame) -> None:
        """A source's encoded packet from the server."""
        if frame.kind == FrameKind.VIDEO:
            codec = frame.codec or self._available.get(frame.source, "")
            self.compositor.feed(frame.source, codec, frame.payload, frame.keyframe)

    # -- keeping the decoders in step ------------------------------------------------------

    def follow(self, available: dict[str, str] | None = None) -> None:
        """The sources that exist now (id -> codec; None: as last told), for pictures other
        than walls that this process's compositor feeds (conferences): open and close
        decoders for what every picture shows now."""
        if available is not None:
            self._available = available
        self._sync()

    def _sync(self) -> None:
        """Open and close decoders for what the walls show now; tell the server when the set
        changed, so that it forwards exactly those sources."""
        self.compositor.sync_sources(self._available, self._request_keyframe)
        decoding = sorted(self.compositor.pool.source_ids)
        if decoding != self._decoding:
            self._decoding = decoding
            self._channel.notify("video.wanted", sources=decoding)

    def _request_keyframe(self, source_id: str) -> None:
        def request() -> None:
            self._channel.notify("source.keyframe", source=source_id)

        with contextlib.suppress(RuntimeError):  # decoders call from their own threads
            self._loop.call_soon_threadsafe(request)

    def _whep_sink(self, source_id: str) -> Any:
        def sink(data: bytes, pts: int, keyframe: bool) -> None:  # on the output's thread
            self._data.send_threadsafe(video(source_id, "H264", data, pts, keyframe))

        return sink

    def _output_state(self, name: str) -> Any:
        def publish(output: WallOutput, state: OutputState, reason: str) -> None:
            self._channel.notify(
                "wall.output",
                wall=name,
                output=output.index,
                kind=output.output.kind,
                state=state,
                reason=reason,
            )

        def callback(output: WallOutput, state: OutputState, reason: str) -> None:
            with contextlib.suppress(RuntimeError):  # on the output's thread
                self._loop.call_soon_threadsafe(publish, output, state, reason)

        return callback
