"""Puts every control action in the audit log (auditlog.py): a pure ASGI middleware around the
whole API, so that no route can forget it.

A control action is any request under /api/ with a method other than GET, HEAD and OPTIONS:
creating and closing rooms, kicks, mutes, dial-outs, legs, floor requests, recordings
started, stopped, held, exported and deleted, walls, sources, join links, logins. Refused
ones count too (401, 403, 4xx): who tried is what an audit is for. The principal is found
from the request's token as the guard found it (for a login, the account that logged in, which
the route leaves in the request's state); the route and its ids from what the router leaves
in the scope; an id the answer names (a new recording, participant, export) from the first
bytes of a JSON answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediacore.clock import iso8601
from mediacore.server.auditlog import AuditLog
from mediacore.server.auth import Principal, TokenStore
from mediacore.server.guard import bearer_token

# The state key a route sets to the principal a request without a token turned out to be.
AUDIT_PRINCIPAL = "audit_principal"
READS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_ANSWER_BYTES = 4096  # enough for an answer's "id" and "room"; the rest is not kept
ROOMS_ROUTE = "/api/v1/rooms"  # a room created: the answer's "name" is the room


def is_control_action(scope: Scope) -> bool:
    return (
        scope["type"] == "http"
        and scope["path"].startswith("/api/")
        and scope.get("method") not in READS
    )


class AuditTrail:
    def __init__(self, app: ASGIApp, *, audit: AuditLog, tokens: TokenStore) -> None:
        self.app = app
        self.audit = audit
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_control_action(scope):
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        principal = self.tokens.authenticate(token) if token else None
        status = 500  # unless an answer starts: the app raised
        answer = bytearray()
        json_answer = False

        async def sending(message: Message) -> None:
            nonlocal status, json_answer
            if message["type"] == "http.response.start":
                status = int(message["status"])
                content_type = dict(message.get("headers", ())).get(b"content-type", b"")
                json_answer = content_type.startswith(b"application/json")
            elif message["type"] == "http.response.body" and json_answer:
                answer.extend(message.get("body", b"")[: MAX_ANSWER_BYTES - len(answer)])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            principal = principal or (scope.get("state") or {}).get(AUDIT_PRINCIPAL)
            entry = audit_entry(scope, principal, status, bytes(answer))
            self.audit.record(entry, anonymous=principal is None)


def audit_entry(
    scope: Scope, principal: Principal | None, status: int, answer: bytes
) -> dict[str, Any]:
    """The audit entry of one finished request (see auditlog.py for its fields)."""
    route = getattr(scope.get("route"), "path", None) or scope["path"]
    params = {str(k): str(v) for k, v in (scope.get("path_params") or {}).items()}
    room = params.pop("room", None)
    named = _answer_ids(answer) if 200 <= status < 300 else {}
    if route == ROOMS_ROUTE and "name" in named:
        named["room"] = named["name"]
    if named.get("id") and named["id"] not in params.values():
        params["id"] = named["id"]
    client = scope.get("client")
    return {
        "at": iso8601(datetime.now(UTC)),
        "who": principal.name if principal else None,
        "identity": principal.identity if principal else None,
        "role": principal.role if principal else None,
        "address": client[0] if client else None,
        "action": f"{scope.get('method')} {route}",
        "path": scope["path"][:512],
        "room": room or named.get("room"),
        "targets": params,
        "result": status,
    }


def _answer_ids(answer: bytes) -> dict[str, str]:
    """The "id" and "room" a JSON object answer names (strings only), if it fit."""
    try:
        data = json.loads(answer)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: data[k][:128] for k in ("id", "room", "name") if isinstance(data.get(k), str)}
