"""/api/v1/workers: the media worker processes, their rooms, legs, CPU and late ticks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from mediacore.server.security import permission
from mediacore.server.workers import WorkerPool


def build_workers_router(pool: WorkerPool | None) -> APIRouter:
    router = APIRouter(prefix="/api/v1/workers", tags=["workers"])

    @router.get("", dependencies=[Depends(permission("workers:read"))])
    async def workers() -> list[dict[str, Any]]:
        """`[{"id", "pid", "state": "running"|"restarting", "rooms", "legs", "cpu", "late_ticks",
        "link_rejected", "nice", "restarts"}]`: `cpu` in cores over the last two seconds;
        `link_rejected` the cascade link datagrams refused (from no peer shard, or failing SRTP
        checks); `nice` its niceness ([server] media_nice). Empty in single-process mode."""
        if pool is None:
            return []
        await pool.refresh()
        return pool.describe()

    return router
