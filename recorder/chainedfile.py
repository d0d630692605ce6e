"""A track file and its chain journal `<track>.chain.jsonl`, appended together: the one place
where segments of a recording reach the disk, for audio (track.py) and video (video.py) alike.

Each append writes the segments' bytes (fsynced) before their journal lines (fsynced). The
journal therefore never names bytes that are not on disk; a failed write truncates both back to
the last journalled segment, and anything past the journal after a crash is at most one append,
which recovery (recovery.py) hashes as a final segment."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from recorder.chain import SegmentEntry, genesis, link_digest
from recorder.filemode import create_exclusive
from recorder.manifest import fsync_directory

JOURNAL_SUFFIX = ".chain.jsonl"
# Errors that mean "no room": the track cannot grow, but what is on disk stays usable.
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class TrackFullError(OSError):
    """The track could not grow (disk full, quota, or a format's size limit). The file and its
    journal hold every segment appended before."""


class _BinaryFile(Protocol):
    def write(self, data: bytes | memoryview, /) -> int | None: ...
    def seek(self, offset: int, whence: int = ..., /) -> int: ...
    def truncate(self, size: int | None = ..., /) -> int: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...


def journal_path(track: Path) -> Path:
    """Where the chain journal of the track file `track` lives."""
    return track.with_name(track.name + JOURNAL_SUFFIX)


class ChainedFile:
    """A new track file whose data is appended in segments chained from the recording id, each
    journalled with its link. Call `append` from a writer thread (it fsyncs) and `close` once.
    Not thread-safe.

    `header`, if given, returns the file's header for a given number of data bytes: it is
    written on creation and rewritten in place after every append, in one write, so the file
    is playable at any moment (a WAV header's sizes). Entry offsets count from after it."""

    def __init__(
        self, path: Path, recording_id: str, header: Callable[[int], bytes] | None = None
    ) -> None:
        """Creates `path` and its journal; never overwrites an existing recording.

        Raises: FileExistsError if either exists (no track is left without a journal),
        OSError if they cannot be created."""
        self.path = path
        self._header = header
        self._data_start = 0 if header is None else len(header(0))
        self._entries: list[SegmentEntry] = []
        self._data_bytes = 0
        self._journal_bytes = 0
        self._last_chain = genesis(recording_id)
        # Unbuffered: every byte written is in the kernel at once, and the header can be
        # rewritten in place without a buffer in between.
        self._file: _BinaryFile = create_exclusive(path)
        try:
            if header is not None:
                _write_all(self._file, header(0))
                os.fsync(self._file.fileno())
            self._journal: _BinaryFile = create_exclusive(journal_path(path))
        except BaseException:
            self._file.close()
            path.unlink()  # ours, a moment old, header only: don't leave a track without journal
            raise
        fsync_directory(path.parent)

    @property
    def entries(self) -> tuple[SegmentEntry, ...]:
        return tuple(self._entries)

    @property
    def data_bytes(self) -> int:
        """Bytes of data on disk (after the header), all covered by `entries`."""
        return self._data_bytes

    @property
    def last_chain(self) -> str:
        """The link after the last segment on disk (the genesis link before the first)."""
        return self._last_chain

    def append(self, data: bytes, segment_bytes: int | None = None) -> list[SegmentEntry]:
        """Append `data` as segments of `segment_bytes` (the last may be shorter; one segment
        if None), then journal them.

        Returns: the new entries ([] for no data). Raises: TrackFullError if the disk is full;
        OSError for other I/O errors. Either way the file and the journal are truncated back
        to the last journalled segment, and `data` may be appended again."""
        if not data:
            return []
        entries = self._chain(memoryview(data), segment_bytes or len(data))
        lines = "".join(
            json.dumps(entry.to_json(), separators=(",", ":")) + "\n" for entry in entries
        ).encode("ascii")
        new_size = self._data_bytes + len(data)
        try:
            # Seek, don't trust the position: a failed rollback may have left it anywhere.
            self._file.seek(self._data_start + self._data_bytes)
            _write_all(self._file, data)
            self._write_header(new_size)
            os.fsync(self._file.fileno())
            self._journal.seek(self._journal_bytes)
            _write_all(self._journal, lines)
            os.fsync(self._journal.fileno())
        except OSError as error:
            self._roll_back()
            if error.errno in _FULL_ERRNOS:
                raise TrackFullError(
                    error.errno, f"track cannot grow: {error.strerror}", str(self.path)
                ) from error
            raise
        self._entries += entries
        self._data_bytes = new_size
        self._journal_bytes += len(lines)
        self._last_chain = entries[-1].chain
        return entries

    def close(self) -> None:
        """Close the file and the journal as they are (what is not appended is not written)."""
        self._file.close()
        self._journal.close()

    def _chain(self, data: memoryview, segment_bytes: int) -> list[SegmentEntry]:
        entries: list[SegmentEntry] = []
        chain = self._last_chain
        offset = self._data_bytes
        for start in range(0, len(data), segment_bytes):
            segment = data[start : start + segment_bytes]
            digest = hashlib.sha256(segment).hexdigest()
            chain = link_digest(chain, digest)
            index = len(self._entries) + len(entries)
            entries.append(SegmentEntry(index, offset, len(segment), digest, chain))
            offset += len(segment)
        return entries

    def _write_header(self, data_bytes: int) -> None:
        if self._header is None:
            return
        self._file.seek(0)
        _write_all(self._file, self._header(data_bytes))

    def _roll_back(self) -> None:
        # Best effort: if this fails too, the next append still starts at the last segment (it
        # seeks), and recovery would hash whatever lies past the journal as a final segment.
        try:
            self._file.truncate(self._data_start + self._data_bytes)
            self._write_header(self._data_bytes)
            os.fsync(self._file.fileno())
            self._journal.truncate(self._journal_bytes)
            os.fsync(self._journal.fileno())
        except OSError:
            pass


def _write_all(file: _BinaryFile, data: bytes | memoryview) -> None:
    # Unbuffered writes may be short (a nearly full disk); loop until all is written.
    remaining = memoryview(data)
    while remaining:
        written = file.write(remaining)
        if not written:
            raise OSError(errno.EIO, "write made no progress")
        remaining = remaining[written:]
