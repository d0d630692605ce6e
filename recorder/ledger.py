"""The ledger of sealed recordings: a signed, hash-chained log (mediacore/chainedlog.py) with one
entry each time a recording is sealed (stopped, recovered, amended) or deleted through the
server, so that a recording removed whole from the disk is noticed.

An entry: {"at", "recording", "event": "sealed" | "adopted" | "deleted", "manifest_sha256",
"reason" | "by", ...chain fields}. "adopted" enters a recording found on disk when the ledger
was first made (an upgrade), or sealed by a worker whose entry the control process had not
written yet when it stopped.

`verify_ledger` checks the chain, then compares the ledger with the recordings on disk."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mediacore.chainedlog import ChainedLogFile, read_lines, verify_chain
from mediacore.clock import iso8601
from mediacore.signing import PublicKey, SigningKey
from recorder.filemode import FILE_MODE
from recorder.manifest import SEAL_KEY, ManifestError, read_manifest

LEDGER_FILE = "recordings-ledger.jsonl"  # in the data dir, beside recordings/, not inside it
CHAIN_NAME = "recordings-ledger"


class RecordingLedger:
    """Appends to the ledger; from one thread only (the recorder's index writer)."""

    def __init__(self, path: Path, key: SigningKey) -> None:
        self.path = path
        self.existed = path.is_file()
        self.log = ChainedLogFile(path, CHAIN_NAME, key, FILE_MODE)

    def sealed(self, manifest: Mapping[str, Any], reason: str, event: str = "sealed") -> None:
        """Enter a sealed (and signed) manifest. Raises OSError."""
        self.log.append(
            {"at": _now(), "recording": str(manifest.get("id")), "event": event,
             "manifest_sha256": manifest.get(SEAL_KEY), "reason": reason}
        )  # fmt: skip

    def deleted(self, recording_id: str, by: str) -> None:
        """Enter a deletion through the server (API or retention). Raises OSError."""
        self.log.append({"at": _now(), "recording": recording_id, "event": "deleted", "by": by})


@dataclass(frozen=True, slots=True)
class LedgerReport:
    """`problems`: {"line"?, "recording"?, "problem", "detail"}; `head`: the last entry's hash
    (keep a copy elsewhere: lines cut off the end are noticed only against it)."""

    ok: bool
    problems: list[dict[str, Any]]
    entries: int
    head: str

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": self.problems, "entries": self.entries,
                "head": self.head}  # fmt: skip


def verify_ledger(
    path: Path, recordings: Path, public: PublicKey, recording_now: Collection[str] = ()
) -> LedgerReport:
    """Check the ledger at `path` (chain, signatures) against the directories in `recordings`.

    Problem codes besides the chain's: "missing" (sealed in the ledger, not on disk: deleted by
    hand), "not-in-ledger" (on disk, never entered: `recording_now` are still being written),
    "manifest-replaced" (the manifest's seal on disk is not the ledger's last one for it),
    "deleted-but-present" (deleted in the ledger, still on disk)."""
    chain = verify_chain(CHAIN_NAME, read_lines(path), public)
    problems: list[dict[str, Any]] = list(chain.problems)
    last: dict[str, dict[str, Any]] = {}
    for entry in chain.entries:
        last[str(entry.get("recording"))] = entry
    on_disk = {p.name for p in recordings.iterdir() if p.is_dir()} if recordings.is_dir() else set()
    for recording_id, entry in sorted(last.items()):
        present = recording_id in on_disk
        if entry.get("event") == "deleted":
            if present:
                detail = f"deleted {entry.get('at')} but still on disk"
                problems.append(_problem(recording_id, "deleted-but-present", detail))
            continue
        if not present:
            detail = f"sealed {entry.get('at')}, its directory is gone (not deleted by the server)"
            problems.append(_problem(recording_id, "missing", detail))
            continue
        found = _seal_on_disk(recordings / recording_id)
        if found != entry.get("manifest_sha256"):
            recorded = entry.get("manifest_sha256")
            detail = f"the manifest on disk is sealed {found}, the ledger says {recorded}"
            problems.append(_problem(recording_id, "manifest-replaced", detail))
    for recording_id in sorted(on_disk - set(last) - set(recording_now)):
        detail = "on disk but never sealed through this server"
        problems.append(_problem(recording_id, "not-in-ledger", detail))
    return LedgerReport(not problems, problems, len(chain.entries), chain.head)


def _seal_on_disk(directory: Path) -> str | None:
    try:
        seal = read_manifest(directory).get(SEAL_KEY)
    except ManifestError:
        return None
    return seal if isinstance(seal, str) else None


def _problem(recording_id: str, code: str, detail: str) -> dict[str, Any]:
    return {"recording": recording_id, "problem": code, "detail": detail}


def _now() -> str:
    return iso8601(datetime.now(UTC))
