"""The control channel: frames, messages, and the asyncio ends talking over a socketpair."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediacore.channel import (
    ChannelProtocolError,
    FrameDecoder,
    Notification,
    Request,
    Response,
    decode,
    encode,
)
from mediacore.channelio import Channel, ChannelClosed, RequestFailed


def test_every_message_kind_survives_a_round_trip() -> None:
    messages = [
        Request(1, "room.open", {"settings": {"name": "指挥"}}),
        Response(1, {"answer": "v=0"}),
        Response(2, error="RoomFull", detail="room 'a' is full"),
        Notification("event", {"type": "talking", "room": "a"}),
    ]
    stream = b"".join(encode(m) for m in messages)
    assert FrameDecoder().receive(stream) == messages


def test_a_frame_split_anywhere_is_joined_again() -> None:
    frame = encode(Request(7, "leg.rtp", {"offer": "x" * 1000}))
    for cut in (1, 3, 4, 5, 500, len(frame) - 1):
        decoder = FrameDecoder()
        assert decoder.receive(frame[:cut]) == []
        assert decoder.receive(frame[cut:]) == [Request(7, "leg.rtp", {"offer": "x" * 1000})]


def test_a_frame_longer_than_the_limit_is_refused_before_it_is_read() -> None:
    with pytest.raises(ChannelProtocolError):
        FrameDecoder(max_frame=1024).receive(struct.pack(">I", 1025))


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"not json",
        b'{"id": 1}x',
        b'{"method": 3, "id": 1, "data": {}}',
        b'{"method": "a", "id": true, "data": {}}',
        b'{"event": "e", "data": []}',
        b"{}",
        b'{"id": 1, "error": 5}',
        b"\xff\xfe",
        b"[" * 2001,  # bench fuzz (channel) found it: RecursionError escaped decode()
    ],
)
def test_bodies_that_are_no_message_raise_the_channels_own_error(body: bytes) -> None:
    with pytest.raises(ChannelProtocolError):
        decode(body)


@given(st.binary(max_size=200))
def test_any_bytes_only_parse_or_raise_the_channels_own_error(data: bytes) -> None:
    try:
        FrameDecoder(max_frame=4096).receive(data)
    except ChannelProtocolError:
        pass


async def _pair() -> tuple[Channel, Channel]:
    a, b = socket.socketpair()
    return await Channel.over(a, "control"), await Channel.over(b, "worker")


async def test_a_request_gets_its_handlers_answer_and_a_failure_its_kind() -> None:
    control, worker = await _pair()

    async def add(data: dict[str, Any]) -> int:
        return int(data["a"]) + int(data["b"])

    async def refuse(data: dict[str, Any]) -> None:
        raise KeyError("no room named 'x'")

    worker.handlers.update({"add": add, "refuse": refuse})
    assert await control.request("add", a=2, b=3) == 5
    with pytest.raises(RequestFailed) as failure:
        await control.request("refuse")
    assert (failure.value.kind, failure.value.detail) == ("KeyError", "no room named 'x'")
    with pytest.raises(RequestFailed) as unknown:
        await control.request("nothing")
    assert unknown.value.kind == "UnknownMethod"
    control.close()
    await worker.closed


async def test_answers_match_their_requests_when_they_come_back_out_of_order() -> None:
    control, worker = await _pair()

    async def slow(data: dict[str, Any]) -> str:
        await asyncio.sleep(data["delay"])
        return str(data["name"])

    worker.handlers["slow"] = slow
    answers = await asyncio.gather(
        control.request("slow", delay=0.05, name="first"),
        control.request("slow", delay=0.0, name="second"),
    )
    assert answers == ["first", "second"]
    control.close()


async def test_notifications_arrive_in_order_and_a_closed_peer_fails_what_is_in_flight() -> None:
    control, worker = await _pair()
    seen: list[Notification] = []
    control.on_notification = seen.append
    for n in range(3):
        worker.notify("event", n=n)

    async def never(data: dict[str, Any]) -> None:
        await asyncio.sleep(3600)

    worker.handlers["never"] = never
    pending = asyncio.ensure_future(control.request("never"))
    await asyncio.sleep(0.05)
    assert [m.data["n"] for m in seen] == [0, 1, 2]
    worker.close()
    with pytest.raises(ChannelClosed):
        await pending
    await control.closed
    with pytest.raises(ChannelClosed):
        await control.request("never")
