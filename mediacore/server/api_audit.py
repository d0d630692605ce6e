"""/api/v1/audit: the audit log of control actions, for admins: search it, verify its chain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from mediacore.clock import iso8601
from mediacore.server.auditlog import AuditLog, AuditQuery
from mediacore.server.security import permission

Text = Annotated[str | None, Query(max_length=256)]


def build_audit_router(audit: AuditLog) -> APIRouter:
    router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
    admin = Depends(permission("audit:read"))

    @router.get("", dependencies=[admin])
    async def search(
        since: datetime | None = None,
        until: datetime | None = None,
        who: Text = None,
        action: Text = None,
        room: Text = None,
        recording: Text = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[dict[str, Any]]:
        """Control actions, oldest first: `who` (name or identity), `role`, `address`,
        `action` (method and route), `path`, `room`, `targets`, `result` (HTTP status), and
        the chain fields `seq`, `prev`, `hash`, `sig`. Filters: `since`/`until` (ISO 8601),
        `who`, `action` (a substring, e.g. `recordings`), `room`, `recording` (an id among the
        targets); paging with `limit` and `offset`."""
        query = AuditQuery(
            since=utc_text(since), until=utc_text(until), who=who, action=action, room=room,
            recording=recording, limit=limit, offset=offset,
        )  # fmt: skip
        return await audit.search(query)

    @router.get("/verify", dependencies=[admin])
    async def verify() -> dict[str, Any]:
        """Every line's hash, signature and link: `{"ok", "problems": [{"line", "problem",
        "detail"}], "entries", "head"}` (keep `head`: lines cut off the end leave a valid
        but shorter chain, noticed only against a copy of the head)."""
        report = await audit.verify()
        return {"ok": report.ok, "problems": report.problems, "entries": len(report.entries),
                "head": report.head}  # fmt: skip

    return router


def utc_text(moment: datetime | None) -> str | None:
    """A time as the audit and recordings write it (UTC, milliseconds, Z)."""
    if moment is None:
        return None
    return iso8601(moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment)
