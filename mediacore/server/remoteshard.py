"""A room's shard on another node, as the owner's ShardedRooms drives it.

`RemoteShardWorker` stands where a `WorkerProcess` would: `request(method, **data)` goes, as
`POST /api/v1/cluster/shards/{room}` with the cluster's node mark (clustertrust.py), to the node
that holds the shard (the *guest*), which passes it to its own media worker and answers
`{"result": ..., "worker": id}` or `{"error": kind, "detail": text}`, the worker's failure
kinds as they are (so the owner's `_ask` raises the room failures a local worker's would).
A guest that is dead, unreachable or refuses the mark is a lost worker: ConnectionError.
(mediasoup's pipeToRouter and Jitsi's Octo join routers across hosts the same way.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx

from mediacore.channelio import RequestFailed
from mediacore.server.children import ChildState

SHARDS = "/api/v1/cluster/shards/"
# The worker methods an owner may ask of a guest's shard (room.open makes the guest's room;
# participant.move has the guest node move a leg, guestshards.py), and room.grow, which a
# node asks of a room's owner for a leg moving into the room (the room grows onto it).
SHARD_METHODS = frozenset(
    {
        "room.open",
        "room.close",
        "room.change",
        "room.summary",
        "room.summaries",
        "room.roster",
        "room.whispers",
        "room.grow",
        "participant.get",
        "participant.update",
        "participant.remove",
        "participant.hold",
        "participant.resume",
        "participant.move",
        "floor.get",
        "floor.apply",
        "floor.action",
        "floor.decide",
        "cascade.bind",
        "cascade.connect",
    }
)
# What a guest tells the owner about its shard.
NOTICES = frozenset({"event", "floor.forward", "shard.lost"})

Post = Callable[[str, str, dict[str, Any]], Awaitable[tuple[int, Any]]]  # (node, path, body)


class UnknownNode(LookupError):
    """No live node of that name."""


def shard_path(room: str) -> str:
    return SHARDS + quote(room, safe="")


def notice_path(room: str) -> str:
    return shard_path(room) + "/notify"


def read_reply(status: int, body: Any) -> tuple[Any, int | None]:
    """The guest's answer: (result, its worker's id); raises RequestFailed for the failure its
    worker or room raised, ConnectionError when the guest could not serve it at all."""
    if not isinstance(body, dict):
        raise ConnectionError(f"the guest node answered {status} without a JSON object")
    detail = str(body.get("detail", ""))
    if status == 200 and "result" in body:
        worker = body.get("worker")
        return body["result"], worker if isinstance(worker, int) else None
    if status == 200 and isinstance(body.get("error"), str):
        if body["error"] == "ConnectionError":
            raise ConnectionError(detail or "the guest node's worker is not running")
        raise RequestFailed(body["error"], detail)
    if status == 400:
        raise RequestFailed("RoomError", detail or "the guest node refused the request")
    raise ConnectionError(f"the guest node answered {status}: {detail}")


class RemoteShardWorker:
    """The worker of a room's shard on node `node`, as ShardedRooms asks it."""

    def __init__(self, node: str, room: str, post: Post, alive: Callable[[str], bool]) -> None:
        self.node = node
        self.room = room
        self.id = -1  # the guest's worker, once it has answered
        self._post = post
        self._alive = alive

    @property
    def state(self) -> ChildState:
        return "running" if self._alive(self.node) else "stopped"

    async def request(self, method: str, **data: Any) -> Any:
        if not self._alive(self.node):
            raise ConnectionError(f"node {self.node!r} is down")
        body = {"method": method, "data": data}
        try:
            status, answer = await self._post(self.node, shard_path(self.room), body)
        except (httpx.HTTPError, OSError, ValueError) as error:
            raise ConnectionError(f"node {self.node!r} did not answer: {error}") from None
        result, worker = read_reply(status, answer)
        if worker is not None:
            self.id = worker
        return result
