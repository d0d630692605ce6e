"""Where a GB/T 28181 channel playing into a room is: its roster entry's `position`
(longitude, latitude and time of the latest MobilePosition the channel reported, else its
device's own; None before any), read from the subscriber's positions each time the roster is
asked for (ingest.service.IngestService.fields)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ingest.gbnotify import MobilePosition
from ingest.puller import PullTarget

# position_of(device id, channel id): GbSubscriber.channel_position
PositionOf = Callable[[str, str], MobilePosition | None]


def position_fields(position_of: PositionOf) -> Callable[[PullTarget], dict[str, Any]]:
    def fields(target: PullTarget) -> dict[str, Any]:
        device, channel = target.options["device"], target.options["channel"]
        position = position_of(device, channel)
        if position is None:
            return {"position": None}
        return {
            "position": {
                "longitude": position.longitude,
                "latitude": position.latitude,
                "time": position.time,
            }
        }

    return fields
