"""Room definitions in a real Redis: `mc:roomdef:<room>` is the JSON of the room's settings,
PIN included, and reads back as the same settings."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from mediacore.room import RoomSettings
from mediacore.server.clusterredis import roomdef_key
from mediacore.server.clusterroomdefs import definition_json, room_definition


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def test_a_definition_reads_back_as_the_settings_it_was(redis: aioredis.Redis) -> None:
    settings = RoomSettings("incident-7", floor="queue", pin="4321", video={"layout": "grid"})
    await redis.set(roomdef_key("incident-7"), definition_json(settings))
    stored = await redis.get("mc:roomdef:incident-7")
    assert stored is not None and json.loads(stored)["pin"] == "4321"
    assert await room_definition(redis, "incident-7") == settings
    assert await room_definition(redis, "command") is None


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
async def test_a_definition_that_is_not_one_reads_as_none_and_is_logged(
    redis: aioredis.Redis, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    await redis.set("mc:roomdef:bad", text)
    with caplog.at_level(logging.WARNING):
        assert await room_definition(redis, "bad") is None
    assert any("'bad'" in record.getMessage() for record in caplog.records)
