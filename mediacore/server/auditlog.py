"""The audit log: every control action, one signed, hash-chained JSON line each
(mediacore/chainedlog.py), in `<data_dir>/audit.jsonl`.

An entry: {"at", "who" (the principal's name, null when no known token was sent), "identity"
(which credential), "role", "address" (the client's), "action" ("POST /api/v1/rooms/{room}/
recordings": the method and the route), "path" (as requested), "room", "targets" (the other
ids of the path, and the "id" the answer named), "result" (the HTTP status)} plus the chain
fields. The file is not rotated: a chain in one file is what a verifier checks in one pass,
and an entry is a few hundred bytes (a million control actions are a few hundred MB);
archive it by copying, never by editing.

Lines are appended on one thread of their own, in the order actions finish; searches run on
that thread too, so an action answered before a search began is always found.

Under a flood the log must neither fill the disk nor the memory: refusals of requests without
a known token are kept to ANONYMOUS_PER_SECOND entries a second, and at most MAX_PENDING
entries wait for the disk; what is left out is counted and said in one "audit.suppressed"
entry, written before the next entry that is kept."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mediacore.chainedlog import ChainedLogFile, ChainReport, read_lines, verify_chain
from mediacore.clock import iso8601
from mediacore.signing import SigningKey

log = logging.getLogger(__name__)

AUDIT_FILE = "audit.jsonl"
CHAIN_NAME = "audit"
ANONYMOUS_PER_SECOND = 20
MAX_PENDING = 10_000


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """What to find: times are ISO 8601 UTC strings as entries write them (compared as text,
    which orders them); `who` matches the name or the identity; `action` is a substring of
    the action; `recording` matches an id in the targets."""

    since: str | None = None
    until: str | None = None
    who: str | None = None
    action: str | None = None
    room: str | None = None
    recording: str | None = None
    limit: int = 100
    offset: int = 0

    def matches(self, entry: Mapping[str, Any]) -> bool:
        at = str(entry.get("at", ""))
        targets = entry.get("targets") or {}
        return (
            (self.since is None or at >= self.since)
            and (self.until is None or at <= self.until)
            and (self.who is None or self.who in (entry.get("who"), entry.get("identity")))
            and (self.action is None or self.action.lower() in str(entry.get("action")).lower())
            and (self.room is None or entry.get("room") == self.room)
            and (
                self.recording is None
                or (isinstance(targets, Mapping) and self.recording in targets.values())
            )
        )


class AuditLog:
    def __init__(
        self, data_dir: Path, key: SigningKey, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = data_dir / AUDIT_FILE
        self.key = key
        self.clock = clock
        data_dir.mkdir(parents=True, exist_ok=True)
        self.file = ChainedLogFile(self.path, CHAIN_NAME, key, 0o600)
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit")
        self.suppressed = 0  # entries left out since the last one kept
        self._second = -1
        self._anonymous = 0  # anonymous entries kept in the current second
        self._pending = 0
        self._lock = threading.Lock()

    def record(self, entry: Mapping[str, Any], anonymous: bool = False) -> None:
        """Append an entry (without waiting; in call order) unless the flood limits say
        otherwise (see the module's docstring). `anonymous`: no known principal."""
        if anonymous and not self._anonymous_allowed():
            self.suppressed += 1
            return
        with self._lock:
            if self._pending >= MAX_PENDING:
                self.suppressed += 1
                return
        if self.suppressed:
            note = {"at": iso8601(datetime.now(UTC)), "action": "audit.suppressed",
                    "count": self.suppressed}  # fmt: skip
            self.suppressed = 0
            self._submit(note)
        self._submit(dict(entry))

    def _anonymous_allowed(self) -> bool:
        second = int(self.clock())
        if second != self._second:
            self._second, self._anonymous = second, 0
        self._anonymous += 1
        return self._anonymous <= ANONYMOUS_PER_SECOND

    def _submit(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._pending += 1
        self.thread.submit(self._append, entry)

    def _append(self, entry: dict[str, Any]) -> None:
        try:
            self.file.append(entry)
        except OSError as error:  # the action happened: say so where it can still be seen
            log.error("audit entry not written", extra={"error": str(error), "audit": entry})
        finally:
            with self._lock:
                self._pending -= 1

    async def search(self, query: AuditQuery) -> list[dict[str, Any]]:
        """Entries matching `query`, oldest first, from `offset` on, at most `limit`."""
        return await self._on_thread(self._search, query)

    def _search(self, query: AuditQuery) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        skipped = 0
        for entry in self._entries():
            if not query.matches(entry):
                continue
            if skipped < query.offset:
                skipped += 1
                continue
            found.append(entry)
            if len(found) >= query.limit:
                break
        return found

    async def verify(self) -> ChainReport:
        """The chain and every signature (mediacore/chainedlog.py's problem codes)."""
        return await self._on_thread(
            verify_chain, CHAIN_NAME, read_lines(self.path), self.key.public
        )

    def _entries(self) -> Iterator[dict[str, Any]]:
        for raw in read_lines(self.path):
            try:
                entry = json.loads(raw)
            except ValueError:
                continue  # damage: /audit/verify reports it
            if isinstance(entry, dict):
                yield entry

    async def _on_thread(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.thread, function, *args)

    def close(self) -> None:
        self.thread.shutdown(wait=True)
