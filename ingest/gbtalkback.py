"""Voice broadcast and talkback with GB/T 28181 devices (语音广播 / 对讲, GB/T 28181-2016
section 9.12): which talkbacks are asked for, which device INVITE belongs to which, and their
state.

No I/O. The platform sends the device a Notify/Broadcast naming itself (SourceID) and the
device's audio output (TargetID); the device answers 200, a Response/Broadcast, and then
INVITEs the platform with its audio offer (G.711 over RTP, sometimes in PS). That INVITE is
`expecting()`'s to match: it comes from the device (From is the device or its audio channel).
The assembly answers it with a media leg in the talkback's room.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal

TalkbackDuplex = Literal["full", "half"]
TalkbackState = Literal["inviting", "connected", "ended"]
MAX_TALKBACKS = 256
DUPLEXES = ("full", "half")


class TalkbackError(Exception):
    """A talkback that cannot start: `status` is the HTTP status that says why."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def parse_talkback_duplex(table: dict[str, Any]) -> TalkbackDuplex:
    """`[gb28181] talkback_duplex`: "full" (the default: the device's microphone is mixed
    like a phone's) or "half" (it talks only holding the room's floor, asked for by its
    voice). Raises ValueError."""
    value = table.get("talkback_duplex", "full")
    if value not in DUPLEXES:
        raise ValueError('gb28181.talkback_duplex must be "full" or "half"')
    return "half" if value == "half" else "full"


@dataclass(eq=False)
class Talkback:
    id: str
    device_id: str
    channel_id: str  # the device's audio output (TargetID); the device id when it has none
    room: str
    duplex: TalkbackDuplex
    started_at: float  # wall clock
    state: TalkbackState = "inviting"
    participant: str | None = None
    call_id: str = ""  # the device's INVITE
    reason: str = ""

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "device": self.device_id,
            "channel": self.channel_id,
            "room": self.room,
            "duplex": self.duplex,
            "state": self.state,
            "participant": self.participant,
            "reason": self.reason or None,
        }


class TalkbackTable:
    def __init__(self) -> None:
        self._talkbacks: dict[str, Talkback] = {}

    def start(
        self, device_id: str, channel_id: str, room: str, duplex: TalkbackDuplex, wall_now: float
    ) -> Talkback:
        """A new talkback, inviting. Raises TalkbackError 409 when the channel already has one,
        429 past MAX_TALKBACKS."""
        if self.find(device_id, channel_id) is not None:
            raise TalkbackError(
                409, "talkback-busy", f"channel {channel_id} already has a talkback"
            )
        if len(self._talkbacks) >= MAX_TALKBACKS:
            raise TalkbackError(429, "too-many-talkbacks", f"{MAX_TALKBACKS} talkbacks are on")
        talkback = Talkback(
            secrets.token_hex(6), device_id, channel_id, room, duplex, started_at=wall_now
        )
        self._talkbacks[talkback.id] = talkback
        return talkback

    def get(self, talkback_id: str) -> Talkback | None:
        return self._talkbacks.get(talkback_id)

    def find(self, device_id: str, channel_id: str) -> Talkback | None:
        """The live talkback of a device's channel."""
        return next(
            (
                t
                for t in self._talkbacks.values()
                if t.device_id == device_id and t.channel_id == channel_id
            ),
            None,
        )

    def all(self) -> list[Talkback]:
        return list(self._talkbacks.values())

    def expecting(self, caller: str) -> Talkback | None:
        """The oldest talkback still waiting for an INVITE from `caller` (the From user: the
        device, or its audio channel), none being answered yet (`call_id` set)."""
        return next(
            (
                t
                for t in self._talkbacks.values()
                if t.state == "inviting" and not t.call_id and caller in (t.device_id, t.channel_id)
            ),
            None,
        )

    def connected(self, talkback: Talkback, call_id: str, participant: str) -> None:
        talkback.state = "connected"
        talkback.call_id = call_id
        talkback.participant = participant

    def ended(self, talkback: Talkback, reason: str) -> bool:
        """End it (once): False if it had ended already."""
        if talkback.state == "ended":
            return False
        talkback.state = "ended"
        talkback.reason = reason
        self._talkbacks.pop(talkback.id, None)
        return True

    def of_device(self, device_id: str) -> list[Talkback]:
        return [t for t in self._talkbacks.values() if t.device_id == device_id]
