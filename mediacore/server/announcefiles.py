"""Uploaded announcement files, kept in `<data_dir>/announcements/files`.

A name is cleaned before it is used: only its last path part counts, characters other than
letters, digits, ' ', '-', '_' and '.' become '_', leading dots and spaces go, at most 100
characters. An upload is written under a hidden temporary name (bounded by MAX_FILE_BYTES),
decoded once to prove that it is audio this server plays (mediacore/server/clips.py), and only
then takes its name, replacing a file of the same name."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mediacore.clock import iso8601
from mediacore.server.clips import PROBE_RATE, decode_mono

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_NAME = 100


class FileTooLarge(ValueError):
    """The upload is larger than MAX_FILE_BYTES."""


def clean_name(name: str) -> str:
    """A safe file name for `name`; raises ValueError when nothing usable is left."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c if c.isalnum() or c in " -_." else "_" for c in base)
    cleaned = cleaned.lstrip(". ").rstrip(" ")[:MAX_NAME]
    if not cleaned or cleaned.strip("._- ") == "":
        raise ValueError(f"{name!r} is not a usable file name")
    return cleaned


class AnnouncementFiles:
    def __init__(self, directory: Path, max_bytes: int = MAX_FILE_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    def path(self, name: str) -> Path:
        """The stored file `name`. Raises KeyError when there is none."""
        try:
            cleaned = clean_name(name)
        except ValueError:
            raise KeyError(name) from None
        path = self.directory / cleaned
        if cleaned != name or not path.is_file():
            raise KeyError(name)
        return path

    def entries(self) -> list[dict[str, Any]]:
        """{"name", "bytes", "modified"} of every stored file, by name."""
        if not self.directory.is_dir():
            return []
        return [
            _entry(path)
            for path in sorted(self.directory.iterdir())
            if path.is_file() and not path.name.startswith(".")
        ]

    async def save(self, name: str, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        """Store the upload `chunks` as `name` (cleaned): {"name", "bytes", "modified",
        "duration_s"}. Raises ValueError for a bad name, FileTooLarge, or
        mediacore.server.clips.ClipError when it is not audio."""
        cleaned = clean_name(name)
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.directory / f".upload-{secrets.token_hex(6)}"
        try:
            size = 0
            with temporary.open("wb") as file:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FileTooLarge(f"a file is limited to {self.max_bytes} bytes")
                    file.write(chunk)
            pcm = await asyncio.to_thread(decode_mono, temporary, PROBE_RATE)
            path = self.directory / cleaned
            temporary.replace(path)
        finally:
            temporary.unlink(missing_ok=True)
        return {**_entry(path), "duration_s": round(len(pcm) / PROBE_RATE, 2)}

    def delete(self, name: str) -> None:
        """Remove the stored file `name` (clips decoded from it stay cached until pruned).
        Raises KeyError."""
        self.path(name).unlink()


def _entry(path: Path) -> dict[str, Any]:
    stat = path.stat()
    modified = iso8601(datetime.fromtimestamp(stat.st_mtime, UTC))
    return {"name": path.name, "bytes": stat.st_size, "modified": modified}
