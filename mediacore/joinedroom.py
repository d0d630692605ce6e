"""The room as a leg that joined it sees it, and the participant the leg is.

`Endpoint.joined()` hands a leg these views; `Room` and `Participant` fit them. They are
protocols so that the endpoint interface, which the room and its participants import, does not
import them back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from mediacore.events import EventBus


class Member(Protocol):
    @property
    def id(self) -> str: ...


class FloorState(Protocol):
    @property
    def holder(self) -> str | None:
        """The participant holding the floor, or None when it is free."""
        ...

    @property
    def holder_priority(self) -> int | None:
        """The priority the floor was granted at, or None when it is free."""
        ...


class RoomFormat(Protocol):
    @property
    def rate(self) -> int:
        """The room's sample rate (Hz)."""
        ...

    @property
    def ptime(self) -> int:
        """The room's tick (ms)."""
        ...


class JoinedRoom(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def settings(self) -> RoomFormat: ...

    @property
    def floor(self) -> FloorState: ...

    @property
    def participants(self) -> Mapping[str, object]:
        """Who is in the room now, by participant id."""
        ...

    async def remove(self, participant_id: str, reason: str) -> None:
        """Take a participant out of the room; raises KeyError when it is not in it."""
        ...

    def request_floor(
        self, participant_id: str, source: str, priority: int | None = None
    ) -> object:
        """A push-to-talk press (the result says granted, queued or denied)."""
        ...

    def release_floor(self, participant_id: str, source: str, hang: bool = False) -> object:
        """A push-to-talk release; with `hang` the floor is freed after the hang time."""
        ...

    def revoke_floor(self, participant_id: str, by: str, reason: str = "admin") -> bool:
        """Take the floor (or a queued request) away; True when there was one."""
        ...
