"""The PTZ command (云台控制指令) of GB/T 28181-2016 annex A.3: 8 bytes, sent as 16 hex digits
in the `<PTZCmd>` of a MANSCDP DeviceControl.

    byte 1  0xA5
    byte 2  high nibble: version (0); low nibble: (byte1 high + byte1 low + byte2 high) % 16
    byte 3  address, low 8 bits
    byte 4  the instruction: 0b00ZZTTPP pan/tilt/zoom (A.3.2), 0x4_ focus/iris (A.3.3),
            0x81/0x82/0x83 set/call/delete preset (A.3.4), 0x84..0x88 cruise, 0x89/0x8A scan
    byte 5  data 1: pan speed, focus speed, 0 for presets
    byte 6  data 2: tilt speed, iris speed, the preset's number
    byte 7  high nibble: data 3 (zoom speed); low nibble: address, high 4 bits
    byte 8  (byte1 + ... + byte7) % 256

Pure code: `encode_ptz` and `parse_ptz` turn a `PtzCommand` into text and back; `ptz_request`
turns what the API receives into a command (ValueError with a message for the caller).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HEADER = 0xA5
VERSION = 0
DEFAULT_ADDRESS = 1  # what platforms send (WVP and the standard's examples): devices ignore it
MAX_SPEED = 0xFF
MAX_PRESET = 0xFF

# byte 4, pan/tilt/zoom (A.3.2): one bit per direction
RIGHT, LEFT, DOWN, UP, ZOOM_IN, ZOOM_OUT = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
# byte 4, focus/iris (A.3.3): 0x40 plus one bit per motion
FOCUS_FAR, FOCUS_NEAR, IRIS_OPEN, IRIS_CLOSE = 0x41, 0x42, 0x44, 0x48
FI_BASE = 0x40
# byte 4, presets (A.3.4)
PRESET_SET, PRESET_CALL, PRESET_DELETE = 0x81, 0x82, 0x83

_MOVES = {"left": LEFT, "right": RIGHT, "up": UP, "down": DOWN}
_DIAGONALS = {
    "up_left": UP | LEFT,
    "up_right": UP | RIGHT,
    "down_left": DOWN | LEFT,
    "down_right": DOWN | RIGHT,
}
_ZOOMS = {"zoom_in": ZOOM_IN, "zoom_out": ZOOM_OUT}
_LENS = {
    "focus_far": FOCUS_FAR,
    "focus_near": FOCUS_NEAR,
    "iris_open": IRIS_OPEN,
    "iris_close": IRIS_CLOSE,
}
_PRESETS = {"preset_set": PRESET_SET, "preset_call": PRESET_CALL, "preset_delete": PRESET_DELETE}
ACTIONS = ("stop", *_MOVES, *_DIAGONALS, *_ZOOMS, *_LENS, *_PRESETS)
DEFAULT_SPEED = 128


class PtzError(ValueError):
    """A PTZCmd that is not 16 hex digits, has a wrong header or a wrong checksum."""


@dataclass(frozen=True, slots=True)
class PtzCommand:
    """One instruction: `code` is byte 4, `data1`/`data2` bytes 5 and 6, `data3` the zoom-speed
    nibble of byte 7, `address` 12 bits (byte 3 and the low nibble of byte 7)."""

    code: int
    data1: int = 0
    data2: int = 0
    data3: int = 0
    address: int = DEFAULT_ADDRESS

    def __post_init__(self) -> None:
        for name, value, top in (
            ("code", self.code, 0xFF),
            ("data1", self.data1, 0xFF),
            ("data2", self.data2, 0xFF),
            ("data3", self.data3, 0x0F),
            ("address", self.address, 0xFFF),
        ):
            if not 0 <= value <= top:
                raise PtzError(f"{name} {value} is outside 0..{top}")

    @property
    def action(self) -> str:
        """What the command does, in the API's words ("left", "zoom_in", "preset_call",
        "up_left+zoom_in", "cruise-0x88"...)."""
        code = self.code
        if code == 0:
            return "stop"
        if code & 0xC0 == 0:
            parts = [name for name, bits in {**_DIAGONALS, **_MOVES}.items() if code & 0x0F == bits]
            parts += [name for name, bit in _ZOOMS.items() if code & 0x30 == bit]
            return "+".join(parts) or f"ptz-0x{code:02x}"
        for table in (_LENS, _PRESETS):
            for name, value in table.items():
                if code == value:
                    return name
        return f"{'focus-iris' if code & 0xF0 == FI_BASE else 'instruction'}-0x{code:02x}"

    @property
    def preset(self) -> int | None:
        """The preset's number for a preset instruction, else None."""
        return self.data2 if self.code in _PRESETS.values() else None


