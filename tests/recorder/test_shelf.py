"""The recordings one node serves: its recorder's and those it took over from a dead node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mediacore.events import EventBus
from recorder.service import RecorderService
from recorder.shelf import RecorderShelf, merge_listings
from recorder.site import LocalSite
from tests.recorder.test_index import manifest


def entry(recording_id: str, started: str) -> dict[str, Any]:
    return {"id": recording_id, "started_at": started}


def test_listings_merge_newest_first_once_each() -> None:
    first = [entry("r3", "2026-01-03"), entry("r1", "2026-01-01")]
    second = [entry("r4", "2026-01-04"), entry("r3", "2026-01-03"), entry("r2", "2026-01-01")]
    merged = merge_listings([first, second], limit=10, offset=0)
    assert [e["id"] for e in merged] == ["r4", "r3", "r1", "r2"]
    assert [e["id"] for e in merge_listings([first, second], limit=2, offset=1)] == ["r3", "r1"]
    assert merge_listings([], limit=5, offset=0) == []


def recorder(data_dir: Path, store: Path | None = None, node: str | None = None) -> RecorderService:
    index = data_dir / f"{node or 'own'}.db"
    return RecorderService(
        data_dir, EventBus(), LocalSite(lambda room: None), store=store, index=index, node=node
    )


def test_a_store_keeps_recordings_and_ledger_the_index_stays_local(tmp_path: Path) -> None:
    own = recorder(tmp_path / "data", tmp_path / "shared" / "a", "a")
    assert own.root == tmp_path / "shared" / "a" / "recordings"
    assert own.ledger.path == tmp_path / "shared" / "a" / "recordings-ledger.jsonl"
    assert own.index.path.parent == tmp_path / "data"


def test_the_shelf_finds_each_recording_s_recorder_and_searches_them_all(tmp_path: Path) -> None:
    own = recorder(tmp_path / "data")
    other = recorder(tmp_path / "data", tmp_path / "shared" / "b", "b")
    own.index.add(manifest("mine", "r", "2026-01-02T00:00:00.000Z", None, []), tmp_path)
    other.index.add(manifest("theirs", "r", "2026-01-03T00:00:00.000Z", None, []), tmp_path)
    shelf = RecorderShelf(own)
    assert shelf.holder("theirs") is own and not shelf.holds("theirs")
    assert [e["id"] for e in shelf.search(room="r")] == ["mine"]
    shelf.adopted["b"] = other
    assert shelf.holder("theirs") is other and shelf.holds("theirs")
    assert shelf.holder("mine") is own and shelf.holder("nobody's") is own
    assert [e["id"] for e in shelf.search(room="r")] == ["theirs", "mine"]
    assert [e["id"] for e in shelf.search(room="r", limit=1, offset=1)] == ["mine"]
