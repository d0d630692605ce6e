"""Registered GB/T 28181 devices: registration, keepalive liveness and channel catalogs.

No I/O and no clock: every call takes `now` (monotonic seconds) and returns the state changes
it caused, for the caller to publish as `gb.device` events. A device is `online` from a
successful REGISTER until it unregisters (Expires 0), its registration expires, or
`misses` keepalive intervals pass without a Keepalive MESSAGE; a keepalive while still
registered brings an offline device back online.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ingest.manscdp import CatalogItem, CatalogResponse, DeviceInfoResponse
from sip.transaction import Peer

DeviceState = Literal["online", "offline"]
MAX_DEVICES = 10_000
MAX_CHANNELS = 4096


@dataclass(frozen=True, slots=True)
class DeviceChange:
    """A device went online or offline; `reason` says why (registered, keepalive-timeout...)."""

    device_id: str
    state: DeviceState
    reason: str


@dataclass(slots=True)
class GbDevice:
    id: str
    source: Peer  # where its REGISTER came from: our requests go there (NAT, TCP connection)
    contact: str
    expires_at: float
    last_keepalive: float
    registered_at: float  # wall clock, for the API
    name: str = ""
    user_agent: str = ""
    state: DeviceState = "online"
    info: DeviceInfoResponse | None = None
    channels: dict[str, CatalogItem] = field(default_factory=dict)
    catalog_total: int | None = None

    def describe(self, now: float) -> dict[str, Any]:
        info = self.info
        return {
            "id": self.id,
            "name": self.name or (info.device_name if info else ""),
            "state": self.state,
            "online": self.state == "online",
            "transport": self.source.transport,
            "address": f"{self.source.host}:{self.source.port}",
            "expires_in": max(0, round(self.expires_at - now)),
            "last_keepalive_ago": round(max(0.0, now - self.last_keepalive), 1),
            "user_agent": self.user_agent,
            "manufacturer": info.manufacturer if info else "",
            "model": info.model if info else "",
            "firmware": info.firmware if info else "",
            "channels": [
                {
                    "id": item.device_id,
                    "name": item.name,
                    "status": item.status,
                    "manufacturer": item.manufacturer,
                    "model": item.model,
                    "address": item.address,
                    "civil_code": item.civil_code,
                    "longitude": item.longitude,
                    "latitude": item.latitude,
                }
                for item in self.channels.values()
            ],
        }


class GbDeviceTable:
    """The devices this platform knows, by 20-digit id."""

    def __init__(self, keepalive_interval: float = 60.0, misses: int = 3) -> None:
        self.keepalive_interval = keepalive_interval
        self.misses = misses
        self.devices: dict[str, GbDevice] = {}

    def get(self, device_id: str) -> GbDevice | None:
        return self.devices.get(device_id)

    def is_online(self, device_id: str) -> bool:
        device = self.devices.get(device_id)
        return device is not None and device.state == "online"

    def held_elsewhere(self, device_id: str, source: Peer, now: float) -> bool:
        """Whether `device_id` is live (online, unexpired) at another transport, address or
        port than `source`: a REGISTER from `source` would take the device over."""
        device = self.devices.get(device_id)
        if device is None or device.state != "online" or device.expires_at <= now:
            return False
        return device.source != source

    def register(
        self,
        device_id: str,
        *,
        expires: int,
        source: Peer,
        contact: str,
        now: float,
        wall_now: float,
        name: str = "",
        user_agent: str = "",
    ) -> list[DeviceChange]:
        """Apply an authenticated REGISTER; `expires` 0 unregisters. Returns the changes.
        A device new to the table past MAX_DEVICES is not added (nothing changes)."""
        device = self.devices.get(device_id)
        if expires <= 0:
            if device is None or device.state == "offline":
                return []
            device.state = "offline"
            device.expires_at = now
            return [DeviceChange(device_id, "offline", "unregistered")]
        if device is None:
            if len(self.devices) >= MAX_DEVICES:
                return []
            device = GbDevice(
                device_id, source, contact, now + expires, now, wall_now, name, user_agent[:100]
            )
            self.devices[device_id] = device
            return [DeviceChange(device_id, "online", "registered")]
        was = device.state
        device.source, device.contact = source, contact
        device.expires_at = now + expires
        device.last_keepalive = now
        device.registered_at = wall_now
        device.user_agent = user_agent[:100]
        device.name = name or device.name
        device.state = "online"
        return [] if was == "online" else [DeviceChange(device_id, "online", "registered")]

    def restore(self, device: GbDevice) -> bool:
        """Add a device kept from an earlier run (ingest.gbstore), unless the table already
        has it or is full; its channels past MAX_CHANNELS are dropped."""
        if device.id in self.devices or len(self.devices) >= MAX_DEVICES:
            return False
        if len(device.channels) > MAX_CHANNELS:
            kept = list(device.channels.items())[:MAX_CHANNELS]
            device.channels = dict(kept)
        self.devices[device.id] = device
        return True

    def forget(self, device_id: str) -> bool:
        """Remove an offline device (it is added again when it registers); False when the
        table does not hold it or it is online."""
        device = self.devices.get(device_id)
        if device is None or device.state == "online":
            return False
        del self.devices[device_id]
        return True

    def keepalive(self, device_id: str, source: Peer, now: float) -> list[DeviceChange] | None:
        """A Keepalive MESSAGE; None when the device is not registered (answer it 403 so it
        registers again), else the changes (back online)."""
        device = self.devices.get(device_id)
        if device is None or device.expires_at <= now or device.source.host != source.host:
            return None
        device.last_keepalive = now
        device.source = source  # a UDP device behind NAT may come from a new port
        if device.state == "offline":
            device.state = "online"
            return [DeviceChange(device_id, "online", "keepalive")]
        return []

    def check(self, now: float) -> list[DeviceChange]:
        """Devices whose registration expired or whose keepalives stopped go offline."""
        changes: list[DeviceChange] = []
        silence = self.keepalive_interval * self.misses
        for device in self.devices.values():
            if device.state != "online":
                continue
            if device.expires_at <= now:
                reason = "registration-expired"
            elif now - device.last_keepalive > silence:
                reason = "keepalive-timeout"
            else:
                continue
            device.state = "offline"
            changes.append(DeviceChange(device.id, "offline", reason))
        return changes

    def catalog(self, response: CatalogResponse) -> bool:
        """Merge one Catalog response MESSAGE; False if the device is unknown."""
        device = self.devices.get(response.device_id)
        if device is None:
            return False
        device.catalog_total = response.sum_num
        for item in response.items:
            if item.device_id in device.channels or len(device.channels) < MAX_CHANNELS:
                device.channels[item.device_id] = item
        return True

    def device_info(self, response: DeviceInfoResponse) -> bool:
        device = self.devices.get(response.device_id)
        if device is None:
            return False
        device.info = response
        return True

    def describe(self, now: float) -> list[dict[str, Any]]:
        return [device.describe(now) for device in self.devices.values()]
