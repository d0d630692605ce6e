"""Where an upper platform's stream comes from, on the event loop: a device channel below us,
one of our walls or one of our rooms' composed pictures.

`DeviceRelay` INVITEs the device's channel (ingest.gbplatform) to send to a UDP port of ours
and relays its RTP packets as they come, its program stream untouched, with the SSRC the upper
platform asked for. Packets from anywhere but the device, or with another SSRC than the one
its answer agreed, are dropped. `PictureRelay` taps an encoded H.264 picture (a wall's, a
room's) and muxes it into a program stream (ingest.gbpsrtp), starting at a keyframe.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from ingest.gbmediaout import MediaOut, bind_port
from ingest.gbplatform import GbPlatform, GbPlay
from ingest.gbpsrtp import PsRtpPacketizer, with_ssrc
from ingest.ps import PsError

# sink(annexb, pts in 90 kHz or None, keyframe)
PictureSink = Callable[[bytes, int | None, bool], None]
# open_tap(sink) starts feeding `sink` and returns the function that stops it
TapOpener = Callable[[PictureSink], Awaitable[Callable[[], None]]]


class Pictures(Protocol):
    """Our own pictures an upper platform may play: the walls."""

    def walls(self) -> dict[str, bool]:
        """Wall names, each True when it has an encoded picture to give."""
        ...

    def tap(self, wall: str, sink: PictureSink) -> Callable[[], None]:
        """Feed `sink` the wall's encoded H.264 from now on (and ask for a keyframe); returns
        the function that stops it. Raises KeyError for a wall without a picture."""
        ...


class RoomPictures(Protocol):
    """Our rooms' composed conference pictures an upper platform may play."""

    def rooms(self) -> list[str]:
        """The open rooms' names."""
        ...

    async def tap(self, room: str, sink: PictureSink) -> Callable[[], None]:
        """Feed `sink` the room's common composed picture (at the room's size) from now on,
        as a viewer of it; returns the function that stops it and lets the viewer go.
        Raises KeyError for a room not open, OSError or TimeoutError when it cannot start."""
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
        playback: tuple[int, int] | None = None,
        download_speed: int | None = None,
        on_status: Callable[[int], None] | None = None,
    ) -> None:
        """With `playback` (start, end Unix seconds) it plays the device's recording of that
        range (s=Download at `download_speed` when given); `on_status` hears MediaStatus."""
        self.platform = platform
        self.device_id = device_id
        self.channel_id = channel_id
        self.out = out
        self.ssrc = ssrc
        self.bind_host = bind_host
        self.ports = ports
        self.on_end = on_end
        self.playback = playback
        self.download_speed = download_speed
        self.on_status = on_status
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
                playback=self.playback,
                download_speed=self.download_speed,
                on_status=self.on_status,
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


class PictureRelay:
    """An encoded picture muxed to PS for the upper platform; `open_tap` starts the feed."""

    def __init__(self, open_tap: TapOpener, out: MediaOut, ssrc: int) -> None:
        self.open_tap = open_tap
        self.out = out
        self.packetizer = PsRtpPacketizer(ssrc)
        self.frames = 0
        self._started = False
        self._remove: Callable[[], None] | None = None
        self._origin = time.monotonic()

    async def start(self) -> None:
        """Raises what `open_tap` raises (KeyError: no such picture)."""
        self._remove = await self.open_tap(self._frame)

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
