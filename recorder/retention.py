"""Retention: delete a room's recordings once they are too old, then the oldest while the room
takes more disk than allowed.

Two kinds are never deleted, whatever the policy says: recordings under legal hold (evidence)
and recordings still being written. They still count towards a room's bytes, so a room whose
held recordings exceed `max_bytes` keeps them all and loses the rest."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from recorder.index import RecordingIndex, parse_utc

log = logging.getLogger(__name__)

ANY_ROOM = "*"  # the policy for rooms without their own


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Keep recordings at most `max_days` after they stopped, and a room's total at most
    `max_bytes`; None leaves that limit off."""

    max_days: float | None = None
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.max_days is not None and self.max_days < 0:
            raise ValueError(f"max_days must not be negative, got {self.max_days}")
        if self.max_bytes is not None and self.max_bytes < 0:
            raise ValueError(f"max_bytes must not be negative, got {self.max_bytes}")


def apply_retention(
    index: RecordingIndex,
    policy_by_room: Mapping[str, RetentionPolicy],
    now: datetime,
    delete: Callable[[str], None],
) -> list[str]:
    """Delete what the policies allow, through `delete(id)` (which removes the files and the
    index row); return the ids deleted, in order.

    `policy_by_room` maps a room to its policy; the key "*" applies to rooms not named. Age
    counts from a recording's stop (its start if it has none). A `delete` that raises is
    logged and that recording kept, so one bad directory does not stop the pass."""
    now = parse_utc(now)
    deleted: list[str] = []
    for room in sorted({summary["room"] for summary in index.summaries()}):
        policy = policy_by_room.get(room, policy_by_room.get(ANY_ROOM))
        if policy is not None:
            deleted += _apply_to_room(index, room, policy, now, delete)
    return deleted


def _apply_to_room(
    index: RecordingIndex,
    room: str,
    policy: RetentionPolicy,
    now: datetime,
    delete: Callable[[str], None],
) -> list[str]:
    recordings = index.summaries(room)  # oldest first
    deleted: list[str] = []

    def try_delete(recording: dict[str, Any]) -> bool:
        try:
            delete(recording["id"])
        except Exception:
            log.exception("retention could not delete recording %s", recording["id"])
            return False
        deleted.append(recording["id"])
        return True

    kept: list[dict[str, Any]] = []
    cutoff = now - timedelta(days=policy.max_days) if policy.max_days is not None else None
    for recording in recordings:
        ended = parse_utc(recording["stopped_at"] or recording["started_at"])
        if cutoff is not None and ended < cutoff and _deletable(recording):
            if try_delete(recording):
                continue
        kept.append(recording)

    if policy.max_bytes is not None:
        total = sum(int(recording["bytes"]) for recording in kept)
        for recording in kept:
            if total <= policy.max_bytes:
                break
            if _deletable(recording) and try_delete(recording):
                total -= int(recording["bytes"])
    return deleted


def _deletable(recording: Mapping[str, Any]) -> bool:
    return not recording["legal_hold"] and recording["state"] != "recording"
