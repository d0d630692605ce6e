"""A SQLite file that one thread of its owner reads and writes (the message history, the
GB/T 28181 device registry): opened in WAL mode with NORMAL sync, its schema made on open."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_database(path: Path, schema: str) -> sqlite3.Connection:
    """Open (or create, with its folder) the database at `path` and run `schema` (statements
    that are harmless when repeated: CREATE ... IF NOT EXISTS)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db
