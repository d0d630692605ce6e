"""The consoles' pages: the commanders' console (/console/) and the dispatchers' console
(/dispatch/, 调度台) with its script. Served to anyone: their data calls are authenticated."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse


def build_pages_router(static: Path) -> APIRouter:
    router = APIRouter(tags=["console"])

    @router.get("/console/", response_class=FileResponse)
    async def console_page() -> FileResponse:
        """The commanders' console: rooms, roster, join with mic and camera, PTT, actions."""
        return FileResponse(static / "console.html", media_type="text/html")

    @router.get("/dispatch/", response_class=FileResponse)
    async def dispatch_page() -> FileResponse:
        """The dispatchers' console: a seat in one room, every other room with monitor and
        select toggles, level meters and a PTT each; the roster with call, whisper, cut and
        drag-to-move; broadcast, calls, plans, messages and alarms."""
        return FileResponse(static / "dispatch.html", media_type="text/html")

    @router.get("/dispatch/dispatch.js", response_class=FileResponse)
    async def dispatch_script() -> FileResponse:
        return FileResponse(static / "dispatch.js", media_type="text/javascript")

    @router.get("/console/cluster.js", response_class=FileResponse)
    async def cluster_script() -> FileResponse:
        """The consoles' cluster module: a console whose node is gone moves to a live one."""
        return FileResponse(static / "cluster.js", media_type="text/javascript")

    for page in ("/console", "/dispatch"):
        router.add_api_route(page, _to_folder(page), include_in_schema=False)
    return router


def _to_folder(page: str) -> Callable[[Request], Awaitable[RedirectResponse]]:
    """`page` without its slash sends the browser to `page/`, query kept."""

    async def redirect(request: Request) -> RedirectResponse:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"{page}/{query}")

    return redirect
