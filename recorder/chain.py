"""The hash chain of a track: each segment's SHA-256 folded into the previous link.

A segment's link is sha256(previous link || sha256(segment)); the first link follows from the
recording id alone. Changing, removing, inserting or reordering any segment breaks every link
from there on, so a verifier can name the first segment that differs."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GENESIS_PREFIX = b"mediacore-recording\0"
_HEX_DIGEST_CHARS = 64


class SegmentEntryError(ValueError):
    """A segment entry (from a manifest or a journal) is malformed."""


def genesis(recording_id: str) -> str:
    """The link before a track's first segment: hex sha256(GENESIS_PREFIX + utf-8 id)."""
    return hashlib.sha256(GENESIS_PREFIX + recording_id.encode("utf-8")).hexdigest()


def link(previous: str, segment: bytes) -> str:
    """The link after `segment`, given the previous link (hex)."""
    return link_digest(previous, hashlib.sha256(segment).hexdigest())


def link_digest(previous: str, segment_sha256: str) -> str:
    """The link after a segment whose hex SHA-256 is already known (hashing was streamed)."""
    return hashlib.sha256(bytes.fromhex(previous) + bytes.fromhex(segment_sha256)).hexdigest()


@dataclass(frozen=True, slots=True)
class SegmentEntry:
    """One segment of a track: `offset` counts from the start of the WAV data (after the
    44-byte header), `sha256` is the segment's digest and `chain` its link (both hex)."""

    index: int
    offset: int
    length: int
    sha256: str
    chain: str

    @property
    def end(self) -> int:
        return self.offset + self.length

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "offset": self.offset,
            "length": self.length,
            "sha256": self.sha256,
            "chain": self.chain,
        }

    @classmethod
    def from_json(cls, data: object) -> SegmentEntry:
        """Raises: SegmentEntryError unless `data` is an object with non-negative integer
        index, offset and length and 64-digit lowercase hex sha256 and chain."""
        if not isinstance(data, Mapping):
            raise SegmentEntryError(f"segment entry must be an object, not {type(data).__name__}")
        numbers = {}
        for key in ("index", "offset", "length"):
            value = data.get(key)
            # bool is an int subclass; JSON true must not pass as 1.
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise SegmentEntryError(f"segment {key} must be a non-negative integer")
            numbers[key] = value
        digests = {}
        for key in ("sha256", "chain"):
            value = data.get(key)
            if not _is_hex_digest(value):
                raise SegmentEntryError(f"segment {key} must be 64 lowercase hex digits")
            digests[key] = str(value)
        return cls(
            index=numbers["index"],
            offset=numbers["offset"],
            length=numbers["length"],
            sha256=digests["sha256"],
            chain=digests["chain"],
        )


def _is_hex_digest(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) == _HEX_DIGEST_CHARS
        and all(char in "0123456789abcdef" for char in value)
    )
