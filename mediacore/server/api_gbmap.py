"""/console/gbmap.js: the consoles' GB/T 28181 positions panel (位置): device positions drawn
offline from gb.position events, with the latest device alarms."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse


def build_gb_map_router(script: Path) -> APIRouter:
    """`script`: the panel's module, served at /console/gbmap.js to anyone (its data calls
    are authenticated)."""
    router = APIRouter(tags=["console"])

    @router.get("/console/gbmap.js", response_class=FileResponse)
    async def gb_map_module() -> FileResponse:
        """An SVG scatter of device longitude and latitude scaled to the points, live from the
        event stream, and the latest GB/T 28181 alarms; no map tiles."""
        return FileResponse(script, media_type="text/javascript")

    return router
