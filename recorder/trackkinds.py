"""Which tracks of a manifest are stored as video files: a source's video (kind "video") and
the composite (kind "composite": the conference picture with the room's mix in one file).
Both are chained, verified, recovered, played and exported alike; only audio tracks are WAV."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

VIDEO_KINDS = frozenset({"video", "composite"})


def is_video_track(entry: Any) -> bool:
    """Whether a manifest track entry is stored as a video file."""
    return isinstance(entry, Mapping) and entry.get("kind") in VIDEO_KINDS
