"""One API anywhere: a request about a room another node owns is served by that node.

A pure ASGI middleware inside the request guard (so the caller is authenticated and its body
bounded here first):

- `/api/v1/rooms/{room}...` for a room this node does not own but the directory places on
  another node is forwarded there, with the caller's own headers (its Authorization: the owner
  checks it again), and the owner's status, headers and body are answered as they are. An
  owner that is dead answers 503 (its rooms are being re-placed), one that cannot be reached
  503 too; a room nobody owns goes to this node's routes (404). A request adding a leg (RTP,
  WHIP, WHEP, the WebRTC WebSocket) is served here when this node holds a shard of the room,
  else by the room's intake node while it has one (clusterintake.py decides).
- `GET /api/v1/rooms` lists the rooms of every node: this node's, then each other live
  node's, each with a `node` field.
- `POST /api/v1/rooms` opens the room on the least-loaded live node (draining nodes take none):
  here, or forwarded there; `"node": NAME` in the body places it on that node instead (404 for a
  node the cluster does not know, 503 for a dead one); a name the cluster already has is 409.

Forwarded requests carry a signed mark (clustertrust.py): a node serves a marked request
itself, never forwarding it again; a forged mark is 403. WebSockets are served here."""

from __future__ import annotations

import json
import logging
import math
import re
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediacore.server import clustertrust
from mediacore.server.clusterintake import RoomEntry, Route, adds_leg, route
from mediacore.server.clusternode import ClusterNode
from mediacore.server.clusterredis import room_key
from mediacore.server.clusterrooms import ClusterRooms
from mediacore.server.clustersockets import OWNER_GONE, pass_socket

log = logging.getLogger(__name__)

ROOMS = "/api/v1/rooms"
ROOM_PATH = re.compile(r"^/api/v1/rooms/([^/]+)(?:/.*)?$")
# Not passed on either way: connection matters, and what httpx sets or undoes itself.
HOP_HEADERS = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "upgrade",
        "te",
        "trailer",
        "proxy-authorization",
        clustertrust.HEADER,
    }
)
Reply = tuple[int, list[tuple[bytes, bytes]], bytes]


