"""The texts sent and received (SIP MESSAGE), kept in `<data_dir>/messages.sqlite3`.

One row per recipient: a text to a room's phones has one row for each phone, under one id.
Every write and search runs on one thread of its own, in order, so the event loop never waits
for the disk and a search always sees what was written before it. The table is bounded: past
MAX_ROWS the oldest rows go."""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mediacore.clock import iso8601
from mediacore.sqlitefile import open_database

HISTORY_FILE = "messages.sqlite3"
MAX_ROWS = 100_000
PRUNE_EVERY = 1000  # rows written between two prunings
MAX_RESULTS = 500
DEFAULT_RESULTS = 100

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    at REAL NOT NULL,
    direction TEXT NOT NULL,
    kind TEXT NOT NULL,
    sender TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    recipient TEXT NOT NULL,
    room TEXT,
    text TEXT NOT NULL,
    status TEXT NOT NULL,
    code INTEGER,
    reason TEXT NOT NULL DEFAULT '',
    by TEXT
);
CREATE INDEX IF NOT EXISTS messages_id ON messages (id, recipient);
CREATE INDEX IF NOT EXISTS messages_at ON messages (at);
CREATE INDEX IF NOT EXISTS messages_room ON messages (room, at);
"""


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One text to one recipient. `direction` "in" (from a phone) or "out" (from a console);
    `kind` (`target` in JSON) "room", "user", "console" or "party"; `status` "received",
    "sending", "sent", "delivered" or "failed"; `by` the account that sent it."""

    id: str
    direction: str
    kind: str
    sender: str
    sender_name: str
    recipient: str
    room: str | None
    text: str
    status: str
    at: float  # Unix seconds
    code: int | None = None
    reason: str = ""
    by: str | None = None

    def to_json(self) -> dict[str, Any]:
        entry = asdict(self)
        entry["at"] = iso8601(datetime.fromtimestamp(self.at, UTC))
        entry["from"] = entry.pop("sender")
        entry["from_name"] = entry.pop("sender_name")
        entry["to"] = entry.pop("recipient")
        entry["target"] = entry.pop("kind")
        return entry


class MessageHistory:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / HISTORY_FILE
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="messages")
        self._db: sqlite3.Connection | None = None
        self._written = 0
        self._closed = False

    def close(self) -> None:
        """Write what is queued and close; what comes after (the last deliveries of a stopping
        server) is not kept."""
        self._closed = True
        self._thread.submit(self._close)
        self._thread.shutdown(wait=True)

    def add(self, record: MessageRecord) -> None:
        """Keep `record` (written in the background, before any later search)."""
        if not self._closed:
            self._thread.submit(self._add, record)

    def update(self, message_id: str, recipient: str, status: str, code: int | None,
               reason: str) -> None:  # fmt: skip
        """A recipient's new delivery state."""
        if not self._closed:
            self._thread.submit(self._update, message_id, recipient, status, code, reason)

    async def search(
        self,
        *,
        party: str | None = None,
        room: str | None = None,
        since: float | None = None,
        limit: int = DEFAULT_RESULTS,
    ) -> list[dict[str, Any]]:
        """The newest `limit` rows (oldest first) from or to `party` (an address, or an
        account's name: its sip: addresses match), in `room`, at or after `since`."""
        loop = asyncio.get_running_loop()
        limit = max(1, min(limit, MAX_RESULTS))
        rows = await loop.run_in_executor(self._thread, self._search, party, room, since, limit)
        return [record.to_json() for record in rows]

    # -- on the history's thread ----------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = open_database(self.path, _SCHEMA)
        return self._db

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _add(self, record: MessageRecord) -> None:
        db = self._connection()
        with db:
            db.execute(
                "INSERT INTO messages (id, at, direction, kind, sender, sender_name, recipient,"
                " room, text, status, code, reason, by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (record.id, record.at, record.direction, record.kind, record.sender,
                 record.sender_name, record.recipient, record.room, record.text, record.status,
                 record.code, record.reason, record.by),
            )  # fmt: skip
        self._written += 1
        if self._written % PRUNE_EVERY == 0:
            with db:
                db.execute(
                    "DELETE FROM messages WHERE seq <= (SELECT MAX(seq) FROM messages) - ?",
                    (MAX_ROWS,),
                )

    def _update(
        self, message_id: str, recipient: str, status: str, code: int | None, reason: str
    ) -> None:
        db = self._connection()
        with db:
            db.execute(
                "UPDATE messages SET status = ?, code = ?, reason = ?"
                " WHERE id = ? AND recipient = ?",
                (status, code, reason[:200], message_id, recipient),
            )

    def _search(
        self, party: str | None, room: str | None, since: float | None, limit: int
    ) -> list[MessageRecord]:
        clauses: list[str] = []
        values: list[object] = []
        if party:
            pattern = f"sip%:{_like_escaped(party)}@%"
            clauses.append(
                "(sender = ? OR recipient = ? OR sender LIKE ? ESCAPE '\\'"
                " OR recipient LIKE ? ESCAPE '\\')"
            )
            values += [party, party, pattern, pattern]
        if room:
            clauses.append("room = ?")
            values.append(room)
        if since is not None:
            clauses.append("at >= ?")
            values.append(since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = (
            "SELECT id, direction, kind, sender, sender_name, recipient, room, text, status, at,"
            f" code, reason, by FROM messages {where} ORDER BY seq DESC LIMIT ?"
        )
        rows = self._connection().execute(query, [*values, limit]).fetchall()
        return [MessageRecord(*row) for row in reversed(rows)]


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
