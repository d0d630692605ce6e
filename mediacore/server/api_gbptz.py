"""/api/v1/gb28181/devices/{id}/channels/{ch}/ptz and /presets: steering GB/T 28181 cameras
(云台控制, 预置位), and the console's camera pad (/console/camerapad.js).

Steering is `cameras:control` (admins, commanders, operators); the preset list is a read.
Every command is a `gb.ptz` event; the audit trail records the request as it does every
control action."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.responses import FileResponse

from ingest.gbcamera import GbCameraControl, GbControlError
from ingest.gbptz import ptz_request
from mediacore.events import EventBus
from mediacore.server.auth import Principal
from mediacore.server.errors import ApiError
from mediacore.server.security import permission

CONTROLS = "cameras:control"
READS = "rooms:read"
_STATUS = {
    "unknown-device": (404, "device-not-found"),
    "unknown-channel": (404, "channel-not-found"),
    "offline": (409, "device-offline"),
    "refused": (502, "device-refused"),
    "timeout": (504, "device-timeout"),
}


def build_gbptz_router(camera: GbCameraControl | None, bus: EventBus, script: Path) -> APIRouter:
    """`camera` None: GB/T 28181 is not configured, every device is unknown (404)."""
    router = APIRouter(tags=["gb28181"])
    prefix = "/api/v1/gb28181/devices/{device_id}/channels/{channel_id}"

    @router.post(f"{prefix}/ptz")
    async def ptz(
        device_id: str,
        channel_id: str,
        principal: Annotated[Principal, Depends(permission(CONTROLS))],
        body: Annotated[dict[str, Any], Body()],
    ) -> dict[str, Any]:
        """Steer a camera: `{"action", "speed", "preset"}`. Actions: stop, left, right, up,
        down, up_left, up_right, down_left, down_right, zoom_in, zoom_out, focus_near,
        focus_far, iris_open, iris_close (at `speed` 0-255, default 128; a move goes on until
        `stop`), preset_set, preset_call, preset_delete (`preset` 1-255). Answers the PTZCmd
        sent (`command`, 16 hex digits). 400 bad action, speed or preset; 404 unknown device
        or channel; 409 device offline; 502 the device refused; 504 it did not answer."""
        try:
            command = ptz_request(body)
        except ValueError as error:
            raise ApiError(400, "invalid-ptz", str(error)) from None
        if camera is None:
            raise ApiError(404, "device-not-found", "GB/T 28181 is not configured")
        try:
            text = await camera.ptz(device_id, channel_id, command)
        except GbControlError as error:
            raise _api_error(error) from None
        said = {"action": command.action, "command": text, "preset": command.preset}
        bus.publish(
            "gb.ptz",
            None,
            device=device_id,
            channel=channel_id,
            speed=body.get("speed"),
            by=principal.name,
            **said,
        )
        return {"device": device_id, "channel": channel_id, **said}

    @router.get(f"{prefix}/presets", dependencies=[Depends(permission(READS))])
    async def presets(device_id: str, channel_id: str) -> list[dict[str, Any]]:
        """The camera's presets, asked from the device (PresetQuery): `[{"id", "name"}]`.
        404 unknown device or channel; 409 offline; 502 refused; 504 no answer."""
        if camera is None:
            raise ApiError(404, "device-not-found", "GB/T 28181 is not configured")
        try:
            items = await camera.presets(device_id, channel_id)
        except GbControlError as error:
            raise _api_error(error) from None
        return [{"id": item.preset_id, "name": item.name} for item in items]

    @router.get("/console/camerapad.js", tags=["console"], response_class=FileResponse)
    async def camera_pad() -> FileResponse:
        """The console's camera pad: arrows, zoom and presets for a GB/T 28181 channel."""
        return FileResponse(script, media_type="text/javascript")

    return router


def _api_error(error: GbControlError) -> ApiError:
    status, code = _STATUS.get(error.kind, (502, "device-error"))
    return ApiError(status, code, error.detail)
