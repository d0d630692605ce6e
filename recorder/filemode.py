"""How recording files are created: mode 0640, whatever the process's umask.

Recordings are evidence and may hold anything said in a room: the server's user writes them,
its group (a backup or reviewers' account) may read them, nobody else may. Every file of a
recording, its index and its exports is made through here, or given this mode before it
takes its final name."""

from __future__ import annotations

import io
import os
from pathlib import Path

FILE_MODE = 0o640
DIRECTORY_MODE = 0o750


def create_exclusive(path: Path) -> io.FileIO:
    """A new file at `path`, opened for unbuffered binary writing. Raises FileExistsError."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)  # a umask narrower than 027 must not widen it either
    return os.fdopen(descriptor, "wb", buffering=0)


def append_text(path: Path, text: str) -> None:
    """Append `text` in one O_APPEND write (lines from two threads never interleave),
    creating the file with FILE_MODE."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        os.write(descriptor, text.encode("utf-8"))
    finally:
        os.close(descriptor)


def restrict(path: Path) -> None:
    """Give a file made by a library (SQLite, FFmpeg, wave) the recordings' mode."""
    os.chmod(path, FILE_MODE)


def make_directory(path: Path, *, exist_ok: bool = True) -> None:
    """Create `path` and its parents with DIRECTORY_MODE."""
    path.mkdir(DIRECTORY_MODE, parents=True, exist_ok=exist_ok)
