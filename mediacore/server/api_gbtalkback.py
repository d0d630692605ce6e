"""/api/v1/gb28181/.../broadcast: voice broadcast and talkback with a GB/T 28181 device
(语音广播 / 对讲), the device's speaker and microphone joined to a room (see gbtalkbacks)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from ingest.gbtalkback import TalkbackError
from mediacore.server.errors import ApiError
from mediacore.server.gbtalkbacks import GbTalkbacks
from mediacore.server.security import permission


class BroadcastBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    room: str = Field(min_length=1, max_length=128)
    duplex: Literal["full", "half"] | None = None


def build_gb_talkback_router(talkbacks: GbTalkbacks | None) -> APIRouter:
    """`talkbacks` None: GB/T 28181 is not configured (404 for every device)."""
    router = APIRouter(prefix="/api/v1/gb28181", tags=["gb28181"])
    reader = Depends(permission("rooms:read"))
    speaker = Depends(permission("legs:create"))
    path = "/devices/{device_id}/channels/{channel_id}/broadcast"

    def service() -> GbTalkbacks:
        if talkbacks is None:
            raise ApiError(404, "device-not-found", "GB/T 28181 is not configured")
        return talkbacks

    @router.post(path, status_code=201, dependencies=[speaker])
    async def start_broadcast(device_id: str, channel_id: str, body: BroadcastBody) -> Any:
        """Voice broadcast and talkback: the device (its audio output `channel_id`) is sent a
        Broadcast notify, calls back with its audio, and joins `room` as a participant: it
        hears the room's mix and the room hears its microphone. `duplex` "half" (default
        `[gb28181] talkback_duplex`) puts its voice under the room's floor (VOX). Answers
        `{"id", "device", "channel", "room", "duplex", "state", "participant"}`; 504 when the
        device does not call back, 502 when it refuses, 409 when the channel already talks."""
        try:
            talkback = await service().start(device_id, channel_id, body.room, body.duplex)
        except TalkbackError as error:
            raise ApiError(error.status, error.code, error.detail) from None
        return talkback.describe()

    @router.delete(path, status_code=204, dependencies=[speaker])
    async def stop_broadcast(device_id: str, channel_id: str) -> Response:
        """End the channel's talkback: BYE to the device, which leaves the room."""
        talkback = service().table.find(device_id, channel_id)
        if talkback is None:
            raise ApiError(404, "talkback-not-found", f"channel {channel_id[:40]!r} has none")
        await service().stop(talkback)
        return Response(status_code=204)

    @router.get("/talkbacks", dependencies=[reader])
    async def list_talkbacks() -> list[dict[str, Any]]:
        """The talkbacks on now (inviting or connected)."""
        return talkbacks.describe() if talkbacks is not None else []

    return router
