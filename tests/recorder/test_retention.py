"""Retention: age and size limits per room, never touching held or live recordings."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from recorder.index import RecordingIndex
from recorder.retention import RetentionPolicy, apply_retention

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
HEADER = 44


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def add(
    index: RecordingIndex,
    recording_id: str,
    room: str,
    days_ago: float,
    size: int = 1000,
    state: str = "stopped",
    hold: bool = False,
) -> None:
    """A one-hour recording that stopped `days_ago` before NOW, `size` bytes on disk."""
    stopped = NOW - timedelta(days=days_ago)
    started = stopped - timedelta(hours=1)
    manifest: dict[str, Any] = {
        "id": recording_id,
        "room": room,
        "state": state,
        "started_at": iso(started),
        "stopped_at": None if state == "recording" else iso(stopped),
        "legal_hold": hold,
        "tracks": [
            {
                "id": "mix",
                "kind": "mix",
                "participant": None,
                "file": "mix.wav",
                "rate": 8000,
                "started_at": iso(started),
                "data_bytes": size - HEADER,
            }
        ],
    }
    index.add(manifest, Path("/nonexistent") / recording_id)  # bytes come from the manifest


@pytest.fixture
def index(tmp_path: Path) -> RecordingIndex:
    return RecordingIndex(tmp_path / "recordings.db")


def remover(index: RecordingIndex) -> Any:
    def delete(recording_id: str) -> None:
        index.remove(recording_id)

    return delete


def remaining(index: RecordingIndex) -> set[str]:
    return {entry["id"] for entry in index.summaries()}


def test_old_recordings_go_but_held_and_live_ones_stay(index: RecordingIndex) -> None:
    add(index, "old", "alpha", days_ago=40)
    add(index, "old-held", "alpha", days_ago=40, hold=True)
    add(index, "old-live", "alpha", days_ago=40, state="recording")  # started 40 days ago
    add(index, "old-recovered", "alpha", days_ago=31, state="recovered")
    add(index, "recent", "alpha", days_ago=29)
    deleted = apply_retention(
        index, {"alpha": RetentionPolicy(max_days=30, max_bytes=None)}, NOW, remover(index)
    )
    assert deleted == ["old", "old-recovered"]
    assert remaining(index) == {"old-held", "old-live", "recent"}


def test_age_counts_from_the_stop(index: RecordingIndex) -> None:
    # Started 30 days and 1 hour ago, stopped 29.99 days ago: still within 30 days.
    add(index, "long", "alpha", days_ago=29.99)
    assert (
        apply_retention(index, {"alpha": RetentionPolicy(max_days=30)}, NOW, remover(index)) == []
    )


def test_oldest_go_first_until_the_room_fits(index: RecordingIndex) -> None:
    for n in range(5):
        add(index, f"r{n}", "alpha", days_ago=10 - n, size=1000)  # r0 is the oldest
    deleted = apply_retention(
        index, {"alpha": RetentionPolicy(max_days=None, max_bytes=2500)}, NOW, remover(index)
    )
    assert deleted == ["r0", "r1", "r2"]
    assert index.total_bytes("alpha") == 2000


def test_held_and_live_recordings_count_but_are_skipped_by_size(index: RecordingIndex) -> None:
    add(index, "held", "alpha", days_ago=10, size=1500, hold=True)
    add(index, "a", "alpha", days_ago=9)
    add(index, "live", "alpha", days_ago=8, state="recording")
    add(index, "b", "alpha", days_ago=7)
    add(index, "c", "alpha", days_ago=6)
    deleted = apply_retention(
        index, {"alpha": RetentionPolicy(max_bytes=3500)}, NOW, remover(index)
    )
    assert deleted == ["a", "b"]
    assert remaining(index) == {"held", "live", "c"}


def test_a_room_of_held_recordings_over_its_limit_keeps_them_all(index: RecordingIndex) -> None:
    add(index, "h1", "alpha", days_ago=100, hold=True)
    add(index, "h2", "alpha", days_ago=90, hold=True)
    policy = {"alpha": RetentionPolicy(max_days=1, max_bytes=0)}
    assert apply_retention(index, policy, NOW, remover(index)) == []
    assert remaining(index) == {"h1", "h2"}


def test_age_then_size(index: RecordingIndex) -> None:
    add(index, "ancient", "alpha", days_ago=60)
    add(index, "older", "alpha", days_ago=5)
    add(index, "newer", "alpha", days_ago=1)
    deleted = apply_retention(
        index, {"alpha": RetentionPolicy(max_days=30, max_bytes=1000)}, NOW, remover(index)
    )
    assert deleted == ["ancient", "older"]


def test_rooms_without_a_policy_are_untouched_unless_a_default_is_given(
    index: RecordingIndex,
) -> None:
    add(index, "a-old", "alpha", days_ago=40)
    add(index, "b-old", "bravo", days_ago=40)
    assert apply_retention(index, {"alpha": RetentionPolicy(max_days=30)}, NOW, remover(index)) == [
        "a-old"
    ]
    assert apply_retention(index, {"*": RetentionPolicy(max_days=30)}, NOW, remover(index)) == [
        "b-old"
    ]


def test_a_failed_delete_is_logged_and_the_pass_goes_on(
    index: RecordingIndex, caplog: pytest.LogCaptureFixture
) -> None:
    add(index, "stuck", "alpha", days_ago=50)
    add(index, "fine", "alpha", days_ago=40)

    def delete(recording_id: str) -> None:
        if recording_id == "stuck":
            raise PermissionError("read-only directory")
        index.remove(recording_id)

    with caplog.at_level(logging.ERROR, logger="recorder.retention"):
        deleted = apply_retention(index, {"alpha": RetentionPolicy(max_days=30)}, NOW, delete)
    assert deleted == ["fine"]
    assert "stuck" in caplog.text
    assert remaining(index) == {"stuck"}


def test_negative_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        RetentionPolicy(max_days=-1)
    with pytest.raises(ValueError):
        RetentionPolicy(max_bytes=-1)
