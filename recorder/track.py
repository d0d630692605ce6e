"""Writing one track: 16-bit PCM appended in fixed segments, each journalled with its chain link.

On every flush the complete segments reach the disk first (data and header, fsynced), then
their entries reach the journal `<track>.chain.jsonl` (fsynced). The journal therefore never
names bytes that are not on disk, and anything on disk past the journal is at most the
segments of one flush, which recovery hashes as a final segment."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path
from typing import Protocol

from recorder.chain import SegmentEntry, genesis, link_digest
from recorder.manifest import fsync_directory
from recorder.wavfile import MAX_DATA_BYTES, WAV_HEADER_BYTES, wav_header

JOURNAL_SUFFIX = ".chain.jsonl"
# Errors that mean "no room": the track cannot grow, but what is on disk stays usable.
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class TrackFullError(OSError):
    """The track could not grow (disk full, quota, or the 4 GiB WAV limit). The file and its
    journal hold every segment flushed before; unwritten audio stays buffered for a retry."""


class _BinaryFile(Protocol):
    def write(self, data: bytes | memoryview, /) -> int | None: ...
    def seek(self, offset: int, whence: int = ..., /) -> int: ...
    def truncate(self, size: int | None = ..., /) -> int: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...


def journal_path(track: Path) -> Path:
    """Where the chain journal of the track file `track` lives."""
    return track.with_name(track.name + JOURNAL_SUFFIX)


class TrackWriter:
    """Appends mono 16-bit PCM to a new WAV file in segments chained from the recording id.

    Call `write` as audio arrives, `flush` about once a second (from a writer thread, not the
    event loop: it fsyncs), and `close` once at the end. Not thread-safe."""

    def __init__(
        self, path: Path, rate: int, recording_id: str, segment_bytes: int | None = None
    ) -> None:
        """Creates `path` and its journal; never overwrites an existing recording.

        Raises: FileExistsError if either exists, ValueError for an odd or non-positive
        segment size, OSError if they cannot be created."""
        segment = rate * 2 if segment_bytes is None else segment_bytes
        if segment <= 0 or segment % 2:
            raise ValueError(f"segment size must be a positive whole number of samples: {segment}")
        header = wav_header(rate, 0)
        self.path = path
        self.rate = rate
        self.recording_id = recording_id
        self.segment_bytes = segment
        self._buffer = bytearray()
        self._entries: list[SegmentEntry] = []
        self._data_bytes = 0
        self._journal_bytes = 0
        self._last_chain = genesis(recording_id)
        self._closed = False
        # Unbuffered: every byte written is in the kernel at once, and the header can be
        # rewritten in place without a buffer in between.
        self._file: _BinaryFile = open(path, "xb", buffering=0)
        try:
            self._write_all(self._file, header)
            os.fsync(self._file.fileno())
            self._journal: _BinaryFile = open(journal_path(path), "xb", buffering=0)
        except BaseException:
            self._file.close()
            path.unlink()  # ours, a moment old, header only: don't leave a track without journal
            raise
        fsync_directory(path.parent)

    @property
    def data_bytes(self) -> int:
        """Bytes of audio on disk (after the header), all covered by `entries`."""
        return self._data_bytes

    @property
    def entries(self) -> tuple[SegmentEntry, ...]:
        return tuple(self._entries)

    @property
    def last_chain(self) -> str:
        """The link after the last segment on disk (the genesis link before the first)."""
        return self._last_chain

    @property
    def pending_bytes(self) -> int:
        """Audio written but not yet on disk."""
        return len(self._buffer)

    def write(self, pcm: bytes | bytearray | memoryview) -> None:
        """Buffer little-endian 16-bit samples. Raises: ValueError after close or for an odd
        length (a split sample would shift every later sample by one byte)."""
        if self._closed:
            raise ValueError(f"track {self.path} is closed")
        if len(pcm) % 2:
            raise ValueError(f"PCM16 needs whole samples, got {len(pcm)} bytes")
        self._buffer += pcm

    def flush(self) -> list[SegmentEntry]:
        """Append every complete buffered segment to the file and the journal.

        Returns: the new entries (empty if less than a segment is buffered).
        Raises: TrackFullError if the disk is full; OSError for other I/O errors. Either way the
        file is truncated back to its last journalled segment and the audio stays buffered."""
        complete = len(self._buffer) - len(self._buffer) % self.segment_bytes
        return self._append(complete)

    def close(self) -> list[SegmentEntry]:
        """Flush everything, the final partial segment included, and close the files.

        Returns: the new entries. Raises: like `flush`; the files are closed regardless, and
        audio that could not be written is lost. Calling it again returns []."""
        if self._closed:
            return []
        self._closed = True
        try:
            complete = len(self._buffer) - len(self._buffer) % self.segment_bytes
            entries = self._append(complete)
            entries += self._append(len(self._buffer))
            return entries
        finally:
            self._file.close()
            self._journal.close()

    def _append(self, size: int) -> list[SegmentEntry]:
        if size == 0:
            return []
        if self._data_bytes + size > MAX_DATA_BYTES:
            raise TrackFullError(errno.EFBIG, "track reached the WAV size limit", str(self.path))
        # A copy (one second is ~100 KB): a view of the buffer kept alive by a traceback the
        # caller holds would forbid resizing it later.
        data = bytes(self._buffer[:size])
        entries = self._chain(memoryview(data))
        lines = "".join(
            json.dumps(entry.to_json(), separators=(",", ":")) + "\n" for entry in entries
        ).encode("ascii")
        new_size = self._data_bytes + size
        try:
            # Seek, don't trust the position: a failed rollback may have left it anywhere.
            self._file.seek(WAV_HEADER_BYTES + self._data_bytes)
            self._write_all(self._file, data)
            self._write_header(new_size)
            os.fsync(self._file.fileno())
            self._journal.seek(self._journal_bytes)
            self._write_all(self._journal, lines)
            os.fsync(self._journal.fileno())
        except OSError as error:
            self._roll_back()
            if error.errno in _FULL_ERRNOS:
                raise TrackFullError(
                    error.errno, f"track cannot grow: {error.strerror}", str(self.path)
                ) from error
            raise
        del self._buffer[:size]
        self._entries += entries
        self._data_bytes = new_size
        self._journal_bytes += len(lines)
        self._last_chain = entries[-1].chain
        return entries

    def _chain(self, data: memoryview) -> list[SegmentEntry]:
        entries: list[SegmentEntry] = []
        chain = self._last_chain
        offset = self._data_bytes
        for start in range(0, len(data), self.segment_bytes):
            segment = data[start : start + self.segment_bytes]
            digest = hashlib.sha256(segment).hexdigest()
            chain = link_digest(chain, digest)
            index = len(self._entries) + len(entries)
            entries.append(SegmentEntry(index, offset, len(segment), digest, chain))
            offset += len(segment)
        return entries

    def _write_header(self, data_bytes: int) -> None:
        # Rewritten in place after each append so the file plays at any moment; the whole
        # header in one write, so a kill cannot leave one size field updated and not the other.
        self._file.seek(0)
        self._write_all(self._file, wav_header(self.rate, data_bytes))

    def _roll_back(self) -> None:
        # Best effort: if this fails too, the next append still starts at the last segment (it
        # seeks), and recovery would hash whatever lies past the journal as a final segment.
        try:
            self._file.truncate(WAV_HEADER_BYTES + self._data_bytes)
            self._write_header(self._data_bytes)
            os.fsync(self._file.fileno())
            self._journal.truncate(self._journal_bytes)
            os.fsync(self._journal.fileno())
        except OSError:
            pass

    @staticmethod
    def _write_all(file: _BinaryFile, data: bytes | memoryview) -> None:
        # Unbuffered writes may be short (a nearly full disk); loop until all is written.
        remaining = memoryview(data)
        while remaining:
            written = file.write(remaining)
            if not written:
                raise OSError(errno.EIO, "write made no progress")
            remaining = remaining[written:]
