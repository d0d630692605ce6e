"""The nodes' own routes for rooms spanning nodes (remoteshard.py), answered before anything
else of the app: no user token is asked of them, the cluster's node mark (clustertrust.py) is.

- `POST /api/v1/cluster/shards/{room}` `{"method", "data"}`: the room's owner asks this node's
  shard of the room (the guest's) what it would ask a worker of its own; only SHARD_METHODS
  (and among them `room.grow`, which a node asks of the room's owner for a leg of its own
  moving into the room).
  Answered 200 `{"result", "worker"}`, or 200 `{"error": kind, "detail"}` with the failure the
  worker or the room raised (ConnectionError: the worker is not running).
- `POST /api/v1/cluster/shards/{room}/notify` `{"node", "event", "data"}`: a guest tells the
  owner what its shard's worker said of the room (NOTICES); 204.
- `POST /api/v1/cluster/parties/{participant}`: where a participant of this node's rooms is,
  for another node's one-to-one call (clusterparties.py): 200 `{"result": {"room", "rate",
  "ptime"}}`, `{"result": {"busy": true}}` while it is in a call here, `{"result": null}` when
  no room of this node has it.

A request without a valid mark is 403 before its body is read; a body past `max_body` is 413."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

from mediacore.channelio import RequestFailed
from mediacore.room import RoomError
from mediacore.server import clustertrust
from mediacore.server.clusterforward import header, read_bounded_body, send_reply
from mediacore.server.remoteshard import NOTICES, SHARD_METHODS

log = logging.getLogger(__name__)

PREFIX = "/api/v1/cluster/"
ROUTE = re.compile(r"^/api/v1/cluster/shards/([^/]+)(/notify)?$")
PARTY = re.compile(r"^/api/v1/cluster/parties/([^/]+)$")

Serve = Callable[[str, str, str, dict[str, Any]], Awaitable[tuple[Any, int]]]
Heard = Callable[[str, str, str, dict[str, Any]], None]
Find = Callable[[str], Awaitable[dict[str, Any] | None]]


class ClusterShards:
    def __init__(
        self,
        app: ASGIApp,
        *,
        secret: Callable[[], bytes | None],
        clock: Callable[[], float],
        serve: Callable[[], Serve | None],
        heard: Callable[[], Heard | None],
        find: Callable[[], Find | None],
        max_body: int,
    ) -> None:
        """`serve(node, room, method, data)`: the answer to node `node` (mostly a guest's to
        its owner; None: this node runs no media workers); `heard(guest, room, event, data)`:
        the owner's side; `find(participant)`: where a participant of this node's rooms is."""
        self.app = app
        self.secret = secret
        self.clock = clock
        self.serve = serve
        self.heard = heard
        self.find = find
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": "nodes only"})
            return
        found, party = ROUTE.match(path), PARTY.match(path)
        if found is None and party is None:
            await _answer(send, 404, {"error": "not-found", "detail": f"no route {path}"})
            return
        node = self._sender(scope)
        if node is None:  # refused before any of the body is read
            detail = "only the cluster's nodes may ask this (a valid node mark)"
            await _answer(send, 403, {"error": "forbidden", "detail": detail})
            return
        if scope.get("method") != "POST":
            await _answer(send, 405, {"error": "method-not-allowed", "detail": "POST only"})
            return
        body = await read_bounded_body(receive, self.max_body)
        if body is None:
            detail = f"a request body is limited to {self.max_body} bytes"
            await _answer(send, 413, {"error": "too-large", "detail": detail})
            return
        if party is not None:
            await self._party(unquote(party.group(1)), send)
            return
        assert found is not None
        room = unquote(found.group(1))
        try:
            request = json.loads(body)
            if not isinstance(request, dict) or not isinstance(request.get("data"), dict):
                raise ValueError("the body is a JSON object with a data object")
        except ValueError as error:
            await _answer(send, 400, {"error": "bad-request", "detail": str(error)})
            return
        if found.group(2):
            await self._notice(node, room, request, send)
        else:
            await self._request(node, room, request, send)

    def _sender(self, scope: Scope) -> str | None:
        """The node that signed the request, or None."""
        secret, mark = self.secret(), header(scope, clustertrust.HEADER)
        if secret is None or mark is None:
            return None
        target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            return None  # these routes take none
        return clustertrust.verify(secret, mark, "POST", target, self.clock())

    async def _request(self, owner: str, room: str, request: dict[str, Any], send: Send) -> None:
        method, serve = request.get("method"), self.serve()
        if method not in SHARD_METHODS:
            detail = f"not a shard's method: {method!r}"
            await _answer(send, 400, {"error": "bad-method", "detail": detail})
            return
        if serve is None:
            detail = "this node runs no media workers ([server] workers = 0)"
            await _answer(send, 200, {"error": "RoomError", "detail": detail})
            return
        try:
            result, worker = await serve(owner, room, str(method), request["data"])
        except RequestFailed as failed:
            await _answer(send, 200, {"error": failed.kind, "detail": failed.detail})
            return
        except ConnectionError as error:
            await _answer(send, 200, {"error": "ConnectionError", "detail": str(error)})
            return
        except (LookupError, RoomError) as error:  # the room failures (rooms.ROOM_FAILURES)
            await _answer(send, 200, {"error": type(error).__name__, "detail": str(error)})
            return
        await _answer(send, 200, {"result": result, "worker": worker})

    async def _party(self, participant: str, send: Send) -> None:
        find = self.find()
        result = await find(participant) if find is not None else None
        await _answer(send, 200, {"result": result})

    async def _notice(self, guest: str, room: str, request: dict[str, Any], send: Send) -> None:
        event, heard = request.get("event"), self.heard()
        if event not in NOTICES or request.get("node") != guest:
            detail = "a notice names its node and one of " + ", ".join(sorted(NOTICES))
            await _answer(send, 400, {"error": "bad-notice", "detail": detail})
            return
        if heard is not None:
            try:
                heard(guest, room, str(event), request["data"])
            except (KeyError, TypeError, ValueError) as error:
                await _answer(send, 400, {"error": "bad-notice", "detail": repr(error)})
                return
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _answer(send: Send, status: int, content: dict[str, Any]) -> None:
    json_type = [(b"content-type", b"application/json")]
    await send_reply(send, status, json_type, json.dumps(content).encode())
