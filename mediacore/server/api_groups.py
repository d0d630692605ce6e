"""/api/v1/groups and /api/v1/rooms/{room}/dials: plans (预案) and their group dials.

`POST /rooms/{room}/dial {"group": name}` itself is in api_sip.py, beside the `{"uri"}` form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from mediacore.server.dialjob import DialJob
from mediacore.server.errors import ApiError
from mediacore.server.groupdials import GroupDials
from mediacore.server.groups import MAX_MEMBERS, GroupError
from mediacore.server.security import permission

# Who may see and dial groups: those who add legs (admins, commanders, operators); who may
# define them: admins and commanders (groups:write).
DIALS = "legs:create"
EDITS = "groups:write"
GroupName = Annotated[str, Path(min_length=1, max_length=64)]


class GroupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    members: list[str] = Field(
        max_length=MAX_MEMBERS,
        description="parties: sip:/sips:/tel: URIs, [[sip.users]] names, numbers (through the "
        "first [[sip.trunks]]), radio:<gateway>",
    )
    retries: int | None = Field(None, description="more attempts after busy/no-answer/failed")
    retry_delay_s: float | None = None
    ring_timeout_s: float | None = None


def group_errors(error: GroupError) -> ApiError:
    return ApiError(error.status, error.code, str(error))


def build_groups_router(dials: GroupDials) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["dispatch"])
    groups = dials.groups
    dialler = Depends(permission(DIALS))
    editor = Depends(permission(EDITS))

    @router.get("/groups", dependencies=[dialler])
    async def all_groups() -> list[dict[str, Any]]:
        """Every group: `name`, `members`, `retries`, `retry_delay_s`, `ring_timeout_s` (null:
        `[sip] ring_timeout`) and `source` ("config": read-only here, or "api")."""
        return [group.to_json() for group in groups.all()]

    @router.get("/groups/{name}", dependencies=[dialler])
    async def one_group(name: GroupName) -> dict[str, Any]:
        group = groups.get(name)
        if group is None:
            raise ApiError(404, "group-not-found", f"no group named {name!r}")
        return group.to_json()

    @router.put("/groups/{name}", dependencies=[editor])
    async def put_group(name: GroupName, body: GroupBody, response: Response) -> dict[str, Any]:
        """Create or replace a group (201 when new). Every member must name something: a
        well-formed URI, a configured SIP user, a number with a trunk configured, a configured
        radio gateway; else 400 `bad-members`. A `[[dispatch.groups]]` group is 409."""
        fields = body.model_dump(exclude_none=True)
        try:
            group, new = groups.put(name, fields)
        except GroupError as error:
            raise group_errors(error) from None
        if new:
            response.status_code = 201
        return group.to_json()

    @router.delete("/groups/{name}", status_code=204, dependencies=[editor])
    async def delete_group(name: GroupName) -> Response:
        try:
            groups.delete(name)
        except GroupError as error:
            raise group_errors(error) from None
        return Response(status_code=204)

    @router.get("/rooms/{room}/dials", dependencies=[Depends(permission("rooms:read"))])
    async def room_dials(room: str) -> list[dict[str, Any]]:
        """The room's group dials, running and recently finished."""
        return [job.to_json() for job in dials.in_room(room)]

    @router.get("/rooms/{room}/dials/{job}", dependencies=[Depends(permission("rooms:read"))])
    async def one_dial(room: str, job: str) -> dict[str, Any]:
        """A group dial's live state: `id`, `room`, `group`, `by`, `state` ("running",
        "finished", "cancelled"), `members` (`party`, `state`, `attempt`, `participant`,
        `reason`, `status`, `already`) and `summary` (members by state)."""
        return _job(dials, room, job).to_json()

    @router.delete("/rooms/{room}/dials/{job}", dependencies=[dialler])
    async def cancel_dial(room: str, job: str) -> dict[str, Any]:
        """Cancel it: calls still ringing are hung up (CANCEL), retries stop, the members not
        answered end "cancelled"; answered ones stay in the room. Answers the final state."""
        found = _job(dials, room, job)
        await found.cancel()
        return found.to_json()

    return router


def _job(dials: GroupDials, room: str, job: str) -> DialJob:
    found = dials.get(room, job)
    if found is None:
        raise ApiError(404, "dial-not-found", f"no group dial {job!r} in room {room!r}")
    return found
