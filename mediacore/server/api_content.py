"""/api/v1/rooms/{room}/content: the room's shared content (双流), read and stopped.

A browser starts sharing on its signalling socket ("share", webrtc/signalling.py); operators
see who shares and may stop it here (the sharer's console is told by `content.stopped`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import FileResponse

from mediacore.server.auth import Principal
from mediacore.server.errors import ApiError
from mediacore.server.roomcontent import RoomContent
from mediacore.server.security import permission

STOP = "participants:write"


def build_content_router(
    content: RoomContent, room_open: Callable[[str], bool], script: Path
) -> APIRouter:
    """`room_open(name)` says whether room `name` is open; `script` is the console's sharing
    module, served at /console/contentshare.js."""
    router = APIRouter(tags=["video"])
    path = "/api/v1/rooms/{room}/content"

    def check_room(room: str) -> None:
        if not room_open(room):
            raise ApiError(404, "room-not-found", f"no room named {room!r}")

    @router.get(path, dependencies=[Depends(permission("rooms:read"))])
    async def current(room: str) -> dict[str, Any]:
        """`{"content": {"participant", "source", "name", "since", "live"}}`, or
        `{"content": null}` when nobody shares."""
        check_room(room)
        share = content.current(room)
        return {"content": None if share is None else share.to_json()}

    @router.delete(path, status_code=204)
    async def stop(
        room: str, principal: Annotated[Principal, Depends(permission(STOP))]
    ) -> Response:
        """Stop the room's content share: event `content.stopped` with reason "stopped" and
        `by` the operator. 404 `no-content` when nobody shares."""
        check_room(room)
        if content.stop(room, "stopped", by=principal.name) is None:
            raise ApiError(404, "no-content", f"nobody shares content in room {room!r}")
        return Response(status_code=204)

    @router.get("/console/contentshare.js", tags=["console"], response_class=FileResponse)
    async def console_module() -> FileResponse:
        """The console's "Share screen" button and the shared content's video."""
        return FileResponse(script, media_type="text/javascript")

    return router
