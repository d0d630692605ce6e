"""Where an upper platform's stream comes from, on the event loop: a device channel below us,
or one of our walls.

`DeviceRelay` INVITEs the device's channel (ingest.gbplatform) to send to a UDP port of ours
and relays its RTP packets as they come, its program stream untouched, with the SSRC the upper
platform asked for. Packets from anywhere but the device, or with another SSRC than the one
its answer agreed, are dropped. `WallRelay` taps a wall's encoded H.264 picture and muxes it
into a program stream (ingest.gbpsrtp), starting at a keyframe.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Protocol

from ingest.gbmediaout import MediaOut, bind_port
from ingest.gbplatform import GbPlatform, GbPlay
from ingest.gbpsrtp import PsRtpPacketizer, with_ssrc
from ingest.ps import PsError

# sink(annexb, pts in 90 kHz or None, keyframe)
PictureSink = Callable[[bytes, int | None, bool], None]


class Pictures(Protocol):
    """Our own pictures an upper platform may play: the walls."""

    def walls(self) -> dict[str, bool]:
        """Wall names, each True when it has an encoded picture to give."""
        ...

    def tap(self, wall: str, sink: PictureSink) -> Callable[[], None]:
        """Feed `sink` the wall's encoded H.264 from now on (and ask for a keyframe); returns
        the function that stops it. Raises KeyError for a wall without a picture."""
        ...


class DeviceRelay:
    def __init__(
        self,
        platform: GbPlatform,
        device_id: str,
        channel_id: str,
        out: MediaOut,
        ssrc: int,
        *,
        bind_host: str,
        ports: tuple[int, int],
        on_end: Callable[[str], None],
    ) -> None:
        self.platform = platform
        self.device_id = device_id
        self.channel_id = channel_id
        self.out = out
        self.ssrc = ssrc
        self.bind_host = bind_host
        self.ports = ports
        self.on_end = on_end
        self.play: GbPlay | None = None
        self.relayed = 0
        self.refused = 0
        self._udp: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        """INVITE the device and relay from now on. Raises GbPlayError or OSError."""
        sock = bind_port(socket.SOCK_DGRAM, self.bind_host, self.ports)
        try:
            self.play = await self.platform.play(
                self.device_id,
                self.channel_id,
                port=sock.getsockname()[1],
                transport="udp",
                on_bye=lambda: self.on_end("the device ended the stream"),
            )
        except BaseException:
            sock.close()
            raise
        self._udp, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Datagrams(self._received), sock=sock
        )

    def _received(self, data: bytes, source: tuple[str, int]) -> None:
        play = self.play
        if play is None or source[0] not in play.media_hosts or len(data) < 12:
            self.refused += 1
            return
        if int.from_bytes(data[8:12], "big") != play.ssrc:
            self.refused += 1
            return
        packet = with_ssrc(data, self.ssrc)
        if packet is not None:
            self.out.send(packet)
            self.relayed += 1

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self.play is not None:
            await self.platform.stop_play(self.play)


class WallRelay:
    def __init__(self, pictures: Pictures, wall: str, out: MediaOut, ssrc: int) -> None:
        self.pictures = pictures
        self.wall = wall
        self.out = out
        self.packetizer = PsRtpPacketizer(ssrc)
        self.frames = 0
        self._started = False
        self._remove: Callable[[], None] | None = None
        self._origin = time.monotonic()

    async def start(self) -> None:
        """Raises KeyError for a wall without a picture."""
        self._remove = self.pictures.tap(self.wall, self._frame)

    def _frame(self, annexb: bytes, pts: int | None, keyframe: bool) -> None:
        if not self._started and not keyframe:
            return  # an upper platform's decoder starts at a keyframe
        self._started = True
        if pts is None:
            pts = int((time.monotonic() - self._origin) * 90000)
        try:
            packets = self.packetizer.packets(annexb, pts)
        except PsError:
            return  # an oversized frame: skip it
        for packet in packets:
            self.out.send(packet)
        self.frames += 1

    async def stop(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, received: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.received = received

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received(data, addr)
