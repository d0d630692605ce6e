"""Writing one track: 16-bit PCM appended in fixed segments, each journalled with its chain link.

On every flush the complete segments reach the disk through a ChainedFile (chainedfile.py):
data and header fsynced, then their journal entries, so anything on disk past the journal is at
most the segments of one flush, which recovery hashes as a final segment."""

from __future__ import annotations

import errno
from pathlib import Path

from recorder.chain import SegmentEntry
from recorder.chainedfile import ChainedFile, TrackFullError
from recorder.wavfile import MAX_DATA_BYTES, wav_header


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
        self.path = path
        self.rate = rate
        self.recording_id = recording_id
        self.segment_bytes = segment
        self._buffer = bytearray()
        self._closed = False
        self._disk = ChainedFile(path, recording_id, header=lambda size: wav_header(rate, size))

    @property
    def data_bytes(self) -> int:
        """Bytes of audio on disk (after the header), all covered by `entries`."""
        return self._disk.data_bytes

    @property
    def entries(self) -> tuple[SegmentEntry, ...]:
        return self._disk.entries

    @property
    def last_chain(self) -> str:
        """The link after the last segment on disk (the genesis link before the first)."""
        return self._disk.last_chain

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
            self._disk.close()

    def _append(self, size: int) -> list[SegmentEntry]:
        if size == 0:
            return []
        if self._disk.data_bytes + size > MAX_DATA_BYTES:
            raise TrackFullError(errno.EFBIG, "track reached the WAV size limit", str(self.path))
        # A copy (one second is ~100 KB): a view of the buffer kept alive by a traceback the
        # caller holds would forbid resizing it later.
        entries = self._disk.append(bytes(self._buffer[:size]), self.segment_bytes)
        del self._buffer[:size]
        return entries
