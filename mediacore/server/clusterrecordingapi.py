"""One recordings API anywhere: a pure ASGI middleware beside clusterforward.py (inside the
request guard: the caller is known and its body bounded before anything is read or sent on).

- `GET /api/v1/recordings` (with any of its filters) lists the recordings of every live node:
  each is asked for its first `offset + limit` (capped at the index's page), the answers are
  merged newest first, once each, and the page is cut from the merge; each entry says the
  `node` serving it.
- A request about one recording (`/api/v1/recordings/{id}...`: manifest, verify, tracks and
  their peaks, exports, audit, stop, hold, delete) or export job (`/api/v1/exports/{job}...`)
  goes to the node serving it (clusterrecordings.py says which), with the caller's own
  credentials; that node checks them again. One whose node is down and served by nobody is
  503 `node-down`.
- The server's key and ledger (`/api/v1/recordings/public-key`, `/ledger`) are this node's.

Only a caller whose role may use the route has its request sent on (others get the route's
own 401/403 here); a marked request (another node's) is served here, a forged mark 403."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from urllib.parse import parse_qsl, urlencode

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from mediacore.server import clustertrust
from mediacore.server.auth import TokenStore
from mediacore.server.cluster import Cluster
from mediacore.server.clusterforward import (
    ClusterForwarder,
    answer,
    capture,
    header,
    read_body,
    send_reply,
)
from mediacore.server.clusterrecordings import RecordingPlaces
from mediacore.server.guard import bearer_token
from recorder.index import MAX_LIMIT
from recorder.shelf import merge_listings

log = logging.getLogger(__name__)

RECORDINGS = "/api/v1/recordings"
PREFIXES = (RECORDINGS, "/api/v1/exports/")
ONE = re.compile(r"^/api/v1/(recordings|exports)/([^/]+)(/[^/]+)?(?:/.*)?$")
NODE_ROUTES = frozenset({"public-key", "ledger"})  # the node's own: no recording is named so
# The caller's address as the node it asked saw it, on the requests sent on: the per-address
# export limit counts callers, not nodes. Read on marked requests only; a caller's own dropped.
CLIENT = "x-mediacore-client"


def needed(method: str, kind: str, rest: str | None) -> str:
    """The permission the route asks of its caller (api_recordings.py)."""
    if kind == "recordings" and method in ("PATCH", "DELETE") and rest is None:
        return "recordings:admin"
    if kind == "recordings" and method == "POST" and rest == "/stop":
        return "recordings:write"
    return "recordings:read"


class ClusterRecordingRoutes:
    def __init__(
        self, app: ASGIApp, *, cluster: Cluster, tokens: TokenStore, places: RecordingPlaces
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.places = places
        self.me = cluster.node.name
        self.view = cluster.node.view
        self.nodes = ClusterForwarder(
            app,
            node=cluster.node,
            directory=cluster.directory,
            secret=lambda: cluster.secret,
            local=lambda: [],
            client=cluster.client,
            tls=cluster.tls,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIXES):
            await self.app(scope, receive, send)
            return
        mark = header(scope, clustertrust.HEADER)
        if mark is not None:
            if self.nodes.mark_valid(scope, mark):
                client = header(scope, CLIENT)
                await self.app({**scope, "client": (client, 0)} if client else scope, receive, send)
            else:
                detail = "this request's forwarding mark is not valid"
                await answer(send, 403, "forged-forward", detail)
            return
        method, one = scope.get("method", "GET"), ONE.match(path)
        if path == RECORDINGS and method == "GET" and self._may(scope, "recordings:read"):
            await self._every_node(scope, receive, send)
        elif one is not None and one.group(2) not in NODE_ROUTES:
            kind, name, rest = one.groups()
            if self._may(scope, needed(method, kind, rest)):
                await self._to_holder(kind, name, scope, receive, send)
            else:
                await self.app(scope, receive, send)  # its 401 or 403
        else:
            await self.app(scope, receive, send)

    def _may(self, scope: Scope, permission: str) -> bool:
        """Whether the caller may use the route (not a join link: recordings are no room's)."""
        token = bearer_token(scope)
        principal = self.tokens.authenticate(token) if token is not None else None
        return principal is not None and principal.may(permission) and principal.room is None

    async def _to_holder(
        self, kind: str, name: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if kind == "recordings":
            place = await self.places.recording(name)
        else:
            place = self.places.export(name)
        scope = _with_client(scope)
        if place.down:
            await answer(
                send, 503, "node-down", f"{name!r} is on node {place.down!r}, which is down"
            )
        elif place.node is not None:
            body = await read_body(receive)
            await self.nodes.relay(place.node.name, place.node.http, scope, body, send)
        elif place.anywhere:
            await self._look_for(name, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _look_for(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        """A recording whose id names no node (made before the cluster): served by the live
        node that has it (this node's answer when none has)."""
        path = f"{RECORDINGS}/{name}"
        probe = {**scope, "method": "GET", "query_string": b"", "path": path, "raw_path": b""}
        for record in self.view.live():
            if record.name == self.me:
                continue
            try:
                status, _, _ = await self.nodes.ask(record.name, record.http, probe, b"")
            except httpx.HTTPError:
                continue
            if status == 200:
                body = await read_body(receive)
                await self.nodes.relay(record.name, record.http, scope, body, send)
                return
        await self.app(scope, receive, send)

    async def _every_node(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        values = dict(query)
        try:
            limit, offset = int(values.get("limit", 100)), int(values.get("offset", 0))
        except ValueError:
            limit, offset = -1, -1
        if not (1 <= limit <= MAX_LIMIT and offset >= 0):
            await self.app(scope, receive, send)  # the route says what is wrong
            return
        deep = [(k, v) for k, v in query if k not in ("limit", "offset")]
        deep += [("limit", str(min(offset + limit, MAX_LIMIT))), ("offset", "0")]
        scope = {**scope, "query_string": urlencode(deep).encode()}
        status, headers, body = await capture(self.app, scope, receive)
        if status != 200:
            await send_reply(send, status, headers, body)
            return
        pages = [[{**entry, "node": self.me} for entry in json.loads(body)]]
        others = [record for record in self.view.live() if record.name != self.me]
        answers = await asyncio.gather(
            *(self.nodes.ask(r.name, r.http, scope, b"") for r in others), return_exceptions=True
        )
        for record, reply in zip(others, answers, strict=True):
            try:
                if isinstance(reply, BaseException):
                    raise reply
                if reply[0] == 200:
                    pages.append([{**entry, "node": record.name} for entry in json.loads(reply[2])])
            except (httpx.HTTPError, ValueError, TypeError) as error:
                log.warning("recordings of node not listed: %s", error, extra={"node": record.name})
        listed = json.dumps(merge_listings(pages, limit, offset)).encode()
        await send_reply(send, 200, [(b"content-type", b"application/json")], listed)


def _with_client(scope: Scope) -> Scope:
    """`scope` with the caller's address in CLIENT (and no CLIENT of the caller's own)."""
    headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != CLIENT.encode()]
    client = scope.get("client")
    if client:
        headers.append((CLIENT.encode(), str(client[0]).encode("latin-1")))
    return {**scope, "headers": headers}
