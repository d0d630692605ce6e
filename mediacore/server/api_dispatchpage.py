"""/dispatch/: the dispatchers' console page (调度台) and its script."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse


def build_dispatch_page_router(static: Path) -> APIRouter:
    router = APIRouter(tags=["console"])

    @router.get("/dispatch/", response_class=FileResponse)
    async def dispatch_page() -> FileResponse:
        """The dispatchers' console: a seat in one room, every other room with monitor and
        select toggles, level meters and a PTT each; the roster with call, whisper, cut and
        drag-to-move; broadcast, calls, plans, messages and alarms."""
        return FileResponse(static / "dispatch.html", media_type="text/html")

    @router.get("/dispatch/dispatch.js", response_class=FileResponse)
    async def dispatch_script() -> FileResponse:
        return FileResponse(static / "dispatch.js", media_type="text/javascript")

    @router.get("/dispatch", include_in_schema=False)
    async def dispatch_redirect(request: Request) -> RedirectResponse:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/dispatch/{query}")

    return router
