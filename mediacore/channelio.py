"""The asyncio side of the control channel: a stream socket fed to the sans-I/O frames.

Either end may send requests; each gets one response, matched by id. Handlers are coroutines
registered by method name; what they raise goes back as an error kind (the exception's class
name) and its message, which the requester raises as `RequestFailed`."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any, cast

from mediacore.channel import (
    ChannelProtocolError,
    FrameDecoder,
    Message,
    Notification,
    Request,
    Response,
    encode,
)

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[Any]]
NotificationHandler = Callable[[Notification], None]


class ChannelClosed(ConnectionError):
    """The other end went away; requests in flight and new ones fail with this."""


class RequestFailed(Exception):
    """The other end's handler raised; `kind` names what it raised (e.g. "RoomFull")."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class Channel(asyncio.Protocol):
    """One end of a control channel over a connected stream socket."""

    def __init__(self, name: str = "channel") -> None:
        self.name = name
        self.handlers: dict[str, Handler] = {}
        self.on_notification: NotificationHandler | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._decoder = FrameDecoder()
        self._transport: asyncio.Transport | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 1
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def over(cls, sock: socket.socket, name: str = "channel") -> Channel:
        """A channel running over `sock` (one end of a socketpair)."""
        loop = asyncio.get_running_loop()
        _, channel = await loop.connect_accepted_socket(lambda: cls(name), sock)
        return channel

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._decoder.receive(data)
        except ChannelProtocolError as error:
            log.error("control channel broken", extra={"channel": self.name, "error": str(error)})
            self.close()
            return
        for message in messages:
            self._dispatch(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ChannelClosed(f"{self.name} closed"))
        self._pending.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    # -- sending --------------------------------------------------------------------------

    async def request(self, method: str, timeout: float = 30.0, **data: Any) -> Any:
        """Send a request and wait for its answer's data.

        Raises RequestFailed (the handler raised), ChannelClosed, or TimeoutError."""
        if self._transport is None:
            raise ChannelClosed(f"{self.name} is closed")
        request_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self._write(Request(request_id, method, data))
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)

    def notify(self, event: str, **data: Any) -> None:
        """Send a notification; dropped silently once the channel is closed."""
        if self._transport is not None:
            self._write(Notification(event, data))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _write(self, message: Message) -> None:
        assert self._transport is not None
        self._transport.write(encode(message))

    # -- receiving ------------------------------------------------------------------------

    def _dispatch(self, message: Message) -> None:
        if isinstance(message, Response):
            future = self._pending.get(message.id)
            if future is None or future.done():
                return  # answered after its requester gave up
            if message.error is None:
                future.set_result(message.data)
            else:
                future.set_exception(RequestFailed(message.error, message.detail))
        elif isinstance(message, Request):
            task = asyncio.get_running_loop().create_task(self._serve(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif self.on_notification is not None:
            try:
                self.on_notification(message)
            except Exception:  # a broken listener must not break the channel
                log.exception("notification handler failed", extra={"event": message.event})

    async def _serve(self, request: Request) -> None:
        handler = self.handlers.get(request.method)
        if handler is None:
            response = Response(request.id, error="UnknownMethod", detail=request.method)
        else:
            try:
                response = Response(request.id, await handler(request.data))
            except Exception as error:  # the requester gets what went wrong, the loop goes on
                if not isinstance(error, (KeyError, ValueError, LookupError, RequestFailed)):
                    log.exception("channel request failed", extra={"method": request.method})
                detail = str(error.args[0]) if isinstance(error, KeyError) else str(error)
                response = Response(request.id, error=_kind(error), detail=detail)
        if self._transport is None:
            return
        try:
            self._write(response)
        except ChannelProtocolError as error:  # too large to send: say so instead
            self._write(Response(request.id, error="ChannelProtocolError", detail=str(error)))


def _kind(error: Exception) -> str:
    return error.kind if isinstance(error, RequestFailed) else type(error).__name__
