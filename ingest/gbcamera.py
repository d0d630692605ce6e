"""Steering the cameras of registered GB/T 28181 devices: PTZ commands and presets (云台控制,
预置位), through the platform's MESSAGE requests.

A PTZ command is a DeviceControl MESSAGE to the device whose DeviceID is the channel; the
device's 200 OK is the answer (the standard has no Response for PTZ). A preset list is a
PresetQuery answered 200, then by a Response/PresetQuery MESSAGE of the device's own, matched
here by the device that sends it and the SN (devices differ on the DeviceID they write).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets

from ingest.gbplatform import GbPlatform
from ingest.gbptz import PtzCommand, encode_ptz
from ingest.manscdp import (
    DeviceControl,
    DeviceControlResponse,
    ManscdpMessage,
    PresetItem,
    PresetQuery,
    PresetResponse,
)

log = logging.getLogger(__name__)

PRESET_TIMEOUT = 5.0  # the device's PresetQuery response after its 200 OK


class GbControlError(Exception):
    """A camera cannot be steered: `kind` is unknown-device, unknown-channel, offline,
    refused (the device answered `status` >= 300) or timeout."""

    def __init__(self, kind: str, detail: str, status: int = 0) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.status = status


class GbCameraControl:
    """PTZ and presets for the channels of `platform`'s devices."""

    def __init__(self, platform: GbPlatform) -> None:
        self.platform = platform
        # SNs of our own, from a random start: a device's replies are matched by device and SN
        self._sn = itertools.count(secrets.randbelow(1 << 20) + 1)
        self._waiting: dict[tuple[str, int], asyncio.Future[PresetResponse]] = {}
        platform.listeners.append(self._received)

    def check(self, device_id: str, channel_id: str) -> None:
        """Raises GbControlError unless the channel is in the catalog of an online device (a
        device may also be steered as its own channel, as single cameras register)."""
        device = self.platform.devices.get(device_id)
        if device is None:
            raise GbControlError("unknown-device", f"no GB/T 28181 device {device_id[:40]!r}")
        if channel_id != device_id and channel_id not in device.channels:
            raise GbControlError(
                "unknown-channel", f"device {device_id} has no channel {channel_id[:40]!r}"
            )
        if device.state != "online":
            raise GbControlError("offline", f"GB/T 28181 device {device_id} is offline")

    async def ptz(self, device_id: str, channel_id: str, command: PtzCommand) -> str:
        """Send `command` to the camera; returns its PTZCmd text. Raises GbControlError."""
        self.check(device_id, channel_id)
        text = encode_ptz(command)
        await self._send(device_id, DeviceControl(channel_id, next(self._sn), text))
        return text

    async def presets(self, device_id: str, channel_id: str) -> list[PresetItem]:
        """The camera's presets, from a PresetQuery. Raises GbControlError (timeout when the
        device accepts the query but sends no list in PRESET_TIMEOUT)."""
        self.check(device_id, channel_id)
        sn = next(self._sn)
        future: asyncio.Future[PresetResponse] = asyncio.get_running_loop().create_future()
        self._waiting[(device_id, sn)] = future
        try:
            await self._send(device_id, PresetQuery(channel_id, sn))
            try:
                response = await asyncio.wait_for(future, PRESET_TIMEOUT)
            except TimeoutError:
                raise GbControlError(
                    "timeout", f"device {device_id} sent no preset list for {channel_id}"
                ) from None
        finally:
            self._waiting.pop((device_id, sn), None)
        return list(response.items)

    async def _send(self, device_id: str, message: ManscdpMessage) -> None:
        status = await self.platform.send_manscdp(device_id, message)
        if status == 408:
            raise GbControlError("timeout", f"device {device_id} did not answer", status)
        if status >= 300:
            raise GbControlError("refused", f"device {device_id} answered {status}", status)

    def _received(self, device_id: str, message: ManscdpMessage) -> None:
        if isinstance(message, DeviceControlResponse) and message.result != "OK":
            # PTZ has no Response in the standard, but some devices send one when they fail
            log.info(
                "gb28181 device control failed",
                extra={"device": device_id, "channel": message.device_id, "sn": message.sn},
            )
        if isinstance(message, PresetResponse):
            future = self._waiting.get((device_id, message.sn))
            if future is not None and not future.done():
                future.set_result(message)
