"""A signed, hash-chained log: one JSON object per line, each naming the hash of the line before.

An entry is the record's own fields plus `seq` (1, 2, ...), `prev` (the previous entry's hash;
the first entry's is the log's genesis, sha256 of "mediacore-log" and the log's name), `hash`
(hex SHA-256 of the entry's canonical JSON without `hash` and `sig`) and `sig` (Ed25519 over
the hash, mediacore/signing.py). Editing, removing, inserting or reordering a line breaks the
chain at that line; a line written with another key fails its signature. Cutting lines off the
end leaves a shorter valid chain: compare `head` with a copy kept elsewhere (an event, a report).

`ChainState` is the pure part (what the next entry is); `ChainedLogFile` appends its lines to a
file (O_APPEND, fsynced) and picks the chain up again from the file's last line at start."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediacore.signing import PublicKey, SigningKey

DOMAIN = b"mediacore-log-entry\0"
RESERVED = ("seq", "prev", "hash", "sig")
MAX_LINE_BYTES = 256 * 1024  # a longer line is damage, not an entry
TAIL_BYTES = 2 * MAX_LINE_BYTES
MAX_PROBLEMS = 100

Problem = dict[str, Any]


def genesis(name: str) -> str:
    return hashlib.sha256(b"mediacore-log\0" + name.encode("utf-8")).hexdigest()


def entry_hash(entry: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the entry's canonical JSON, `hash` and `sig` left out."""
    body = {key: value for key, value in entry.items() if key not in ("hash", "sig")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class ChainState:
    """Where a log's chain stands: the last entry's seq and hash."""

    name: str
    seq: int = 0
    head: str = ""

    def __post_init__(self) -> None:
        if not self.head:
            self.head = genesis(self.name)

    def next_entry(self, record: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
        """The entry that follows, for `record` (whose keys must not be RESERVED); advances."""
        clash = [name for name in RESERVED if name in record]
        if clash:
            raise ValueError(f"a log record may not set {', '.join(clash)}")
        entry = {**record, "seq": self.seq + 1, "prev": self.head}
        entry["hash"] = entry_hash(entry)
        entry["sig"] = key.sign(DOMAIN, bytes.fromhex(entry["hash"]))
        self.seq, self.head = entry["seq"], entry["hash"]
        return entry


@dataclass(slots=True)
class ChainReport:
    """`entries`: the valid-looking entries read (in order); `head`: the last line's hash."""

    problems: list[Problem] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    head: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, line: int | None, code: str, detail: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append({"line": line, "problem": code, "detail": detail})


def entry_signed(entry: Mapping[str, Any], public: PublicKey) -> bool:
    """True if the entry's hash matches its content and its signature is by `public`: one
    entry taken out of its log (an export) can be checked alone."""
    recorded = entry.get("hash")
    if not isinstance(recorded, str) or recorded != entry_hash(entry):
        return False
    return public.verify(DOMAIN, bytes.fromhex(recorded), entry.get("sig"))


def verify_chain(name: str, lines: Iterable[bytes], public: PublicKey) -> ChainReport:
    """Check every line of log `name`: JSON, hash, signature, seq and link to the line before.

    Problem codes: "line" (not a JSON object), "hash" (content differs from its hash), "sig"
    (not signed by `public`), "seq" (not one more than the line before: removed or reordered),
    "chain" (does not name the previous line's hash). Never raises for bad content."""
    report = ChainReport(head=genesis(name))
    seq = 0
    for number, raw in enumerate(lines, start=1):
        try:
            entry = json.loads(raw)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            report.add(number, "line", "not a JSON object (torn or edited)")
            continue
        recorded = entry.get("hash")
        if not isinstance(recorded, str) or recorded != entry_hash(entry):
            report.add(number, "hash", "the entry's content does not match its hash")
        elif not public.verify(DOMAIN, bytes.fromhex(recorded), entry.get("sig")):
            report.add(number, "sig", f"not signed by key {public.id}")
        if entry.get("seq") != seq + 1:
            detail = f"seq {entry.get('seq')!r} after {seq}: an entry was removed or moved"
            report.add(number, "seq", detail)
        if entry.get("prev") != report.head:
            report.add(number, "chain", "does not follow from the entry before")
        seq = entry["seq"] if isinstance(entry.get("seq"), int) else seq + 1
        report.head = str(recorded)
        report.entries.append(entry)
    return report


def read_lines(path: Path) -> Iterator[bytes]:
    """The lines of a log file (none when it does not exist), each at most MAX_LINE_BYTES."""
    if not path.is_file():
        return
    with path.open("rb") as file:
        while raw := file.readline(MAX_LINE_BYTES + 1):
            yield raw


class ChainedLogFile:
    """A chained log kept in one file; not thread-safe: append from one thread."""

    def __init__(self, path: Path, name: str, key: SigningKey, mode: int = 0o640) -> None:
        self.path = path
        self.key = key
        self.mode = mode
        self.state = _resume(path, name)
        # A crash mid-line leaves no newline: the next entry must start a line of its own.
        self._torn = _ends_torn(path)

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Sign and chain `record`, append it as one line, fsync; returns the entry.
        Raises: OSError (the chain state is then not advanced)."""
        state = ChainState(self.state.name, self.state.seq, self.state.head)
        entry = state.next_entry(record, self.key)
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
        if self._torn:
            line = "\n" + line
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, self.mode)
        try:
            os.write(descriptor, line.encode("utf-8"))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        self.state, self._torn = state, False
        return entry


def _ends_torn(path: Path) -> bool:
    if not path.is_file() or path.stat().st_size == 0:
        return False
    with path.open("rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) != b"\n"


def _resume(path: Path, name: str) -> ChainState:
    """The chain state after the file's last complete entry (a fresh chain for no file)."""
    if not path.is_file():
        return ChainState(name)
    with path.open("rb") as file:
        size = file.seek(0, os.SEEK_END)
        file.seek(max(0, size - TAIL_BYTES))
        tail = file.read()
    for raw in reversed(tail.splitlines()):
        try:
            entry = json.loads(raw)
        except ValueError:
            continue  # a torn last line: verification reports it, the chain goes on
        if isinstance(entry, dict) and isinstance(entry.get("seq"), int):
            return ChainState(name, entry["seq"], str(entry.get("hash")))
    return ChainState(name)
