"""The SQLite index of recordings: one row per recording with its participants, tracks and
event timeline, so reviewers can search by room, person, time and event without opening
every manifest.

The manifests on disk are the truth (legal holds included); this index is a cache of them that
`rebuild` recreates. Times are stored as ISO 8601 UTC with milliseconds ("...T10:00:00.000Z"), a
form whose string order is time order, so every time filter is a plain string comparison."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mediacore.clock import iso8601
from recorder.filemode import restrict
from recorder.trackkinds import is_video_track

SCHEMA_VERSION = 1
MAX_LIMIT = 1000  # rows per search page, and matching events per recording
MANIFEST = "manifest.json"
PCM_BYTES_PER_SAMPLE = 2  # tracks are 16-bit mono
WAV_HEADER_BYTES = 44

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS recordings (
    id TEXT PRIMARY KEY,
    room TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at TEXT NOT NULL,
    stopped_at TEXT,
    legal_hold INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    manifest_sha256 TEXT,
    directory TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS recordings_room_started ON recordings (room, started_at);
CREATE INDEX IF NOT EXISTS recordings_started ON recordings (started_at);
CREATE TABLE IF NOT EXISTS participants (
    recording_id TEXT NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    participant_id TEXT NOT NULL,
    name TEXT,
    kind TEXT,
    device TEXT,
    role TEXT,
    PRIMARY KEY (recording_id, participant_id)
);
CREATE INDEX IF NOT EXISTS participants_id ON participants (participant_id);
CREATE INDEX IF NOT EXISTS participants_name ON participants (lower(name));
CREATE TABLE IF NOT EXISTS tracks (
    recording_id TEXT NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    track_id TEXT NOT NULL,
    participant_id TEXT,
    kind TEXT NOT NULL,
    rate INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    file TEXT NOT NULL,
    PRIMARY KEY (recording_id, track_id)
);
CREATE TABLE IF NOT EXISTS events (
    recording_id TEXT NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    type TEXT NOT NULL,
    participant_id TEXT,
    source TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (recording_id, seq)
);
CREATE INDEX IF NOT EXISTS events_type_at ON events (type, at);
CREATE INDEX IF NOT EXISTS events_participant ON events (participant_id, type);
"""

_RECORDING_COLUMNS = (
    "id, room, state, started_at, stopped_at, legal_hold, bytes, manifest_sha256, directory"
)


def utc_iso(value: str | datetime) -> str:
    """Normalise a time to the stored form, e.g. "2026-11-24T10:00:00.000Z".

    Takes an aware or naive (read as UTC) datetime, or an ISO 8601 string with or without
    milliseconds and with "Z" or an offset; raises ValueError for anything else."""
    return iso8601(parse_utc(value))


