"""Room definitions of a cluster: `mc:roomdef:<room>` holds the JSON of a room's settings (the
body POST /api/v1/rooms took, PIN included, or a config room), so that any node can reopen the
room, a survivor included, as it was defined. The directory (clusterrooms.py) writes it with
its claim and deletes it with its release; these read and write its JSON."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict

import redis.asyncio as aioredis

from mediacore.room import RoomSettings
from mediacore.server.clusterredis import roomdef_key

log = logging.getLogger(__name__)


def definition_json(settings: RoomSettings) -> str:
    """What `mc:roomdef:<room>` holds for a room of `settings`."""
    return json.dumps(asdict(settings))


async def room_definition(redis: aioredis.Redis, room: str) -> RoomSettings | None:
    """The definition of `room`; None when there is none or it is not one (logged)."""
    return _parse(room, await redis.get(roomdef_key(room)))


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
