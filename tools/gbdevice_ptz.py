"""The simulated device's pan-tilt-zoom head (云台): what a GB/T 28181 device does with the
DeviceControl/PTZCmd and PresetQuery MESSAGEs a platform sends it.

Every PTZCmd received is decoded and kept (`received`, and a log line), presets are set,
called and deleted per channel, and a PresetQuery is answered with the channel's presets.
`refuse` makes it answer every control with that SIP status; `silent` makes it answer nothing
(for tests of a device that refuses, or does not answer).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ingest.gbptz import PRESET_CALL, PRESET_DELETE, PRESET_SET, PtzCommand, PtzError, parse_ptz
from ingest.manscdp import DeviceControl, PresetItem, PresetQuery, PresetResponse

log = logging.getLogger("gbdevice")


@dataclass(frozen=True, slots=True)
class ReceivedPtz:
    channel: str
    text: str  # the PTZCmd as it arrived
    command: PtzCommand


@dataclass
class SimulatedPtz:
    """`channels`: the ids a control may name (the device's own id included)."""

    channels: frozenset[str]
    received: list[ReceivedPtz] = field(default_factory=list)
    presets: dict[str, dict[int, str]] = field(default_factory=dict)  # channel -> number -> name
    called: dict[str, int] = field(default_factory=dict)  # channel -> the last preset called
    refuse: int | None = None
    silent: bool = False

    def status(self, message: DeviceControl | PresetQuery) -> int | None:
        """The SIP status to answer the MESSAGE with; None: answer nothing."""
        if self.silent:
            return None
        if self.refuse is not None:
            return self.refuse
        if message.device_id not in self.channels:
            return 404
        if isinstance(message, DeviceControl):
            try:
                parse_ptz(message.ptz_cmd)
            except PtzError:
                return 400
        return 200

    def handle(self, message: DeviceControl | PresetQuery) -> PresetResponse | None:
        """Apply an accepted message; returns the MESSAGE to send back, if any."""
        channel = message.device_id
        if isinstance(message, PresetQuery):
            presets = self.presets.get(channel, {})
            items = tuple(PresetItem(number, presets[number]) for number in sorted(presets))
            return PresetResponse(channel, message.sn, items)
        command = parse_ptz(message.ptz_cmd)
        self.received.append(ReceivedPtz(channel, message.ptz_cmd, command))
        log.info("PTZ %s on %s: %s", message.ptz_cmd, channel, command.action)
        number = command.preset
        if number is not None:
            presets = self.presets.setdefault(channel, {})
            if command.code == PRESET_SET:
                presets[number] = f"预置位{number}"
            elif command.code == PRESET_DELETE:
                presets.pop(number, None)
            elif command.code == PRESET_CALL and number in presets:
                self.called[channel] = number
        return None

    def commands(self, channel: str | None = None) -> list[str]:
        """The PTZCmd texts received (on `channel`), in order."""
        return [r.text for r in self.received if channel is None or r.channel == channel]
