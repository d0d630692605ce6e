"""/api/v1/gb28181: GB/T 28181 (国标) devices registered to this server, and their channels.

A channel is played into a room as a field source: POST /api/v1/rooms/{room}/sources with
`{"url": "gb28181://<device id>/<channel id>"}` (see api_sources)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ingest.gbplatform import GbPlatform
from mediacore.server.errors import ApiError
from mediacore.server.security import permission


def build_gb28181_router(platform: GbPlatform | None) -> APIRouter:
    """`platform` None: GB/T 28181 is not configured, the device list is empty."""
    router = APIRouter(prefix="/api/v1/gb28181", tags=["gb28181"])
    reader = Depends(permission("rooms:read"))
    writer = Depends(permission("rooms:write"))  # the registry: forgetting a device

    @router.get("/devices", dependencies=[reader])
    async def list_devices() -> list[dict[str, Any]]:
        """Every device of the registry (kept across restarts): `state` online/offline,
        address, DeviceInfo (manufacturer, model, firmware) and `channels` from its catalog
        (id, name, status, address, longitude, latitude)."""
        return _devices(platform)

    @router.get("/devices/{device_id}", dependencies=[reader])
    async def get_device(device_id: str) -> dict[str, Any]:
        return _device(platform, device_id)

    @router.delete("/devices/{device_id}", status_code=204, dependencies=[writer])
    async def forget_device(device_id: str) -> None:
        """Remove an offline device (and its channels) from the registry kept across
        restarts; it is listed again when it registers. An online device is a 409."""
        _device(platform, device_id)  # 404 when unknown
        if platform is not None and not platform.forget(device_id):
            raise ApiError(409, "device-online", f"GB/T 28181 device {device_id} is online")

    return router


def _devices(platform: GbPlatform | None) -> list[dict[str, Any]]:
    return platform.describe() if platform is not None else []


def _device(platform: GbPlatform | None, device_id: str) -> dict[str, Any]:
    found = next((d for d in _devices(platform) if d["id"] == device_id), None)
    if found is None:
        raise ApiError(404, "device-not-found", f"no GB/T 28181 device {device_id[:40]!r}")
    return found
