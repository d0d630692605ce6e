"""The SQLite index: searches by room, person, time and event, rebuild from manifests on disk."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from recorder.index import MAX_LIMIT, RecordingIndex, utc_iso

GATEWAY = {"id": "p-gw1", "name": "Radio Gateway North", "kind": "radio", "device": "ED-137 GW"}
ALICE = {"id": "p-alice", "name": "Alice Commander", "kind": "rtp", "device": "browser"}
BOB = {"id": "p-bob", "name": "Bob Field", "kind": "sip", "device": "Yealink"}


def manifest(
    recording_id: str,
    room: str,
    started: str,
    stopped: str | None,
    participants: list[dict[str, Any]],
    events: list[dict[str, Any]] | None = None,
    state: str = "stopped",
    data_bytes: int = 96000,
) -> dict[str, Any]:
    return {
        "id": recording_id,
        "room": room,
        "state": state,
        "started_at": started,
        "stopped_at": stopped,
        "legal_hold": False,
        "manifest_sha256": "ab" * 32,
        "participants": [
            {"codec": "PCMU", "address": "10.0.0.1", "role": "operator", **p} for p in participants
        ],
        "tracks": [
            {
                "id": "mix",
                "kind": "mix",
                "participant": None,
                "file": "mix.wav",
                "rate": 48000,
                "started_at": started,
                "data_bytes": data_bytes,
                "segments": [],
            }
        ],
        "timeline": events or [],
    }


def grant(at: str, participant: str, source: str) -> dict[str, Any]:
    return {"type": "floor.granted", "at": at, "participant": participant, "source": source}


@pytest.fixture
def manifests() -> list[dict[str, Any]]:
    return [
        manifest(
            "rec-1",
            "alpha",
            "2026-11-24T10:00:00.000Z",
            "2026-11-24T10:30:00.000Z",
            [GATEWAY, ALICE],
            [
                {"type": "join", "at": "2026-11-24T10:00:01.000Z", "participant": "p-gw1"},
                grant("2026-11-24T10:05:00.000Z", "p-gw1", "squelch"),
                grant("2026-11-24T10:10:00.000Z", "p-alice", "api"),
                {
                    "type": "talking",
                    "at": "2026-11-24T10:10:00.100Z",
                    "participant": "p-alice",
                    "talking": True,
                },
                grant("2026-11-24T10:20:00.000Z", "p-gw1", "squelch"),
            ],
        ),
        manifest(
            "rec-2",
            "alpha",
            "2026-11-24T11:00:00.000Z",
            "2026-11-24T11:10:00.000Z",
            [BOB],
            [
                {
                    "type": "dtmf",
                    "at": "2026-11-24T11:01:00.000Z",
                    "participant": "p-bob",
                    "digit": "*",
                }
            ],
        ),
        manifest(
            "rec-3",
            "bravo",
            "2026-11-24T10:15:00.000Z",
            None,
            [GATEWAY],
            [grant("2026-11-24T10:16:00.000Z", "p-gw1", "squelch")],
            state="recording",
        ),
    ]


@pytest.fixture
def index(tmp_path: Path, manifests: list[dict[str, Any]]) -> RecordingIndex:
    recordings = RecordingIndex(tmp_path / "recordings.db")
    for entry in manifests:
        recordings.add(entry, tmp_path / "recordings" / entry["id"])
    return recordings


def ids(results: list[dict[str, Any]]) -> list[str]:
    return [result["id"] for result in results]


def test_schema_is_versioned_and_in_wal_mode(tmp_path: Path) -> None:
    RecordingIndex(tmp_path / "recordings.db").close()
    db = sqlite3.connect(tmp_path / "recordings.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(1,)]


def test_reopening_keeps_rows_and_one_schema_version(index: RecordingIndex) -> None:
    index.close()
    again = RecordingIndex(index.path)
    assert ids(again.search()) == ["rec-2", "rec-3", "rec-1"]
    assert len(again._db.execute("SELECT * FROM schema_version").fetchall()) == 1


def test_search_by_room_newest_first(index: RecordingIndex) -> None:
    assert ids(index.search(room="alpha")) == ["rec-2", "rec-1"]
    assert ids(index.search(room="bravo")) == ["rec-3"]
    assert index.search(room="charlie") == []


def test_search_by_participant_id_or_name_substring(index: RecordingIndex) -> None:
    assert ids(index.search(participant="p-gw1")) == ["rec-3", "rec-1"]
    assert ids(index.search(participant="gateway NORTH")) == ["rec-3", "rec-1"]
    assert ids(index.search(participant="bob")) == ["rec-2"]
    assert index.search(participant="p-gw") == []  # ids match exactly, not as substrings


def test_name_search_treats_like_wildcards_literally(index: RecordingIndex) -> None:
    assert index.search(participant="%") == []
    assert index.search(participant="_") == []


def test_search_by_time_keeps_overlapping_recordings(index: RecordingIndex) -> None:
    # 10:31-10:59 touches nothing finished, but rec-3 is still recording (open-ended).
    assert ids(index.search(since="2026-11-24T10:31:00Z", until="2026-11-24T10:59:00Z")) == [
        "rec-3"
    ]
    assert ids(index.search(since="2026-11-24T10:29:59.999Z", until="2026-11-24T10:31:00Z")) == [
        "rec-3",
        "rec-1",
    ]
    assert ids(index.search(until="2026-11-24T10:14:59Z")) == ["rec-1"]
    assert ids(index.search(since="2026-11-24T11:05:00+00:00", room="alpha")) == ["rec-2"]
    # A time with an offset is compared as UTC: 12:05+01:00 is 11:05Z.
    assert ids(index.search(since="2026-11-24T12:05:00+01:00", room="alpha")) == ["rec-2"]


def test_search_rejects_bad_times_and_pages(index: RecordingIndex) -> None:
    with pytest.raises(ValueError):
        index.search(since="yesterday")
    with pytest.raises(ValueError):
        index.search(limit=MAX_LIMIT + 1)
    with pytest.raises(ValueError):
        index.search(limit=0)
    with pytest.raises(ValueError):
        index.search(offset=-1)


def test_limit_and_offset_page_through_results(index: RecordingIndex) -> None:
    assert ids(index.search(limit=2)) == ["rec-2", "rec-3"]
    assert ids(index.search(limit=2, offset=2)) == ["rec-1"]


def test_floor_grants_by_one_gateway_come_back_as_matches(index: RecordingIndex) -> None:
    results = index.search(event_type="floor.granted", participant="Gateway North")
    assert ids(results) == ["rec-3", "rec-1"]
    rec1 = results[1]
    assert [event["at"] for event in rec1["matches"]] == [
        "2026-11-24T10:05:00.000Z",
        "2026-11-24T10:20:00.000Z",
    ]
    assert {event["participant"] for event in rec1["matches"]} == {"p-gw1"}
    assert {p["id"] for p in rec1["participants"]} == {"p-gw1", "p-alice"}


def test_event_search_within_a_time_range_limits_recordings_and_matches(
    index: RecordingIndex,
) -> None:
    results = index.search(
        event_type="floor.granted", since="2026-11-24T10:06:00Z", until="2026-11-24T10:25:00Z"
    )
    assert ids(results) == ["rec-3", "rec-1"]
    assert [e["at"] for e in results[1]["matches"]] == [
        "2026-11-24T10:10:00.000Z",
        "2026-11-24T10:20:00.000Z",
    ]
    assert (
        index.search(event_type="floor.granted", since="2026-11-24T10:21:00Z", state="stopped")
        == []
    )


def test_event_search_by_source(index: RecordingIndex) -> None:
    results = index.search(event_type="floor.granted", source="api")
    assert ids(results) == ["rec-1"]
    assert [e["participant"] for e in results[0]["matches"]] == ["p-alice"]
    assert ids(index.search(source="squelch", room="bravo")) == ["rec-3"]


def test_results_without_an_event_filter_have_no_matches(index: RecordingIndex) -> None:
    assert all(result["matches"] == [] for result in index.search())


def test_search_by_state(index: RecordingIndex) -> None:
    assert ids(index.search(state="recording")) == ["rec-3"]


def test_get_returns_participants_tracks_and_events(index: RecordingIndex) -> None:
    entry = index.get("rec-1")
    assert entry is not None
    assert entry["room"] == "alpha" and entry["legal_hold"] is False
    assert entry["stopped_at"] == "2026-11-24T10:30:00.000Z"
    assert [p["name"] for p in entry["participants"]] == ["Radio Gateway North", "Alice Commander"]
    assert entry["tracks"] == [
        {
            "id": "mix",
            "participant": None,
            "kind": "mix",
            "rate": 48000,
            "started_at": "2026-11-24T10:00:00.000Z",
            "duration_ms": 1000,
            "bytes": 96044,
            "file": "mix.wav",
        }
    ]
    assert [e["type"] for e in entry["events"]][:2] == ["join", "floor.granted"]
    assert entry["events"][3]["talking"] is True
    assert index.get("nope") is None


def test_add_replaces_everything_of_a_recording(index: RecordingIndex, tmp_path: Path) -> None:
    replaced = manifest(
        "rec-1", "alpha", "2026-11-24T10:00:00Z", "2026-11-24T10:40:00Z", [BOB], state="recovered"
    )
    index.add(replaced, tmp_path)
    entry = index.get("rec-1")
    assert entry is not None
    assert entry["state"] == "recovered" and entry["stopped_at"] == "2026-11-24T10:40:00.000Z"
    assert [p["id"] for p in entry["participants"]] == ["p-bob"]
    assert entry["events"] == []
    assert index.search(event_type="floor.granted", room="alpha") == []


def test_a_crashed_recording_ends_where_its_tracks_end(
    index: RecordingIndex, tmp_path: Path
) -> None:
    crashed = manifest("rec-9", "alpha", "2026-11-24T09:00:00Z", None, [], state="recovered")
    index.add(crashed, tmp_path / "rec-9")
    entry = index.get("rec-9")
    assert entry is not None and entry["stopped_at"] == "2026-11-24T09:00:01.000Z"


def test_malformed_manifest_is_refused_and_changes_nothing(
    index: RecordingIndex, tmp_path: Path
) -> None:
    broken = manifest("rec-1", "alpha", "not a time", None, [])
    with pytest.raises(ValueError):
        index.add(broken, tmp_path)
    entry = index.get("rec-1")
    assert entry is not None and entry["started_at"] == "2026-11-24T10:00:00.000Z"


def test_remove_deletes_the_recording_and_its_rows(index: RecordingIndex) -> None:
    assert index.remove("rec-1") is True
    assert index.remove("rec-1") is False
    assert index.get("rec-1") is None
    assert (
        index._db.execute("SELECT count(*) FROM events WHERE recording_id = 'rec-1'").fetchone()[0]
        == 0
    )
    assert index.search(participant="alice") == []


def test_legal_hold_is_set_and_released(index: RecordingIndex) -> None:
    assert index.set_legal_hold("rec-2", True) is True
    entry = index.get("rec-2")
    assert entry is not None and entry["legal_hold"] is True
    assert index.set_legal_hold("rec-2", False) is True
    entry = index.get("rec-2")
    assert entry is not None and entry["legal_hold"] is False
    assert index.set_legal_hold("nope", True) is False


def test_total_bytes_by_room_counts_files_on_disk(tmp_path: Path) -> None:
    index = RecordingIndex(tmp_path / "recordings.db")
    directory = tmp_path / "recordings" / "rec-1"
    directory.mkdir(parents=True)
    (directory / "mix.wav").write_bytes(b"\0" * 1000)
    (directory / "manifest.json").write_text("{}")
    index.add(manifest("rec-1", "alpha", "2026-11-24T10:00:00Z", None, []), directory)
    # No directory: the size the manifest's tracks describe (data + 44-byte header).
    index.add(manifest("rec-2", "bravo", "2026-11-24T10:00:00Z", None, []), tmp_path / "gone")
    assert index.total_bytes("alpha") == 1002
    assert index.total_bytes("bravo") == 96044
    assert index.total_bytes() == 97046
    assert index.total_bytes("nobody") == 0


def test_rebuild_reads_manifests_and_reports_unreadable_ones(
    tmp_path: Path, manifests: list[dict[str, Any]]
) -> None:
    recordings = tmp_path / "recordings"
    for entry in manifests:
        (recordings / entry["id"]).mkdir(parents=True)
        (recordings / entry["id"] / "manifest.json").write_text(json.dumps(entry))
    (recordings / "rec-torn").mkdir()
    (recordings / "rec-torn" / "manifest.json").write_text('{"id": "rec-torn", "ro')
    (recordings / "rec-list").mkdir()
    (recordings / "rec-list" / "manifest.json").write_text("[]")
    (recordings / "not-a-recording").mkdir()
    index = RecordingIndex(tmp_path / "recordings.db")
    index.add(
        manifest("rec-old", "alpha", "2026-11-01T10:00:00Z", None, []), recordings / "rec-old"
    )

    assert index.rebuild(recordings) == ["rec-list", "rec-torn"]
    assert ids(index.search()) == ["rec-2", "rec-3", "rec-1"]  # rec-old's directory is gone
    rebuilt = index.get("rec-1")
    assert rebuilt is not None and rebuilt["directory"] == str(recordings / "rec-1")
    assert ids(index.search(event_type="floor.granted", participant="p-gw1")) == ["rec-3", "rec-1"]


def test_rebuild_of_a_missing_directory_raises_instead_of_emptying(
    index: RecordingIndex, tmp_path: Path
) -> None:
    with pytest.raises(OSError):
        index.rebuild(tmp_path / "unmounted")
    assert len(index.search()) == 3


def test_readers_and_a_writer_share_the_index_across_threads(index: RecordingIndex) -> None:
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for n in range(50):
                index.add(
                    manifest(f"w-{n}", "charlie", f"2026-11-24T12:{n:02d}:00Z", None, [BOB]),
                    Path("/nonexistent"),
                )
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    def read() -> None:
        try:
            for _ in range(50):
                index.search(participant="bob", limit=1000)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(index.search(room="charlie", limit=1000)) == 50


def test_utc_iso_normalises_the_accepted_forms() -> None:
    assert utc_iso("2026-11-24T10:00:00Z") == "2026-11-24T10:00:00.000Z"
    assert utc_iso("2026-11-24T10:00:00.5Z") == "2026-11-24T10:00:00.500Z"
    assert utc_iso("2026-11-24T11:00:00.123+01:00") == "2026-11-24T10:00:00.123Z"


def test_search_by_track_kind_finds_recordings_with_a_conference_picture(
    index: RecordingIndex, tmp_path: Path
) -> None:
    assert ids(index.search(track_kind="composite")) == []
    pictured = manifest("rec-9", "alpha", "2026-11-25T10:00:00.000Z", None, [ALICE])
    pictured["tracks"].append(
        {**pictured["tracks"][0], "id": "composite", "kind": "composite",
         "file": "composite.mp4", "rate": 90000, "duration_ms": 3000}
    )  # fmt: skip
    index.add(pictured, tmp_path / "recordings" / "rec-9")
    assert ids(index.search(track_kind="composite")) == ["rec-9"]
    (row,) = [t for t in (index.get("rec-9") or {})["tracks"] if t["kind"] == "composite"]
    assert row["duration_ms"] == 3000 and row["bytes"] == 96000  # a video file: no header
    assert "rec-9" in ids(index.search(track_kind="mix"))
