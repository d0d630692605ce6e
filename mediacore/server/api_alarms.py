"""/api/v1/alarms: emergency alarms (mediacore/server/alarms.py), and the console's alarm
module (/console/alarms.js: banner, sound, acknowledge, emergency button)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from mediacore.server.alarmregister import Alarm, AlarmLimit, AlarmState, AlreadyAcknowledged
from mediacore.server.alarms import Alarms
from mediacore.server.auth import Principal
from mediacore.server.errors import ApiError
from mediacore.server.roomerrors import room_errors
from mediacore.server.security import permission

# Raising and acknowledging is the dispatchers' work: admins, commanders and operators (those
# who control participants); every role that reads rooms sees the alarms.
DISPATCHES = "participants:write"
READS = "rooms:read"


class AlarmCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room: str = Field(min_length=1, max_length=128)
    participant: str | None = Field(None, min_length=1, max_length=64)
    text: str | None = Field(None, min_length=1, max_length=500)


def build_alarms_router(alarms: Alarms, script: Path) -> APIRouter:
    """`script`: the console's alarm module, served at /console/alarms.js."""
    router = APIRouter(tags=["alarms"])

    @router.get("/api/v1/alarms")
    async def listing(
        principal: Annotated[Principal, Depends(permission(READS, room_filtered=True))],
        state: Annotated[AlarmState | None, Query()] = None,
        room: Annotated[str | None, Query(max_length=128)] = None,
    ) -> list[dict[str, Any]]:
        """The alarms, newest first, of every room (a join link: its own room's), or of `room`,
        in `state` "active" or "acknowledged" (default both). An alarm: `id, room, participant,
        name, source, text, raised_by, raised_at, last_at, count, state, acknowledged_by,
        acknowledged_at`."""
        if principal.room is not None:
            if room is not None and room != principal.room:
                raise ApiError(403, "forbidden", f"this link is for room {principal.room}")
            room = principal.room
        return [alarm.to_json() for alarm in alarms.entries(state, room)]

    @router.get("/api/v1/alarms/{alarm_id}")
    async def one(
        alarm_id: str,
        principal: Annotated[Principal, Depends(permission(READS, room_filtered=True))],
    ) -> dict[str, Any]:
        return _visible(alarms, alarm_id, principal).to_json()

    @router.post("/api/v1/alarms", status_code=201)
    async def manual(
        body: AlarmCreate,
        response: Response,
        principal: Annotated[Principal, Depends(permission(DISPATCHES, room_filtered=True))],
    ) -> dict[str, Any]:
        """Raise an alarm by hand, about a room and optionally one of its participants, with an
        optional `text`. `201` with the new alarm; `200` with the participant's active alarm
        when it has one (its `count` goes up, as for a repeated emergency press)."""
        if principal.room is not None and body.room != principal.room:
            raise ApiError(403, "forbidden", f"this link is for room {principal.room}")
        try:
            with room_errors():
                alarm, new = await alarms.raise_manual(
                    body.room, body.participant, body.text, principal.name
                )
        except AlarmLimit as error:
            raise ApiError(429, "too-many-alarms", str(error)) from None
        if not new:
            response.status_code = 200
        response.headers["Location"] = f"/api/v1/alarms/{alarm.id}"
        return alarm.to_json()

    @router.post("/api/v1/alarms/{alarm_id}/ack")
    async def acknowledge(
        alarm_id: str,
        principal: Annotated[Principal, Depends(permission(DISPATCHES, room_filtered=True))],
    ) -> dict[str, Any]:
        """Acknowledge an active alarm: its banner and sound stop on every console; who did it
        is kept (`acknowledged_by`), and the request is in the audit log. `409
        already-acknowledged` when someone was first."""
        _visible(alarms, alarm_id, principal)
        try:
            return alarms.acknowledge(alarm_id, principal.name).to_json()
        except AlreadyAcknowledged as error:
            raise ApiError(409, "already-acknowledged", str(error)) from None

    @router.get("/console/alarms.js", tags=["console"], response_class=FileResponse)
    async def console_module() -> FileResponse:
        """The console's alarms: a red banner with an alarm sound per active alarm until it is
        acknowledged, and an emergency button."""
        return FileResponse(script, media_type="text/javascript")

    return router


def _visible(alarms: Alarms, alarm_id: str, principal: Principal) -> Alarm:
    """The alarm, if the principal may see it (a join link: its room's only); else 404."""
    try:
        alarm = alarms.get(alarm_id)
    except KeyError:
        alarm = None
    if alarm is None or (principal.room is not None and alarm.room != principal.room):
        raise ApiError(404, "alarm-not-found", f"no alarm {alarm_id!r}")
    return alarm