def encode_ptz(command: PtzCommand) -> str:
    """The 8 bytes as 16 upper-case hex digits, checksums included."""
    byte1 = HEADER
    byte2 = VERSION << 4 | ((byte1 >> 4) + (byte1 & 0x0F) + VERSION) % 16
    body = bytes(
        (
            byte1,
            byte2,
            command.address & 0xFF,
            command.code,
            command.data1,
            command.data2,
            command.data3 << 4 | command.address >> 8,
        )
    )
    return (body + bytes((sum(body) % 256,))).hex().upper()


def parse_ptz(text: str) -> PtzCommand:
    """A PTZCmd's 16 hex digits (either case) as a command.

    Raises PtzError when it is not 16 hex digits, byte 1 is not 0xA5, or a checksum is wrong."""
    text = text.strip()
    if len(text) != 16 or not all(c in "0123456789abcdefABCDEF" for c in text):
        raise PtzError(f"PTZCmd {text[:32]!r} is not 16 hex digits")
    data = bytes.fromhex(text)
    if data[0] != HEADER:
        raise PtzError(f"PTZCmd starts with 0x{data[0]:02X}, not 0xA5")
    if data[1] & 0x0F != ((data[0] >> 4) + (data[0] & 0x0F) + (data[1] >> 4)) % 16:
        raise PtzError(f"PTZCmd {text} has a wrong check nibble in byte 2")
    if data[7] != sum(data[:7]) % 256:
        raise PtzError(f"PTZCmd {text} has a wrong checksum (byte 8)")
    return PtzCommand(
        data[3], data[4], data[5], data[6] >> 4, address=(data[6] & 0x0F) << 8 | data[2]
    )


# -- commands by name ------------------------------------------------------------------------


def stop() -> PtzCommand:
    return PtzCommand(0)


def move(code: int, speed: int) -> PtzCommand:
    """Pan and/or tilt (`code` a combination of LEFT/RIGHT/UP/DOWN) at `speed` 0..255: the pan
    speed goes in byte 5 when it pans, the tilt speed in byte 6 when it tilts."""
    pans = bool(code & (LEFT | RIGHT))
    tilts = bool(code & (UP | DOWN))
    return PtzCommand(code, speed if pans else 0, speed if tilts else 0)


def zoom(code: int, speed: int) -> PtzCommand:
    """ZOOM_IN or ZOOM_OUT; `speed` 0..255 becomes the 4-bit zoom speed (a non-zero speed never
    rounds down to 0, which would not zoom)."""
    nibble = speed >> 4
    return PtzCommand(code, data3=nibble or (1 if speed else 0))


def lens(code: int, speed: int) -> PtzCommand:
    """Focus (speed in byte 5) or iris (speed in byte 6)."""
    focus = code & 0x03
    return PtzCommand(code, speed if focus else 0, 0 if focus else speed)


def preset(code: int, number: int) -> PtzCommand:
    """PRESET_SET, PRESET_CALL or PRESET_DELETE of preset `number` 1..255."""
    if not 1 <= number <= MAX_PRESET:
        raise PtzError(f"preset {number} is outside 1..{MAX_PRESET}")
    return PtzCommand(code, 0, number)


def ptz_request(body: Mapping[str, Any]) -> PtzCommand:
    """The command an API request asks for: `{"action", "speed" (0..255, default 128),
    "preset" (1..255, for preset_* actions)}`.

    Raises ValueError with a message for the caller: unknown action, bad speed or preset."""
    action = body.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    speed = body.get("speed", DEFAULT_SPEED)
    if speed is None:
        speed = DEFAULT_SPEED
    if isinstance(speed, bool) or not isinstance(speed, int) or not 0 <= speed <= MAX_SPEED:
        raise ValueError(f"speed must be a whole number from 0 to {MAX_SPEED}")
    if action in _PRESETS:
        number = body.get("preset")
        if isinstance(number, bool) or not isinstance(number, int):
            raise ValueError(f"{action} needs preset, a whole number from 1 to {MAX_PRESET}")
        if not 1 <= number <= MAX_PRESET:
            raise ValueError(f"preset must be from 1 to {MAX_PRESET}")
        return preset(_PRESETS[action], number)
    if action == "stop":
        return stop()
    if action in _ZOOMS:
        return zoom(_ZOOMS[action], speed)
    if action in _LENS:
        return lens(_LENS[action], speed)
    return move({**_MOVES, **_DIAGONALS}[action], speed)
