"""Room definitions in a real Redis: `mc:roomdef:<room>` is the JSON of the room's settings,
PIN included, and reads back as the same settings."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from mediacore.room import RoomSettings
from mediacore.server.clusterroomdefs import (
    forget_room_definition,
    room_definition,
    room_definitions,
    store_room_definition,
)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def test_a_definition_reads_back_as_the_settings_it_was(redis: aioredis.Redis) -> None:
    settings = RoomSettings("incident-7", floor="queue", pin="4321", video={"layout": "grid"})
    await store_room_definition(redis, settings)
    stored = await redis.get("mc:roomdef:incident-7")
    assert stored is not None and json.loads(stored)["pin"] == "4321"
    assert await room_definition(redis, "incident-7") == settings
    await store_room_definition(redis, RoomSettings("command"))
    assert [s.name for s in await room_definitions(redis)] == ["command", "incident-7"]
    await forget_room_definition(redis, "incident-7")
    assert await room_definition(redis, "incident-7") is None
    assert await room_definitions(redis) == [RoomSettings("command")]


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        json.dumps({"name": "bad", "ptime": 7}),  # not a room ptime
        json.dumps({"name": "bad", "colour": "red"}),  # no such setting
        json.dumps({"name": "other"}),  # names another room
        json.dumps(["bad"]),
    ],
)
async def test_a_definition_that_is_not_one_is_left_out_and_logged(
    redis: aioredis.Redis, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    await redis.set("mc:roomdef:bad", text)
    await store_room_definition(redis, RoomSettings("good"))
    with caplog.at_level(logging.WARNING):
        assert [s.name for s in await room_definitions(redis)] == ["good"]
    assert any("'bad'" in record.getMessage() for record in caplog.records)
