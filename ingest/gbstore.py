"""The GB/T 28181 device registry on disk: `<data_dir>/gb28181.sqlite3`.

Devices (registration, DeviceInfo) and their catalog channels, as JSON records of
ingest.gbsnapshot. Loaded once when the platform starts; every later write runs on one thread of
its own, in order, so the event loop never waits for the disk. Bounded by the table it mirrors
(ingest.gbdevices): only the table's devices and the channels it took are written, and at most
MAX_DEVICES devices (the most recently saved) with MAX_CHANNELS channels each are read back.
A file that is not a database, or a record that cannot be read, is logged and left out: the
server starts with what it can read (a broken file is moved aside to `*.broken`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ingest.gbdevices import MAX_CHANNELS, MAX_DEVICES, GbDevice
from ingest.gbsnapshot import SnapshotError, channel_record, device_record, restore_device
from ingest.manscdp import CatalogItem
from mediacore.sqlitefile import open_database

log = logging.getLogger(__name__)

STORE_FILE = "gb28181.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    saved REAL NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS channels (
    device_id TEXT NOT NULL,
    id TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (device_id, id)
);
"""


class GbDeviceStore:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / STORE_FILE
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="gb28181-store")
        self._db: sqlite3.Connection | None = None
        self._closed = False

    def load(self, now: float, wall_now: float) -> list[GbDevice]:
        """Every kept device (offline), newest first; waits for the disk (call it at start)."""
        return self._thread.submit(self._load, now, wall_now).result()

    def save(self, device: GbDevice, now: float, wall_now: float) -> None:
        """Keep `device`'s registration and DeviceInfo (written in the background)."""
        if not self._closed:
            record = json.dumps(device_record(device, now, wall_now), ensure_ascii=False)
            self._thread.submit(self._save, device.id, wall_now, record)

    def save_channels(self, device_id: str, items: list[CatalogItem]) -> None:
        """Keep these channels of `device_id` (added or replaced; the others stay)."""
        if not self._closed and items:
            rows = [
                (device_id, item.device_id, json.dumps(channel_record(item), ensure_ascii=False))
                for item in items
            ]
            self._thread.submit(self._save_channels, rows)

    def forget(self, device_id: str) -> None:
        if not self._closed:
            self._thread.submit(self._forget, device_id)

    def close(self) -> None:
        """Write what is queued and close."""
        if self._closed:
            return
        self._closed = True
        self._thread.submit(self._close)
        self._thread.shutdown(wait=True)

    # -- on the store's thread ------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = open_database(self.path, _SCHEMA)
        return self._db

    def _load(self, now: float, wall_now: float) -> list[GbDevice]:
        try:
            return self._read(now, wall_now)
        except sqlite3.DatabaseError as error:
            log.warning("gb28181 device store unreadable, starting empty: %s", error)
            self._close()
            self.path.replace(self.path.with_name(self.path.name + ".broken"))
            return []

    def _read(self, now: float, wall_now: float) -> list[GbDevice]:
        db = self._connection()
        rows = db.execute(
            "SELECT id, record FROM devices ORDER BY saved DESC LIMIT ?", (MAX_DEVICES,)
        ).fetchall()
        devices = []
        for device_id, text in rows:
            channels = [
                record
                for (channel,) in db.execute(
                    "SELECT record FROM channels WHERE device_id = ? LIMIT ?",
                    (device_id, MAX_CHANNELS),
                )
                if isinstance(record := _json(channel), dict)
            ]
            record = _json(text)
            try:
                if not isinstance(record, dict):
                    raise SnapshotError(f"device {device_id}: not a record")
                devices.append(
                    restore_device(device_id, record, channels, now=now, wall_now=wall_now)
                )
            except SnapshotError as error:
                log.warning("gb28181 device not restored: %s", error)
        return devices

    def _save(self, device_id: str, saved: float, record: str) -> None:
        db = self._connection()
        with db:
            db.execute(
                "INSERT INTO devices (id, saved, record) VALUES (?, ?, ?) ON CONFLICT(id) "
                "DO UPDATE SET saved = excluded.saved, record = excluded.record",
                (device_id, saved, record),
            )

    def _save_channels(self, rows: list[tuple[str, str, str]]) -> None:
        db = self._connection()
        with db:
            db.executemany(
                "INSERT INTO channels (device_id, id, record) VALUES (?, ?, ?) "
                "ON CONFLICT(device_id, id) DO UPDATE SET record = excluded.record",
                rows,
            )

    def _forget(self, device_id: str) -> None:
        db = self._connection()
        with db:
            db.execute("DELETE FROM devices WHERE id = ?", (device_id,))
            db.execute("DELETE FROM channels WHERE device_id = ?", (device_id,))

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _json(text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None
