"""The asyncio side of the data path: a stream socket fed to the sans-I/O frames.

`send()` writes a frame from the event loop thread, `send_threadsafe()` from any other (a
puller's or an encoder's thread: the frame is encoded there, the loop only writes it). Frames
that arrive go to `on_frame` on the event loop. A peer reading too slowly makes frames drop by
the `Backlog` rule instead of queueing without end; `on_drop(source)` says when a video source
starts waiting for a keyframe, so the sender can ask its publisher for one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import cast

from mediacore.datapath import (
    Backlog,
    DataPathError,
    FrameKind,
    MediaFrame,
    MediaFrameDecoder,
    encode_frame,
)

log = logging.getLogger(__name__)

FrameHandler = Callable[[MediaFrame], None]


class DataPath(asyncio.Protocol):
    """One end of a data path over a connected stream socket."""

    def __init__(self, name: str = "data", *, backlog: Backlog | None = None) -> None:
        self.name = name
        self.on_frame: FrameHandler | None = None
        self.on_drop: Callable[[str], None] | None = None
        self.frames_in = 0
        self.frames_out = 0
        self.backlog = backlog if backlog is not None else Backlog()
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self._decoder = MediaFrameDecoder()
        self._transport: asyncio.Transport | None = None

    @classmethod
    async def over(cls, sock: socket.socket, name: str = "data") -> DataPath:
        """A data path running over `sock` (one end of a socketpair)."""
        loop = asyncio.get_running_loop()
        _, path = await loop.connect_accepted_socket(lambda: cls(name), sock)
        return path

    @property
    def frames_dropped(self) -> int:
        return self.backlog.dropped

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._decoder.receive(data)
        except DataPathError as error:
            log.error("data path broken", extra={"path": self.name, "error": str(error)})
            self.close()
            return
        for frame in frames:
            self.frames_in += 1
            if self.on_frame is None:
                continue
            try:
                self.on_frame(frame)
            except Exception:  # a consumer's bug must not break the path for the others
                log.exception("data path consumer failed", extra={"path": self.name})

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if not self.closed.done():
            self.closed.set_result(None)

    # -- sending --------------------------------------------------------------------------

    def send(self, frame: MediaFrame) -> bool:
        """Write `frame` (event loop thread). False when it was dropped: the path is closed,
        or the peer is behind (`Backlog`)."""
        return self._write(frame.kind, frame.source, frame.keyframe, encode_frame(frame))

    def send_threadsafe(self, frame: MediaFrame) -> None:
        """Write `frame` from another thread; dropped silently once the loop has closed."""
        data = encode_frame(frame)
        with contextlib.suppress(RuntimeError):  # the loop closed: shutting down
            self._loop.call_soon_threadsafe(
                self._write, frame.kind, frame.source, frame.keyframe, data
            )

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _write(self, kind: FrameKind, source: str, keyframe: bool, data: bytes) -> bool:
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        waiting = self.backlog.waiting(source)
        if not self.backlog.admit(kind, source, keyframe, transport.get_write_buffer_size()):
            if not waiting and self.backlog.waiting(source) and self.on_drop is not None:
                self.on_drop(source)
            return False
        transport.write(data)
        self.frames_out += 1
        return True
