"""One API anywhere, for the requests that name their room in the body or by an id.

clusterforward.py sends `/api/v1/rooms/{room}...` to the room's node; the routes below say
their room otherwise, and are served here, a pure ASGI middleware beside it (inside the
request guard: the caller is known and its body bounded before anything is read):

- `POST /api/v1/messages {"to": room}` and `POST /api/v1/alarms {"room"}`: to the node that
  owns the room (503 `node-down` while it is down), as a request about the room's path is.
- `POST /api/v1/broadcasts {"participant", "rooms"}`: to the node the broadcaster is on. Its
  voice is relayed into rooms on its own node only, so a list that names rooms of another node
  is refused (409 `rooms-on-other-nodes`) rather than half done; `"all"` is every room of the
  broadcaster's node.
- `POST /api/v1/calls {"a", "b"}`: served by a node that has one of the parties (a participant
  or radio gateway; it finds a participant of another node there, privatecalls.py): the
  request goes to each live node in turn until one does not answer that a party is unknown or
  unavailable there.
- `/api/v1/calls/{id}...`: to the node of the call's room (`call-<...>`); `DELETE
  /api/v1/broadcasts/{id}` and `/api/v1/alarms/{id}...`: to whichever node has it;
  `GET /api/v1/broadcasts` and `GET /api/v1/alarms`: every node's.

Only a caller whose role may use the route has its body read or its request sent on (others
get the route's own 403); a marked request (another node's) is served here, a forged mark 403.
The answers and the events are those of the node that serves the request."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from mediacore.server import clustertrust
from mediacore.server.api_alarms import DISPATCHES
from mediacore.server.api_alarms import READS as ALARM_READS
from mediacore.server.api_broadcasts import BROADCASTS
from mediacore.server.api_calls import CALLS
from mediacore.server.api_calls import READS as CALL_READS
from mediacore.server.auth import Principal, TokenStore
from mediacore.server.cluster import Cluster
from mediacore.server.clusterforward import (
    answer,
    capture,
    header,
    read_body,
    replay,
    send_reply,
)
from mediacore.server.guard import bearer_token
from mediacore.server.privatecalls import ROOM_PREFIX as CALL_ROOM

log = logging.getLogger(__name__)

MESSAGES = "/api/v1/messages"
ALARMS = "/api/v1/alarms"
BROADCASTS_PATH = "/api/v1/broadcasts"
CALLS_PATH = "/api/v1/calls"
PREFIXES = (MESSAGES, ALARMS, BROADCASTS_PATH, CALLS_PATH)
ALARM = re.compile(r"^/api/v1/alarms/[^/]+(?:/ack)?$")
BROADCAST = re.compile(r"^/api/v1/broadcasts/[^/]+$")
CALL = re.compile(r"^/api/v1/calls/c-([0-9a-f]+)(?:/barge)?$")
# Answers that mean "not on this node": another node may have it.
NOT_HERE_PARTY = frozenset({(404, "unknown-party"), (409, "unavailable")})
NOT_HERE_BROADCASTER = frozenset({(404, "participant-not-found")})
NOT_HERE_BROADCAST = frozenset({(404, "broadcast-not-found")})
NOT_HERE_ALARM = frozenset({(404, "alarm-not-found")})
Reply = tuple[int, list[tuple[bytes, bytes]], bytes]


class ClusterBodies:
    def __init__(
        self,
        app: ASGIApp,
        *,
        cluster: Cluster,
        tokens: TokenStore,
        local: Callable[[], list[str]],
        locate: Callable[[str], str | None],
    ) -> None:
        """`local`: the rooms open on this node; `locate`: the room of a participant here."""
        self.app = app
        self.tokens = tokens
        self.local = local
        self.locate = locate
        self.me = cluster.node.name
        self.view = cluster.node.view
        self.directory = cluster.directory
        self.nodes = cluster.forwarder(app, local)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIXES):
            await self.app(scope, receive, send)
            return
        mark = header(scope, clustertrust.HEADER)
        if mark is not None:
            await self.nodes.serve_marked(self.app, scope, receive, send, mark)
            return
        method = scope.get("method", "GET")
        principal = self._principal(scope)
        call = CALL.match(path)
        if method == "POST" and path == MESSAGES and _may(principal, "messages:send"):
            await self._about(scope, receive, send, "to")
        elif method == "POST" and path == ALARMS and _may(principal, DISPATCHES, filtered=True):
            await self._about(scope, receive, send, "room")
        elif path == BROADCASTS_PATH and _may(principal, BROADCASTS):
            if method == "POST":
                await self._broadcast(scope, receive, send)
            elif method == "GET":
                await self._every_node(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        elif method == "DELETE" and BROADCAST.match(path) and _may(principal, BROADCASTS):
            await self._anywhere(scope, b"", receive, send, NOT_HERE_BROADCAST)
        elif method == "GET" and path == ALARMS and _may(principal, ALARM_READS, filtered=True):
            await self._every_node(scope, receive, send, newest_first="raised_at")
        elif ALARM.match(path) and _may(principal, ALARM_READS, filtered=True):
            await self._anywhere(scope, b"", receive, send, NOT_HERE_ALARM)
        elif method == "POST" and path == CALLS_PATH and _may(principal, CALLS):
            await self._anywhere(scope, await read_body(receive), receive, send, NOT_HERE_PARTY)
        elif call is not None and _may(principal, CALL_READS if method == "GET" else CALLS):
            await self._to_owner(CALL_ROOM + call.group(1), scope, b"", receive, send)
        else:
            await self.app(scope, receive, send)

    def _principal(self, scope: Scope) -> Principal | None:
        token = bearer_token(scope)
        return self.tokens.authenticate(token) if token is not None else None

    async def _about(self, scope: Scope, receive: Receive, send: Send, field: str) -> None:
        """A request whose body names its room in `field`: to the room's node."""
        body = await read_body(receive)
        room = _field(body, field)
        await self._to_owner(room, scope, body, receive, send)

    async def _to_owner(
        self, room: str | None, scope: Scope, body: bytes, receive: Receive, send: Send
    ) -> None:
        if room is None or room in self.local():
            await self.app(scope, replay(body, receive), send)
            return
        try:
            owner = await self.directory.owner(room)
        except (RedisError, OSError):
            owner = None  # the directory cannot say: this node answers for itself
        if owner is None or owner.node == self.me:
            await self.app(scope, replay(body, receive), send)
        elif not self.view.alive(owner.node):
            detail = f"room {room!r} was on node {owner.node!r}, which is down; it is being moved"
            await answer(send, 503, "node-down", detail)
        else:
            await self.nodes.relay(owner.node, owner.http, scope, body, send)

    async def _broadcast(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        participant, rooms = _field(body, "participant"), _rooms(body)
        owners = await self._owners(rooms)
        if participant is not None and self.locate(participant) is not None:
            elsewhere = {room: node for room, node in owners.items() if node != self.me}
            if elsewhere:
                await answer(send, 409, "rooms-on-other-nodes", _elsewhere(elsewhere, self.me))
                return
            await self.app(scope, replay(body, receive), send)
            return
        nodes = set(owners.values())
        if len(nodes) > 1:
            detail = "a broadcast reaches the rooms of one node, its broadcaster's: " + ", ".join(
                f"{room!r} is on node {node!r}" for room, node in sorted(owners.items())
            )
            await answer(send, 409, "rooms-on-other-nodes", detail)
            return
        node, reply = await self._asked(scope, body, receive, NOT_HERE_BROADCASTER, nodes)
        if owners and node not in nodes and _said(reply) == (404, "room-not-found"):
            # The broadcaster's node does not have the rooms: they are another node's.
            await answer(send, 409, "rooms-on-other-nodes", _elsewhere(owners, node))
            return
        await send_reply(send, *reply)

    async def _owners(self, rooms: list[str]) -> dict[str, str]:
        """The node of each of `rooms` the cluster places (this one's included)."""
        found: dict[str, str] = {}
        here = set(self.local())
        for room in rooms:
            if room in here:
                found[room] = self.me
                continue
            try:
                owner = await self.directory.owner(room)
            except (RedisError, OSError):
                continue
            if owner is not None:
                found[room] = owner.node
        return found

    async def _anywhere(
        self,
        scope: Scope,
        body: bytes,
        receive: Receive,
        send: Send,
        not_here: frozenset[tuple[int, str]],
    ) -> None:
        """The answer of the first node (this one first) that does not say `not_here`."""
        _, reply = await self._asked(scope, body, receive, not_here)
        await send_reply(send, *reply)

    async def _asked(
        self,
        scope: Scope,
        body: bytes,
        receive: Receive,
        not_here: frozenset[tuple[int, str]],
        first: Iterable[str] = (),
    ) -> tuple[str, Reply]:
        """(node, its answer): this node's unless it says `not_here`; then the first live
        node's (those in `first` first) that does not; else this node's."""
        mine = await capture(self.app, scope, replay(body, receive))
        if _said(mine) not in not_here:
            return self.me, mine
        ahead = list(first)
        others = sorted(
            (r for r in self.view.live() if r.name != self.me),
            key=lambda record: (record.name not in ahead, record.name),
        )
        for record in others:
            try:
                theirs = await self.nodes.ask(record.name, record.http, scope, body)
            except httpx.HTTPError as error:
                log.info("node not asked: %s", error, extra={"node": record.name})
                continue
            if _said(theirs) not in not_here:
                return record.name, theirs
        return self.me, mine

    async def _every_node(
        self, scope: Scope, receive: Receive, send: Send, newest_first: str = ""
    ) -> None:
        """A list: this node's entries, then every other live node's (with `newest_first`,
        all of them by that time field, newest first)."""
        status, headers, body = await capture(self.app, scope, receive)
        if status != 200:
            await send_reply(send, status, headers, body)
            return
        listed: list[Any] = json.loads(body)
        for record in self.view.live():
            if record.name == self.me:
                continue
            try:
                status, _, theirs = await self.nodes.ask(record.name, record.http, scope, b"")
                if status == 200:
                    listed += json.loads(theirs)
            except (httpx.HTTPError, ValueError) as error:
                log.warning("list of node left out: %s", error, extra={"node": record.name})
        if newest_first:
            listed.sort(key=lambda entry: str(entry.get(newest_first, "")), reverse=True)
        content = json.dumps(listed).encode()
        await send_reply(send, 200, [(b"content-type", b"application/json")], content)


def _may(principal: Principal | None, permission: str, filtered: bool = False) -> bool:
    """Whether this caller may use the route (else the route itself answers 403); a join link
    only where the route shows it its own room (`filtered`)."""
    if principal is None or not principal.may(permission):
        return False
    return filtered or principal.room is None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None  # the route says what is wrong with it


def _field(body: bytes, name: str) -> str | None:
    request = _json(body)
    value = request.get(name) if isinstance(request, dict) else None
    return value if isinstance(value, str) and value else None


def _rooms(body: bytes) -> list[str]:
    request = _json(body)
    rooms = request.get("rooms") if isinstance(request, dict) else None
    return [r for r in rooms if isinstance(r, str)] if isinstance(rooms, list) else []


def _said(reply: Reply) -> tuple[int, str]:
    """(status, error code) of an answer; the code is "" for one that is not an API error."""
    status, _, body = reply
    found = _json(body) if status >= 400 else None
    error = found.get("error") if isinstance(found, dict) else None
    return status, error if isinstance(error, str) else ""


def _elsewhere(rooms: dict[str, str], me: str) -> str:
    where = ", ".join(f"{room!r} is on node {node!r}" for room, node in sorted(rooms.items()))
    return f"a broadcast reaches the rooms of its broadcaster's node ({me!r}) only: {where}"
