"""The manifest of a recording: sealed with the SHA-256 of its canonical JSON, replaced
atomically so a crash leaves either the old or the new file, never a torn one.

The manifest's shape belongs to the orchestrator; this module relies only on "id", "state" and
"tracks" (each with "id", "file", "rate", "segments" and "data_bytes"), see verify.py."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from recorder.filemode import FILE_MODE

MANIFEST_NAME = "manifest.json"
SEAL_KEY = "manifest_sha256"
SIGNATURE_KEY = "signature"  # recorder/signature.py: made over the same bytes as the seal
# A day of a dozen tracks is tens of MB; refuse absurd files rather than exhaust memory.
MAX_MANIFEST_BYTES = 1 << 30


class ManifestError(ValueError):
    """The manifest is missing, unreadable or not a JSON object."""


def canonical_json(manifest: Mapping[str, Any]) -> bytes:
    """The bytes the seal (and the signature) is computed over: sorted keys, no spaces, UTF-8,
    the seal and the signature left out."""
    unsealed = {
        key: value for key, value in manifest.items() if key not in (SEAL_KEY, SIGNATURE_KEY)
    }
    return json.dumps(unsealed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def seal(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `manifest` with SEAL_KEY set to the hex SHA-256 of its canonical JSON."""
    sealed = dict(manifest)
    sealed[SEAL_KEY] = hashlib.sha256(canonical_json(manifest)).hexdigest()
    return sealed


def manifest_hash_ok(manifest: Mapping[str, Any]) -> bool:
    """True if the manifest carries a seal and it matches its content."""
    recorded = manifest.get(SEAL_KEY)
    if not isinstance(recorded, str):
        return False
    expected = hashlib.sha256(canonical_json(manifest)).hexdigest()
    return hmac.compare_digest(recorded, expected)


def write_manifest(directory: Path, manifest: Mapping[str, Any]) -> None:
    """Atomically replace `directory`/manifest.json with `manifest` (sealed or not, as given).

    Writes a temporary file in the same directory, fsyncs it, renames it over the old one and
    fsyncs the directory. Raises: OSError; on failure the old manifest is left in place."""
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    descriptor, temporary = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(descriptor, FILE_MODE)  # mkstemp makes 0600: a recording's files are 0640
        with os.fdopen(descriptor, "wb") as file:
            file.write(text.encode("utf-8"))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, directory / MANIFEST_NAME)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_directory(directory)


def read_manifest(directory: Path) -> dict[str, Any]:
    """The parsed `directory`/manifest.json.

    Raises: ManifestError if it is missing, too large, not UTF-8 JSON, or not an object."""
    path = directory / MANIFEST_NAME
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError(f"no {MANIFEST_NAME} in {directory}") from None
    except OSError as error:
        raise ManifestError(f"cannot read {path}: {error.strerror}") from error
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path} is not valid JSON: {str(error)[:200]}") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path} holds a {type(manifest).__name__}, not an object")
    return manifest


def track_file(directory: Path, relative: object) -> Path:
    """The path of a track file named in the manifest, which must stay inside `directory`.

    Raises: ManifestError for a non-string, empty, absolute or '..' path (a tampered manifest
    must not make the verifier read, or recovery write, files elsewhere)."""
    if not isinstance(relative, str) or not relative:
        raise ManifestError("track file must be a non-empty string")
    parts = PurePosixPath(relative.replace("\\", "/"))
    if parts.is_absolute() or ".." in parts.parts or Path(relative).is_absolute():
        raise ManifestError(f"track file {relative[:200]!r} is outside the recording directory")
    return directory.joinpath(*parts.parts)


def fsync_directory(directory: Path) -> None:
    """Make a create, rename or delete in `directory` durable (a no-op where unsupported)."""
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