class ClusterForwarder:
    def __init__(
        self,
        app: ASGIApp,
        *,
        node: ClusterNode,
        directory: ClusterRooms,
        secret: Callable[[], bytes | None],
        local: Callable[[], list[str]],
        client: Callable[[str], httpx.AsyncClient],
        tls: Callable[[str], ssl.SSLContext | None],
    ) -> None:
        """`secret`: the cluster's forwarding secret (None until read from Redis); `local`:
        the rooms open on this node; `client`: the HTTP client requests to a node go by, `tls`
        the context its WebSockets are opened with."""
        self.tls = tls
        self.app = app
        self.node = node
        self.directory = directory
        self.secret = secret
        self.local = local
        self.client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] not in ("http", "websocket") or not path.startswith(ROOMS):
            await self.app(scope, receive, send)
            return
        marked = _header(scope, clustertrust.HEADER)
        if marked is not None:
            await self._marked(scope, receive, send, marked)
            return
        method, found = scope.get("method", "GET"), ROOM_PATH.match(path)
        if found is not None and not self._served_here(found.group(1)):
            if scope["type"] == "websocket":
                await self._socket(found.group(1), scope, receive, send)
            else:
                await self._about_room(found.group(1), scope, receive, send)
        elif scope["type"] == "websocket":
            await self.app(scope, receive, send)
        elif path == ROOMS and method == "GET":
            await self._list(scope, receive, send)
        elif path == ROOMS and method == "POST":
            await self._place(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _served_here(self, room: str) -> bool:
        """Whether every request about `room` is this node's without asking the directory: the
        room is open here and, as last read, this node owns it. A room open here that the last
        read did not have may be another node's room this node holds a shard of (it serves
        only the room's new legs): the directory says."""
        return self.directory.owners.get(room) == self.node.name and room in self.local()

    async def _route(self, room: str, scope: Scope) -> Route | None:
        """Where a request about `room` goes (clusterintake.py); None: Redis is unreachable."""
        try:
            fields = await self.directory.redis.hgetall(room_key(room))
        except (RedisError, OSError):
            return None
        entry = RoomEntry.from_fields({str(k): str(v) for k, v in fields.items()})
        return route(
            entry,
            here=self.node.name,
            hosted=room in self.local(),
            leg=adds_leg(scope["type"], scope.get("method", "GET"), scope.get("path", "")),
            alive=self.node.view.alive,
        )

    async def _marked(self, scope: Scope, receive: Receive, send: Send, mark: str) -> None:
        if scope["type"] == "websocket" and not self.mark_valid(scope, mark):
            # refused before the handshake: HTTP 403
            await send({"type": "websocket.close", "code": 1008, "reason": "forged mark"})
            return
        await self.serve_marked(self.app, scope, receive, send, mark)

    async def _socket(self, room: str, scope: Scope, receive: Receive, send: Send) -> None:
        """A room's WebSocket: joined to the one of the node that serves it (clustersockets.py)."""
        where = await self._route(room, scope)
        secret = self.secret()
        if where is None or where.here or secret is None:
            await self.app(scope, receive, send)  # this node's answer (4404: no such room)
            return
        if where.down:
            await receive()
            await send({"type": "websocket.accept"})
            reason = f"room {room} was on node {where.node}, which is down"
            await send({"type": "websocket.close", "code": OWNER_GONE, "reason": reason})
            return
        target = _target(scope)
        mark = clustertrust.mark(secret, self.node.name, int(self.node.clock()), "GET", target)
        headers = [(clustertrust.HEADER, mark)]
        authorization = _header(scope, "authorization")
        if authorization is not None:
            headers.append(("authorization", authorization))
        url = "ws" + where.http.removeprefix("http") + target
        await pass_socket(scope, receive, send, url, headers, self.tls(where.node))

    async def _about_room(self, room: str, scope: Scope, receive: Receive, send: Send) -> None:
        where = await self._route(room, scope)
        if where is None and room not in self.local():
            await _answer(send, 503, "cluster-unreachable", "the cluster directory is unreachable")
            return
        if where is None or where.here:
            await self.app(scope, receive, send)  # not placed elsewhere: this node's answer
            return
        if where.down:
            detail = f"room {room!r} was on node {where.node!r}, which is down; it is being moved"
            await _answer(send, 503, "node-down", detail)
            return
        await self._relay(where.node, where.http, scope, await _body(receive), send)

    async def _list(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, headers, body = await _capture(self.app, scope, receive)
        if status != 200:
            await _send(send, status, headers, body)
            return
        listed = [{**room, "node": self.node.name} for room in json.loads(body)]
        for record in self.node.view.live():
            if record.name == self.node.name:
                continue
            try:
                status, _, body = await self._forward(record.name, record.http, scope, b"")
                if status == 200:
                    listed += [{**room, "node": record.name} for room in json.loads(body)]
            except (httpx.HTTPError, ValueError, TypeError) as error:
                log.warning("rooms of node not listed: %s", error, extra={"node": record.name})
        await _send(
            send, 200, [(b"content-type", b"application/json")], json.dumps(listed).encode()
        )

    async def _place(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _body(receive)
        try:
            request = json.loads(body)
            name = request.get("name")
        except (ValueError, AttributeError):
            request, name = None, None  # the routes say what is wrong with it
        target = self.node.view.least_loaded()
        if isinstance(request, dict) and "node" in request:  # placed where the caller says
            chosen = request.pop("node")
            body = json.dumps(request).encode()
            scope = _with_length(scope, len(body))
            record = self.node.view.records.get(chosen) if isinstance(chosen, str) else None
            if record is None:
                await _answer(send, 404, "node-not-found", f"no node named {chosen!r}")
                return
            if not self.node.view.alive(record.name):
                await _answer(send, 503, "node-down", f"node {record.name!r} is down")
                return
            target = record
        if isinstance(name, str) and name:
            try:
                owner = await self.directory.owner(name)
            except (RedisError, OSError):
                owner = None
            if (
                owner is not None
                and owner.node != self.node.name
                and self.node.view.alive(owner.node)
            ):
                detail = f"room {name!r} exists (on node {owner.node!r})"
                await _answer(send, 409, "room-exists", detail)
                return
        if target is None or target.name == self.node.name:
            await self.app(scope, _replay(body, receive), send)
            return
        await self._relay(target.name, target.http, scope, body, send)

    async def _relay(self, node: str, base: str, scope: Scope, body: bytes, send: Send) -> None:
        try:
            status, headers, content = await self._forward(node, base, scope, body)
        except httpx.HTTPError as error:
            await _answer(send, 503, "node-unreachable", f"the room's node did not answer: {error}")
            return
        await _send(send, status, headers, content)

    async def _forward(self, node: str, base: str, scope: Scope, body: bytes) -> Reply:
        secret = self.secret()
        if secret is None:
            raise httpx.TransportError("the cluster's forwarding secret is not known yet")
        method, target = scope["method"], _target(scope)
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in scope["headers"]
            if name.decode("latin-1").lower() not in HOP_HEADERS
        ]
        mark = clustertrust.mark(secret, self.node.name, int(self.node.clock()), method, target)
        headers.append((clustertrust.HEADER, mark))
        response = await self.client(node).request(
            method, base + target, headers=headers, content=body
        )
        kept = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers.multi_items()
            if name.lower() not in HOP_HEADERS
        ]
        return response.status_code, kept, response.content

    # -- for clusterbodies.py: requests that name their room in the body ------------------

    def mark_valid(self, scope: Scope, mark: str) -> bool:
        """Whether `mark` (the request's X-Mediacore-Forwarded) was signed by a node for it."""
        secret = self.secret()
        method, now = scope.get("method", "GET"), self.node.clock()
        return (
            secret is not None
            and clustertrust.verify(secret, mark, method, _target(scope), now) is not None
        )

    async def ask(self, node: str, base: str, scope: Scope, body: bytes) -> Reply:
        """Node `node`'s answer to the request (marked: it serves it itself); raises
        httpx.HTTPError when it cannot be reached."""
        return await self._forward(node, base, scope, body)

    async def relay(self, node: str, base: str, scope: Scope, body: bytes, send: Send) -> None:
        """Node `node`'s answer as this request's (503 when it cannot be reached)."""
        await self._relay(node, base, scope, body, send)

    async def serve_marked(
        self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, mark: str
    ) -> None:
        """A request another node sent here marked: `app` serves it when the mark is valid
        (the request's own middleware before it, e.g. a scope with the caller's address);
        403 otherwise."""
        if self.mark_valid(scope, mark):
            await app(scope, receive, send)
        else:
            detail = "this request's forwarding mark is not valid"
            await _answer(send, 403, "forged-forward", detail)


def _header(scope: Scope, wanted: str) -> str | None:
    key = wanted.encode()
    for name, value in scope.get("headers", ()):
        if name.lower() == key:
            return str(value.decode("latin-1"))
    return None


def _target(scope: Scope) -> str:
    """The request target as sent: raw path and query."""
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    return (path + (b"?" + query if query else b"")).decode("latin-1")


def _with_length(scope: Scope, length: int) -> Scope:
    """`scope` with its Content-Length saying `length` (its body was rewritten)."""
    headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
    return {**scope, "headers": [*headers, (b"content-length", str(length).encode())]}


async def _body(receive: Receive) -> bytes:
    body = await _bounded_body(receive, math.inf)
    assert body is not None  # no bound to pass
    return body


async def _bounded_body(receive: Receive, limit: float) -> bytes | None:
    """The whole body, or None once it goes past `limit` bytes."""
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body"):
            return body


def _replay(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    """A receive that gives `body` (read already) first, then whatever comes after."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> Reply:
    """This node's own answer, kept rather than sent."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    return int(start.get("status", 500)), headers, b"".join(chunks)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _answer(send: Send, status: int, error: str, detail: str) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    await _send(send, status, [(b"content-type", b"application/json")], body)


# Shared with clusterbodies.py, clusterrecordingapi.py and clustershards.py.
header, read_body, read_bounded_body, replay, capture, send_reply, answer = (
    _header,
    _body,
    _bounded_body,
    _replay,
    _capture,
    _send,
    _answer,
)
