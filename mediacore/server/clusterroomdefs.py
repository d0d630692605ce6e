"""Room definitions of a cluster: `mc:roomdef:<room>` holds the JSON of a room's settings (the
body POST /api/v1/rooms took, PIN included, or a config room), so that any node can reopen the
room, a survivor included, as it was defined."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict

import redis.asyncio as aioredis

from mediacore.room import RoomSettings
from mediacore.server.clusterredis import roomdef_key

log = logging.getLogger(__name__)

SCAN_COUNT = 500


def definition_json(settings: RoomSettings) -> str:
    """What `mc:roomdef:<room>` holds for a room of `settings`."""
    return json.dumps(asdict(settings))


async def store_room_definition(redis: aioredis.Redis, settings: RoomSettings) -> None:
    """Keep (or replace) the definition of the room `settings.name`."""
    await redis.set(roomdef_key(settings.name), definition_json(settings))


async def forget_room_definition(redis: aioredis.Redis, room: str) -> None:
    """Drop the definition of `room` (closed for good)."""
    await redis.delete(roomdef_key(room))


async def room_definition(redis: aioredis.Redis, room: str) -> RoomSettings | None:
    """The definition of `room`; None when there is none or it is not one (logged)."""
    return _parse(room, await redis.get(roomdef_key(room)))


async def room_definitions(redis: aioredis.Redis) -> list[RoomSettings]:
    """Every room definition of the cluster, by name; those that are not one are left out
    (logged)."""
    keys = sorted([str(key) async for key in redis.scan_iter(roomdef_key("*"), count=SCAN_COUNT)])
    if not keys:
        return []
    texts = await redis.mget(keys)
    prefix = len(roomdef_key(""))
    found = [_parse(key[prefix:], text) for key, text in zip(keys, texts, strict=True)]
    return [settings for settings in found if settings is not None]


def _parse(room: str, text: str | bytes | None) -> RoomSettings | None:
    if text is None:
        return None
    try:
        settings = RoomSettings(**json.loads(text)).validate()
    except (TypeError, ValueError) as error:  # a RoomError is a ValueError
        log.warning("the cluster's definition of room %r cannot be read: %s", room, error)
        return None
    if settings.name != room:
        log.warning("the cluster's definition of room %r names %r: left out", room, settings.name)
        return None
    return settings
