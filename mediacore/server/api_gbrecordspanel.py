"""/console/gbrecords.js: the consoles' GB/T 28181 record search panel (录像检索): a channel's
recordings listed by time range, played into the console's room and steered."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse


def build_gb_records_panel_router(script: Path) -> APIRouter:
    """`script`: the panel's module, served at /console/gbrecords.js to anyone (its data calls
    are authenticated)."""
    router = APIRouter(tags=["console"])

    @router.get("/console/gbrecords.js", response_class=FileResponse)
    async def gb_records_module() -> FileResponse:
        """Record search for the camera pad's channel, "play into this room", pause, resume
        and speed of the recording played."""
        return FileResponse(script, media_type="text/javascript")

    return router
