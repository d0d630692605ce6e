"""The recordings one node serves: its own recorder's, and those of other nodes it has taken
over (a cluster's shared store: a dead node's recordings, recovered and served by a survivor
until that node is back, mediacore/server/clusterrecordings.py).

Without any taken over, every question goes to the node's own recorder exactly as before."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from recorder.index import MAX_LIMIT
from recorder.service import RecorderService


class RecorderShelf:
    def __init__(self, own: RecorderService) -> None:
        self.own = own
        self.adopted: dict[str, RecorderService] = {}  # by the node whose recordings they are

    def holder(self, recording_id: str) -> RecorderService:
        """The recorder that has the recording (its own when none has: it answers 404)."""
        if self.own.holds(recording_id):
            return self.own
        for recorder in list(self.adopted.values()):
            if recorder.holds(recording_id):
                return recorder
        return self.own

    def holds(self, recording_id: str) -> bool:
        return self.holder(recording_id).holds(recording_id)

    def search(self, *, limit: int = 100, offset: int = 0, **query: Any) -> list[dict[str, Any]]:
        """The index search (recorder/index.py) over every recorder here, newest first."""
        others = list(self.adopted.values())
        if not others:
            return self.own.index.search(limit=limit, offset=offset, **query)
        deep = min(offset + limit, MAX_LIMIT)
        pages = [r.index.search(limit=deep, offset=0, **query) for r in [self.own, *others]]
        return merge_listings(pages, limit, offset)


def merge_listings(
    pages: Iterable[list[dict[str, Any]]], limit: int, offset: int
) -> list[dict[str, Any]]:
    """One page of recordings from several listings, each newest first (as the index sorts:
    `started_at` descending, then `id`); a recording listed twice counts once."""
    unique: dict[str, dict[str, Any]] = {}
    for page in pages:
        for entry in page:
            unique.setdefault(str(entry.get("id")), entry)
    ordered = sorted(unique.values(), key=lambda entry: str(entry.get("id")))
    ordered.sort(key=lambda entry: str(entry.get("started_at") or ""), reverse=True)
    return ordered[offset : offset + limit]
