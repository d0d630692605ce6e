"""Sending a stream's RTP packets to an upper platform, on the event loop: UDP datagrams, or
RFC 4571 framed over TCP where we connect (the upper platform's `a=setup:passive`) or where we
listen and it connects (its `a=setup:active`), from a port of the RTP range.

A TCP peer that does not keep up loses packets rather than stalling the loop: past
MAX_BUFFERED bytes waiting to be written, packets are dropped (counted in `dropped`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Callable

from ingest.rtpframing import frame

log = logging.getLogger(__name__)

MAX_BUFFERED = 2 * 1024 * 1024
CONNECT_TIMEOUT = 10.0


def bind_port(kind: int, host: str, ports: tuple[int, int]) -> socket.socket:
    """A socket of `kind` (SOCK_DGRAM or SOCK_STREAM) bound to a free even port of the range.
    Raises OSError when none is free."""
    low, high = ports
    low += low % 2
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    count = max(1, (high - low) // 2)
    start = random.randrange(count)
    for index in range(min(count, 200)):
        sock = socket.socket(family, kind)
        try:
            sock.bind((host, low + 2 * ((start + index) % count)))
        except OSError:
            sock.close()
            continue
        sock.setblocking(False)
        return sock
    raise OSError(f"no free media port in {low}-{high}")


class MediaOut:
    """One stream's way out. `mode` is "udp", "tcp-active" (we connect) or "tcp-passive" (we
    listen). `open()` binds and returns our port for the SDP answer; `start()` connects or
    accepts in the background; `on_closed` is called once when a TCP connection ends."""

    def __init__(
        self,
        mode: str,
        remote: tuple[str, int],
        bind_host: str,
        ports: tuple[int, int],
        on_closed: Callable[[str], None] | None = None,
    ) -> None:
        self.mode = mode
        self.remote = remote
        self.bind_host = bind_host
        self.ports = ports
        self.on_closed = on_closed
        self.sent = 0
        self.dropped = 0
        self._sock: socket.socket | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._server: asyncio.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def open(self) -> int:
        kind = socket.SOCK_DGRAM if self.mode == "udp" else socket.SOCK_STREAM
        self._sock = bind_port(kind, self.bind_host, self.ports)
        return int(self._sock.getsockname()[1])

    async def start(self) -> None:
        sock = self._sock
        assert sock is not None
        loop = asyncio.get_running_loop()
        if self.mode == "udp":
            self._udp, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=sock)
        elif self.mode == "tcp-passive":
            sock.listen(1)
            self._server = await asyncio.start_server(self._accepted, sock=sock)
        else:
            self._task = loop.create_task(self._connect(sock))

    async def _connect(self, sock: socket.socket) -> None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await asyncio.get_running_loop().sock_connect(sock, self.remote)
                reader, writer = await asyncio.open_connection(sock=sock)
        except (OSError, TimeoutError) as error:
            self._ended(f"cannot connect to {self.remote[0]}:{self.remote[1]}: {error}")
            return
        self._writer = writer
        await self._drain(reader)

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if self._writer is not None or peer is None or peer[0] != self.remote[0]:
            writer.close()  # a stranger, or a second connection: the first one keeps it
            return
        self._writer = writer
        if self._server is not None:
            self._server.close()
        await self._drain(reader)

    async def _drain(self, reader: asyncio.StreamReader) -> None:
        """Read (and drop: RTCP at most) until the upper platform closes the connection."""
        try:
            while await reader.read(65536):
                pass
        except OSError:
            pass
        self._ended("the upper platform closed the TCP media connection")

    def _ended(self, reason: str) -> None:
        if not self._closed and self.on_closed is not None:
            self.on_closed(reason)

    def send(self, packet: bytes) -> None:
        if self._udp is not None:
            self._udp.sendto(packet, self.remote)
            self.sent += 1
            return
        writer = self._writer
        if writer is None or writer.is_closing():
            self.dropped += 1
            return
        if writer.transport.get_write_buffer_size() > MAX_BUFFERED:
            self.dropped += 1
            return
        writer.write(frame(packet))
        self.sent += 1

    def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
        if self._server is not None:
            self._server.close()
        if self._writer is not None:
            self._writer.close()
        if self._udp is not None:
            self._udp.close()
        elif self._sock is not None and self._writer is None:
            with contextlib.suppress(OSError):
                self._sock.close()
