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

    @router.get("/devices", dependencies=[reader])
    async def list_devices() -> list[dict[str, Any]]:
        """Every device that registered since the server started: `state` online/offline,
        address, DeviceInfo (manufacturer, model, firmware) and `channels` from its catalog
        (id, name, status, address, longitude, latitude)."""
        return _devices(platform)

    @router.get("/devices/{device_id}", dependencies=[reader])
    async def get_device(device_id: str) -> dict[str, Any]:
        found = next((d for d in _devices(platform) if d["id"] == device_id), None)
        if found is None:
            raise ApiError(404, "device-not-found", f"no GB/T 28181 device {device_id[:40]!r}")
        return found

    return router


def _devices(platform: GbPlatform | None) -> list[dict[str, Any]]:
    return platform.describe() if platform is not None else []
