"""/api/v1/gb28181/upstreams: the upper GB/T 28181 platforms this server registers to as a lower
platform (级联), each with its registration state (registered / failed) and last error."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ingest.gbcascade import GbCascade
from mediacore.server.errors import ApiError
from mediacore.server.security import permission


def build_gb_upstreams_router(cascade: GbCascade | None) -> APIRouter:
    """`cascade` None: no `[[gb28181.upstream]]` is configured, the list is empty."""
    router = APIRouter(prefix="/api/v1/gb28181", tags=["gb28181"])
    reader = Depends(permission("rooms:read"))

    @router.get("/upstreams", dependencies=[reader])
    async def list_upstreams() -> list[dict[str, Any]]:
        """Each upper platform: `server_id`, `name`, `address`, `transport`, `local_id`,
        `state` (idle, registered, failed), `last_error`, `expires_in`, `keepalives`
        answered, `failures` in a row, and the channels it is playing (`plays`)."""
        return cascade.describe() if cascade is not None else []

    @router.get("/upstreams/{server_id}", dependencies=[reader])
    async def get_upstream(server_id: str) -> dict[str, Any]:
        listed = cascade.describe() if cascade is not None else []
        found = next((u for u in listed if u["server_id"] == server_id), None)
        if found is None:
            raise ApiError(404, "upstream-not-found", f"no upper platform {server_id[:40]!r}")
        return found

    @router.get("/upstreams/{server_id}/catalog", dependencies=[reader])
    async def upstream_catalog(server_id: str) -> list[dict[str, Any]]:
        """The channels this upper platform sees in our catalog (id, name, status)."""
        link = cascade.links.get(server_id) if cascade is not None else None
        if cascade is None or link is None:
            raise ApiError(404, "upstream-not-found", f"no upper platform {server_id[:40]!r}")
        return [
            {"id": item.device_id, "name": item.name, "status": item.status}
            for item in cascade.catalog(link.upstream.local_id)
        ]

    return router