def parse_utc(value: str | datetime) -> datetime:
    """An aware UTC datetime from an ISO 8601 string or a datetime (naive is read as UTC)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class RecordingIndex:
    """The index in `path` (created with its schema if missing).

    Safe for one writer thread and any number of reader threads: a single connection is shared
    under a lock (SQLite in WAL mode would let readers run beside the writer, but one lock keeps
    this simple, and every statement here is short)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        restrict(path)  # its -wal and -shm files take the database's mode
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._create_schema()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> RecordingIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create_schema(self) -> None:
        # executescript commits as it goes; every statement in it is idempotent.
        self._db.executescript(_SCHEMA)
        with self._transaction():
            row = self._db.execute("SELECT max(version) FROM schema_version").fetchone()
            if row[0] is None:
                self._db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has index schema {row[0]}, newer than this server's "
                    f"{SCHEMA_VERSION}; upgrade the server or rebuild the index"
                )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on error. The caller holds the lock."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- writing ---------------------------------------------------------------------------

    def add(self, manifest: Mapping[str, Any], directory: Path) -> None:
        """Insert or replace everything about the recording `manifest` describes, atomically.

        Raises KeyError, TypeError or ValueError for a manifest without id, room, state or a
        valid started_at. The manifest's legal_hold replaces the indexed one."""
        rows = _manifest_rows(manifest, directory)
        with self._lock, self._transaction():
            self._db.execute("DELETE FROM recordings WHERE id = ?", (rows.recording["id"],))
            self._db.execute(
                f"INSERT INTO recordings ({_RECORDING_COLUMNS}) VALUES "
                "(:id, :room, :state, :started_at, :stopped_at, :legal_hold, :bytes, "
                ":manifest_sha256, :directory)",
                rows.recording,
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO participants VALUES (?, ?, ?, ?, ?, ?)", rows.participants
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO tracks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows.tracks
            )
            self._db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows.events)

    def remove(self, recording_id: str) -> bool:
        """Forget a recording (its files are the caller's); False if it was not indexed."""
        with self._lock, self._transaction():
            cursor = self._db.execute("DELETE FROM recordings WHERE id = ?", (recording_id,))
            return cursor.rowcount > 0

    def set_legal_hold(self, recording_id: str, hold: bool) -> bool:
        """Set or release the hold; False if the recording is not indexed.

        The caller should also record the hold in the manifest, so it survives losing this
        index file."""
        with self._lock, self._transaction():
            cursor = self._db.execute(
                "UPDATE recordings SET legal_hold = ? WHERE id = ?", (int(hold), recording_id)
            )
            return cursor.rowcount > 0

    def rebuild(self, recordings_dir: Path) -> list[str]:
        """Re-add every `<recordings_dir>/<name>/manifest.json`; return the names skipped.

        A directory whose manifest cannot be read or parsed is skipped (its old row, if any,
        stays). Rows whose directory no longer holds a manifest are removed. Raises OSError
        if `recordings_dir` cannot be listed (an unmounted disk must not empty the index)."""
        skipped: list[str] = []
        seen: set[str] = set()
        for directory in sorted(p for p in recordings_dir.iterdir() if p.is_dir()):
            manifest_path = directory / MANIFEST
            if not manifest_path.is_file():
                continue
            try:
                manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
                if not isinstance(manifest, dict):
                    raise TypeError("the manifest is not a JSON object")
                self.add(manifest, directory)
            except (OSError, ValueError, KeyError, TypeError):
                skipped.append(directory.name)
                continue
            seen.add(str(manifest["id"]))
        with self._lock:
            rows = self._db.execute("SELECT id, directory FROM recordings").fetchall()
        for row in rows:
            if row["id"] not in seen and not (Path(row["directory"]) / MANIFEST).is_file():
                self.remove(row["id"])
        return skipped

    # -- reading ---------------------------------------------------------------------------

    def has(self, recording_id: str) -> bool:
        with self._lock:
            found = self._db.execute("SELECT 1 FROM recordings WHERE id = ?", (recording_id,))
            return found.fetchone() is not None

    def get(self, recording_id: str) -> dict[str, Any] | None:
        """The recording with its participants, tracks and events, or None."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_RECORDING_COLUMNS} FROM recordings WHERE id = ?", (recording_id,)
            ).fetchone()
            if row is None:
                return None
            result = _recording_dict(row)
            result["participants"] = self._participants([recording_id]).get(recording_id, [])
            result["tracks"] = [
                dict(track)
                for track in self._db.execute(
                    "SELECT track_id AS id, participant_id AS participant, kind, rate, "
                    "started_at, duration_ms, bytes, file FROM tracks "
                    "WHERE recording_id = ? ORDER BY track_id",
                    (recording_id,),
                )
            ]
            result["events"] = [
                json.loads(event[0])
                for event in self._db.execute(
                    "SELECT data FROM events WHERE recording_id = ? ORDER BY at, seq",
                    (recording_id,),
                )
            ]
        return result

    def search(
        self,
        room: str | None = None,
        participant: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        event_type: str | None = None,
        source: str | None = None,
        state: str | None = None,
        limit: int = 100,
        offset: int = 0,
        track_kind: str | None = None,
    ) -> list[dict[str, Any]]:
        """Recordings matching every given filter, newest first.

        `participant` matches a participant's id exactly or their name as a case-insensitive
        substring. `since`/`until` keep recordings overlapping that range (one still recording
        is open-ended). `event_type` and `source` keep recordings having such an event (by
        `participant` and inside [since, until] when those are given too) and list those
        events under "matches" (at most MAX_LIMIT each; empty without an event filter).
        `track_kind` keeps recordings having a track of that kind ("composite": the
        conference picture with the mix; "video", "participant", "mix").
        Each result also lists its participants. Raises ValueError for a bad time or page."""
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        if offset < 0:
            raise ValueError(f"offset must not be negative, got {offset}")
        since_iso = utc_iso(since) if since is not None else None
        until_iso = utc_iso(until) if until is not None else None

        where = _Conditions()
        where.unless_none("r.room = ?", room)
        where.unless_none("r.state = ?", state)
        where.unless_none("r.started_at <= ?", until_iso)
        where.unless_none("(r.stopped_at IS NULL OR r.stopped_at >= ?)", since_iso)
        where.unless_none(
            "EXISTS (SELECT 1 FROM tracks t WHERE t.recording_id = r.id AND t.kind = ?)",
            track_kind,
        )
        has_event_filter = event_type is not None or source is not None
        if participant is not None and not has_event_filter:
            clause, values = _participant_clause("r.id", participant)
            where.add(f"EXISTS (SELECT 1 FROM participants p WHERE {clause})", *values)
        # With an event filter the participant is the one the events are about (see below).
        event_clause, event_params = _event_clause(
            event_type, source, participant, since_iso, until_iso
        )
        if has_event_filter:
            where.add(
                f"EXISTS (SELECT 1 FROM events e WHERE e.recording_id = r.id AND {event_clause})",
                *event_params,
            )

        sql = f"SELECT {_RECORDING_COLUMNS} FROM recordings r WHERE {where.sql()}"
        sql += " ORDER BY r.started_at DESC, r.id LIMIT ? OFFSET ?"
        with self._lock:
            results = [
                _recording_dict(row)
                for row in self._db.execute(sql, [*where.params, limit, offset])
            ]
            ids = [result["id"] for result in results]
            participants = self._participants(ids)
            matches = self._matches(ids, event_clause, event_params) if has_event_filter else {}
        for result in results:
            result["participants"] = participants.get(result["id"], [])
            result["matches"] = matches.get(result["id"], [])
        return results

    def total_bytes(self, room: str | None = None) -> int:
        """Bytes on disk of every indexed recording, or of one room's."""
        with self._lock:
            if room is None:
                row = self._db.execute("SELECT coalesce(sum(bytes), 0) FROM recordings").fetchone()
            else:
                row = self._db.execute(
                    "SELECT coalesce(sum(bytes), 0) FROM recordings WHERE room = ?", (room,)
                ).fetchone()
        return int(row[0])

    def summaries(self, room: str | None = None) -> list[dict[str, Any]]:
        """Every recording (or one room's) without participants or events, oldest first.

        Unpaged, for housekeeping such as retention: rows are small."""
        sql = f"SELECT {_RECORDING_COLUMNS} FROM recordings"
        params: tuple[str, ...] = ()
        if room is not None:
            sql += " WHERE room = ?"
            params = (room,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY started_at, id", params).fetchall()
        return [_recording_dict(row) for row in rows]

    def _participants(self, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Participants of each recording in `ids`. The caller holds the lock."""
        found: dict[str, list[dict[str, Any]]] = {}
        for chunk in _chunks(ids, 500):  # SQLite's bound-parameter limit
            marks = ", ".join("?" * len(chunk))
            for row in self._db.execute(
                "SELECT recording_id, participant_id AS id, name, kind, device, role "
                f"FROM participants WHERE recording_id IN ({marks}) ORDER BY rowid",
                chunk,
            ):
                entry = dict(row)
                found.setdefault(entry.pop("recording_id"), []).append(entry)
        return found

    def _matches(
        self, ids: list[str], clause: str, params: list[Any]
    ) -> dict[str, list[dict[str, Any]]]:
        """Events matching `clause` in each recording, at most MAX_LIMIT each; lock held."""
        found: dict[str, list[dict[str, Any]]] = {}
        for recording_id in ids:
            rows = self._db.execute(
                "SELECT data FROM events e WHERE e.recording_id = ? AND "
                f"{clause} ORDER BY e.at, e.seq LIMIT ?",
                [recording_id, *params, MAX_LIMIT],
            )
            found[recording_id] = [json.loads(row[0]) for row in rows]
        return found


class _ManifestRows:
    def __init__(self) -> None:
        self.recording: dict[str, Any] = {}
        self.participants: list[tuple[Any, ...]] = []
        self.tracks: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []


def _manifest_rows(manifest: Mapping[str, Any], directory: Path) -> _ManifestRows:
    """The rows to store for `manifest`; raises KeyError/TypeError/ValueError if malformed."""
    rows = _ManifestRows()
    recording_id = str(manifest["id"])
    state = str(manifest["state"])
    track_ends: list[datetime] = []
    track_bytes = 0
    for track in manifest.get("tracks") or []:
        rate = int(track["rate"])
        data_bytes = int(track.get("data_bytes") or 0)
        started = parse_utc(track["started_at"])
        if is_video_track(track):  # no header; its duration is in the manifest
            duration_ms = int(track.get("duration_ms") or 0)
            file_bytes = data_bytes
        else:
            duration_ms = data_bytes // PCM_BYTES_PER_SAMPLE * 1000 // rate if rate > 0 else 0
            file_bytes = data_bytes + WAV_HEADER_BYTES
        track_ends.append(started + timedelta(milliseconds=duration_ms))
        track_bytes += file_bytes
        rows.tracks.append(
            (
                recording_id,
                str(track["id"]),
                track.get("participant"),
                str(track.get("kind") or "participant"),
                rate,
                iso8601(started),
                duration_ms,
                file_bytes,
                str(track["file"]),
            )
        )
    for person in manifest.get("participants") or []:
        rows.participants.append(
            (
                recording_id,
                str(person["id"]),
                person.get("name"),
                person.get("kind"),
                person.get("device"),
                person.get("role"),
            )
        )
    for seq, event in enumerate(manifest.get("timeline") or []):
        rows.events.append(
            (
                recording_id,
                seq,
                utc_iso(event["at"]),
                str(event["type"]),
                _event_id(event.get("participant")),
                _event_id(event.get("source")),
                json.dumps(event, separators=(",", ":"), sort_keys=True),
            )
        )

    stopped = manifest.get("stopped_at")
    if stopped:
        stopped_at: str | None = utc_iso(stopped)
    elif state != "recording" and track_ends:
        # A crashed or failed recording has no stop time; its audio ends where its tracks do.
        stopped_at = iso8601(max(track_ends))
    else:
        stopped_at = None
    rows.recording = {
        "id": recording_id,
        "room": str(manifest["room"]),
        "state": state,
        "started_at": utc_iso(manifest["started_at"]),
        "stopped_at": stopped_at,
        "legal_hold": int(bool(manifest.get("legal_hold"))),
        "bytes": _disk_bytes(directory) or track_bytes,
        "manifest_sha256": manifest.get("manifest_sha256"),
        "directory": str(directory),
    }
    return rows


def _event_id(value: object) -> str | None:
    """An event's participant or source as an id: "participant.joined" carries the whole
    roster entry, other events its id."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return None if value is None else str(value)


def _disk_bytes(directory: Path) -> int:
    """What the recording's files take on disk (0 if the directory is not there)."""
    try:
        return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    except OSError:
        return 0


def _participant_clause(recording_column: str, participant: str) -> tuple[str, list[Any]]:
    """SQL over `participants p` matching an id exactly or a name case-insensitively."""
    escaped = participant.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    clause = (
        f"p.recording_id = {recording_column} AND "
        "(p.participant_id = ? OR lower(p.name) LIKE ? ESCAPE '\\')"
    )
    return clause, [participant, f"%{escaped}%"]


def _event_clause(
    event_type: str | None,
    source: str | None,
    participant: str | None,
    since: str | None,
    until: str | None,
) -> tuple[str, list[Any]]:
    """SQL over `events e` for the event filters of a search."""
    where = _Conditions()
    where.unless_none("e.type = ?", event_type)
    where.unless_none("e.source = ?", source)
    where.unless_none("e.at >= ?", since)
    where.unless_none("e.at <= ?", until)
    if participant is not None:
        clause, values = _participant_clause("e.recording_id", participant)
        where.add(
            "(e.participant_id = ? OR EXISTS (SELECT 1 FROM participants p "
            f"WHERE {clause} AND p.participant_id = e.participant_id))",
            participant,
            *values,
        )
    return where.sql(), where.params


class _Conditions:
    """SQL conditions a search ANDs together, and the parameters of their placeholders."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params += params

    def unless_none(self, clause: str, value: Any) -> None:
        """`clause` with its one placeholder `value`, when a filter is given (not None)."""
        if value is not None:
            self.add(clause, value)

    def sql(self) -> str:
        """The conditions ANDed, "1" (true) when there are none."""
        return " AND ".join(self.clauses) or "1"


def _recording_dict(row: sqlite3.Row) -> dict[str, Any]:
    result = dict(row)
    result["legal_hold"] = bool(result["legal_hold"])
    return result


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
