"""/api/v1/rooms/{room}/announcements and /api/v1/announcements/files: play an uploaded file or
text-to-speech into a room (mediacore/server/announcements.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from mediacore.server.announcefiles import FileTooLarge
from mediacore.server.announcements import AnnouncementRequest, Announcements
from mediacore.server.auth import Principal
from mediacore.server.clips import ClipError
from mediacore.server.errors import ApiError
from mediacore.server.linklegs import LinkLegs
from mediacore.server.roomerrors import room_errors
from mediacore.server.security import permission
from mediacore.server.speech import MAX_TEXT, SpeechError, guess_lang

FILES_PATH = "/api/v1/announcements/files"
# Starting, stopping and uploading is for those who add legs to rooms: admins, commanders and
# operators (and an operator's join link, in its own room).
PLAYS = "legs:create"


class AnnouncementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, max_length=MAX_TEXT)
    lang: Literal["zh", "en"] | None = None  # default: "zh" when the text holds Chinese
    file: str | None = Field(None, min_length=1, max_length=255)
    priority: int = Field(2, ge=0, le=3)
    name: str = Field("announcement", min_length=1, max_length=128)


def build_announcements_router(announcements: Announcements, link_legs: LinkLegs) -> APIRouter:
    """`link_legs` learns the announcements join links start, to stop them when the link ends."""
    router = APIRouter(tags=["announcements"])
    player = Depends(permission(PLAYS))

    @router.post("/api/v1/rooms/{room}/announcements", status_code=201)
    async def start(
        room: str,
        body: AnnouncementCreate,
        response: Response,
        principal: Annotated[Principal, Depends(permission(PLAYS))],
    ) -> dict[str, Any]:
        """Play `{"file": name}` (an uploaded file) or `{"text": ..., "lang": "zh"|"en"}`
        (espeak-ng speech; `lang` defaults to zh when the text holds Chinese, else en) into
        the room. It joins as a participant of kind "announcement" that talks only, asks the
        floor at `priority` (default 2; capped by role like a floor request: operators 2,
        commanders and admins 3), and leaves once played. Answers `{"id", "room", "name",
        "source", "duration_s", "priority"}`; events `announcement.started`,
        `announcement.progress` (about once a second) and `announcement.finished` with
        `reason` "played", "stopped", "room-closed" or "worker-lost"."""
        if (body.file is None) == (body.text is None):
            raise ApiError(400, "bad-announcement", "give either a file or a text")
        if body.priority > principal.floor_priority:
            raise ApiError(
                403,
                "priority-too-high",
                f"role {principal.role!r} may announce at priority "
                f"{principal.floor_priority} at most",
            )
        lang = body.lang or guess_lang(body.text or "")
        request = AnnouncementRequest(body.file, body.text, lang, body.priority, body.name)
        try:
            with room_errors(full="room-full"):
                started = await announcements.start(room, request)
        except KeyError:
            raise ApiError(404, "file-not-found", f"no announcement file {body.file!r}") from None
        except SpeechError as error:
            status = 503 if error.unavailable else 500
            raise ApiError(status, "speech-failed", str(error)) from None
        except ClipError as error:
            raise ApiError(400, "bad-audio", str(error)) from None
        except ValueError as error:  # the text (RoomError, a ValueError too, is caught above)
            raise ApiError(400, "bad-text", str(error)) from None
        link_legs.record(principal, started["id"])
        response.headers["Location"] = f"/api/v1/rooms/{room}/announcements/{started['id']}"
        return started

    @router.get(
        "/api/v1/rooms/{room}/announcements", dependencies=[Depends(permission("rooms:read"))]
    )
    async def running(room: str) -> list[dict[str, Any]]:
        """The announcements playing in the room: `id`, `name`, `source`, `position_s`,
        `duration_s`, `priority`, `has_floor`, `level_db`."""
        with room_errors():
            return await announcements.entries(room)

    @router.delete(
        "/api/v1/rooms/{room}/announcements/{announcement}", status_code=204, dependencies=[player]
    )
    async def stop(room: str, announcement: str) -> Response:
        """Stop it now: `announcement.finished` with reason "stopped"."""
        try:
            with room_errors():
                await announcements.stop(room, announcement)
        except KeyError:
            raise ApiError(
                404, "announcement-not-found", f"no announcement {announcement!r} in {room!r}"
            ) from None
        return Response(status_code=204)

    @router.post(FILES_PATH, status_code=201, dependencies=[player])
    async def upload(
        request: Request, name: Annotated[str, Query(min_length=1, max_length=255)]
    ) -> dict[str, Any]:
        """Upload an audio file as the raw request body (`?name=siren.mp3`; up to 20 MiB, at
        most 10 minutes; anything FFmpeg decodes as audio: WAV, MP3, OGG, FLAC, M4A...). The
        name is cleaned (letters, digits, ' ', '-', '_', '.'); a file of that name is
        replaced. Answers `{"name", "bytes", "modified", "duration_s"}`."""
        try:
            return await announcements.files.save(name, request.stream())
        except FileTooLarge as error:
            raise ApiError(413, "too-large", str(error)) from None
        except ClipError as error:
            raise ApiError(400, "bad-audio", str(error)) from None
        except ValueError as error:
            raise ApiError(400, "bad-name", str(error)) from None

    @router.get(FILES_PATH, dependencies=[player])
    async def files() -> list[dict[str, Any]]:
        """The uploaded files: `name`, `bytes`, `modified`."""
        return announcements.files.entries()

    @router.delete(FILES_PATH + "/{name}", status_code=204, dependencies=[player])
    async def delete_file(name: str) -> Response:
        try:
            announcements.files.delete(name)
        except KeyError:
            raise ApiError(404, "file-not-found", f"no announcement file {name!r}") from None
        return Response(status_code=204)

    return router
