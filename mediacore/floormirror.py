"""The floor of a room as seen by one of its shards that does not own it.

A room has one floor, kept by its home shard. Every other shard holds a `FloorMirror` in its
place: what its legs ask (a radio's squelch, a phone's `*`) is forwarded to the home shard, and
what the home shard decides comes back through `apply()`, which re-keys this shard's radios the
way a local grant would. Requests answer "forwarded": the decision arrives as events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mediacore.floor import FloorResult, FloorSettings, HolderChanged

# (action, participant, priority, source, hang): "request", "release", "revoke" or "remove".
Forward = Callable[[str, str, int | None, str, bool], None]


class FloorMirror:
    """Same calls as `Floor`; decisions are the home shard's."""

    def __init__(
        self, settings: FloorSettings, forward: Forward, on_holder_changed: HolderChanged
    ) -> None:
        self.settings = settings
        self._forward = forward
        self._on_holder_changed = on_holder_changed
        self._state: dict[str, Any] = {
            "holder": None,
            "since": None,
            "priority": None,
            "source": None,
            "mode": settings.mode,
            "queue": [],
        }

    @property
    def holder(self) -> str | None:
        holder: str | None = self._state["holder"]
        return holder

    @property
    def holder_priority(self) -> int | None:
        priority: int | None = self._state["priority"]
        return priority

    @property
    def holder_source(self) -> str | None:
        source: str | None = self._state["source"]
        return source

    def to_json(self) -> dict[str, Any]:
        return dict(self._state)

    def apply(self, state: dict[str, Any]) -> None:
        """Take the home shard's floor (its `to_json()`); re-key local legs if the holder moved
        or its priority changed."""
        before, before_priority = self.holder, self.holder_priority
        self._state = {**self._state, **state}
        moved = self.holder != before
        if moved or (before is not None and self.holder_priority != before_priority):
            self._on_holder_changed(before, self.holder)

    def request(self, participant: str, priority: int, source: str, now: float) -> FloorResult:
        self._forward("request", participant, priority, source, False)
        return FloorResult("forwarded", self.holder)

    def release(self, participant: str, source: str, now: float, hang: bool = False) -> FloorResult:
        self._forward("release", participant, None, source, hang)
        return FloorResult("forwarded", self.holder)

    def revoke(self, participant: str, reason: str, now: float, by: str | None = None) -> bool:
        self._forward("revoke", participant, None, reason, False)
        return self.holder == participant

    def remove(self, participant: str, now: float) -> None:
        self._forward("remove", participant, None, "left", False)

    def tick(self, now: float) -> None:
        """Hang times and talk time-outs run on the home shard."""

    def reconfigure(self, settings: FloorSettings) -> None:
        self.settings = settings
        self._state["mode"] = settings.mode
