"""The control channel between the control process and a media worker, with no I/O.

Modelled on mediasoup's Worker channel: requests that are answered once, and notifications that
are not, carried as length-prefixed JSON over a stream socket. Media never crosses it; only the
things that change a room (open it, add a leg, change the floor) and what a room reports back
(events, statistics).

Frames are a 4-byte big-endian length and that many bytes of UTF-8 JSON:

    request       {"id": n, "method": "room.open", "data": {...}}
    response      {"id": n, "data": ...}  or  {"id": n, "error": kind, "detail": text}
    notification  {"event": "event", "data": {...}}

`FrameDecoder.receive(data)` returns the messages complete so far and keeps the rest; a frame
longer than the limit or a body that is not such a message raises ChannelProtocolError, after
which the stream cannot be trusted and must be closed."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

MAX_FRAME = 16 * 1024 * 1024  # a roster of 2000 participants is well under 1 MiB
_LENGTH = struct.Struct(">I")


class ChannelProtocolError(ValueError):
    """The peer sent something that is not a channel frame; close the channel."""


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    method: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Response:
    id: int
    data: Any = None
    error: str | None = None  # the kind of failure, e.g. "RoomFull"; None when it succeeded
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Notification:
    event: str
    data: dict[str, Any] = field(default_factory=dict)


Message = Request | Response | Notification


def encode(message: Message) -> bytes:
    """One frame for `message`; raises ChannelProtocolError when it is larger than MAX_FRAME."""
    if isinstance(message, Request):
        body: dict[str, Any] = {"id": message.id, "method": message.method, "data": message.data}
    elif isinstance(message, Response):
        body = {"id": message.id}
        if message.error is None:
            body["data"] = message.data
        else:
            body["error"] = message.error
            body["detail"] = message.detail
    else:
        body = {"event": message.event, "data": message.data}
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    if len(payload) > MAX_FRAME:
        raise ChannelProtocolError(f"a {len(payload)}-byte message exceeds the channel's limit")
    return _LENGTH.pack(len(payload)) + payload


class FrameDecoder:
    """Splits a byte stream into messages; keeps at most one incomplete frame."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()

    def receive(self, data: bytes) -> list[Message]:
        """The messages completed by `data`; raises ChannelProtocolError on a bad frame."""
        self._buffer += data
        messages: list[Message] = []
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > self.max_frame:
                raise ChannelProtocolError(f"a {length}-byte frame exceeds {self.max_frame}")
            end = _LENGTH.size + length
            if len(self._buffer) < end:
                break
            payload = bytes(self._buffer[_LENGTH.size : end])
            del self._buffer[:end]
            messages.append(decode(payload))
        return messages


def decode(payload: bytes) -> Message:
    """The message in one frame's body; raises ChannelProtocolError when it is not one."""
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError) as error:  # RecursionError: nested past the stack
        raise ChannelProtocolError(f"a frame is not JSON: {type(error).__name__}") from None
    if not isinstance(body, dict):
        raise ChannelProtocolError("a frame is not a JSON object")
    data = body.get("data")
    if "method" in body:
        if not isinstance(body["method"], str) or not _is_id(body.get("id")):
            raise ChannelProtocolError("a request needs a numeric id and a method name")
        if not isinstance(data, dict):
            raise ChannelProtocolError("a request's data must be an object")
        return Request(body["id"], body["method"], data)
    if "event" in body:
        if not isinstance(body["event"], str) or not isinstance(data, dict):
            raise ChannelProtocolError("a notification needs an event name and object data")
        return Notification(body["event"], data)
    if _is_id(body.get("id")):
        kind = body.get("error")
        if kind is None:
            return Response(body["id"], data)
        detail = body.get("detail", "")
        if not isinstance(kind, str) or not isinstance(detail, str):
            raise ChannelProtocolError("a failed response needs an error kind and a detail")
        return Response(body["id"], error=kind, detail=detail)
    raise ChannelProtocolError("a frame is neither a request, a response nor a notification")


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53
