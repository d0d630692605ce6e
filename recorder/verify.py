"""Proving a recording unaltered: the manifest seal, then every track's header, length, segment
hashes and chain, read back from disk one segment at a time.

Problem codes: "manifest" (unreadable or malformed), "manifest-hash" (no seal or a wrong one),
"signature" (given the server's public key: no signature, another key's, or one that does not
match the manifest; recorder/signature.py),
"missing-file", "header" (not 16-bit mono PCM at the manifest rate, or a data size other than
the manifest's), "length" (file shorter than header + data_bytes, or segments running past
data_bytes), "extra-bytes" (file longer), "gap" (segments not contiguous from 0 in index order,
or not reaching data_bytes), "segment-hash" (bytes on disk differ or are missing), "chain" (a
link does not follow from the previous one), "more" (further problems in a track not listed).

A video track (kind "video") has no header: its segments cover the whole file from byte 0."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeGuard

from mediacore.signing import PublicKey
from recorder.chain import SegmentEntry, SegmentEntryError, genesis, link_digest
from recorder.manifest import (
    SEAL_KEY,
    ManifestError,
    manifest_hash_ok,
    read_manifest,
    track_file,
)
from recorder.signature import signature_problem
from recorder.trackkinds import is_video_track
from recorder.wavfile import WAV_HEADER_BYTES, WavError, read_wav_header

Problem = dict[str, Any]

READ_CHUNK_BYTES = 1 << 20
# A shifted byte early in a long track fails every later segment; list the first ones only.
MAX_PROBLEMS_PER_TRACK = 100


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """`ok` is True only if `problems` is empty. Each problem is {"track": id | None,
    "segment": position | None, "problem": code, "detail": text}; codes are listed above."""

    ok: bool
    problems: list[Problem]


def problem(track: str | None, segment: int | None, code: str, detail: str) -> Problem:
    return {"track": track, "segment": segment, "problem": code, "detail": detail}


def verify_recording(directory: Path, public: PublicKey | None = None) -> VerifyReport:
    """Check the recording in `directory` against its manifest, streaming every track file;
    with `public` (the server's key) its signature too.

    Returns: the report; never raises for damaged or altered content (that is a problem)."""
    try:
        manifest = read_manifest(directory)
    except ManifestError as error:
        return VerifyReport(False, [problem(None, None, "manifest", str(error))])
    problems: list[Problem] = []
    if not manifest_hash_ok(manifest):
        detail = (
            "the manifest content does not match its manifest_sha256"
            if SEAL_KEY in manifest
            else "the manifest is not sealed"
        )
        problems.append(problem(None, None, "manifest-hash", detail))
    if public is not None:
        unsigned = signature_problem(manifest, public)
        if unsigned is not None:
            problems.append(problem(None, None, "signature", unsigned))
    recording_id = manifest.get("id")
    tracks = manifest.get("tracks")
    if not isinstance(recording_id, str) or not isinstance(tracks, list):
        problems.append(problem(None, None, "manifest", "needs a string id and a tracks list"))
        return VerifyReport(False, problems)
    seen: set[str] = set()
    for position, track in enumerate(tracks):
        track_id = track.get("id") if isinstance(track, Mapping) else None
        if not isinstance(track, Mapping) or not isinstance(track_id, str):
            problems.append(problem(None, None, "manifest", f"track #{position} has no string id"))
            continue
        if track_id in seen:
            problems.append(problem(track_id, None, "manifest", "track id listed twice"))
            continue
        seen.add(track_id)
        found = verify_track(directory, recording_id, track)
        if len(found) > MAX_PROBLEMS_PER_TRACK:
            more = len(found) - MAX_PROBLEMS_PER_TRACK
            found = found[:MAX_PROBLEMS_PER_TRACK]
            found.append(problem(track_id, None, "more", f"{more} more problems not listed"))
        problems += found
    return VerifyReport(not problems, problems)


def verify_track(directory: Path, recording_id: str, track: Mapping[str, Any]) -> list[Problem]:
    """The problems of one manifest track (see the module docstring); [] if it is intact."""
    track_id = str(track.get("id"))
    rate = track.get("rate")
    data_bytes = track.get("data_bytes")
    raw_segments = track.get("segments")
    if not (_is_count(rate) and _is_count(data_bytes) and isinstance(raw_segments, list)):
        detail = "needs integer rate and data_bytes and a segments list"
        return [problem(track_id, None, "manifest", detail)]
    try:
        path = track_file(directory, track.get("file"))
        entries = [SegmentEntry.from_json(raw) for raw in raw_segments]
    except (ManifestError, SegmentEntryError) as error:
        return [problem(track_id, None, "manifest", str(error))]
    if not path.is_file():
        return [problem(track_id, None, "missing-file", f"{track.get('file')} is not on disk")]
    header_bytes = 0 if is_video_track(track) else WAV_HEADER_BYTES
    with path.open("rb") as file:
        problems: list[Problem] = []
        if header_bytes:
            problems += _check_header(track_id, file.read(header_bytes), rate, data_bytes)
        on_disk = max(0, os.fstat(file.fileno()).st_size - header_bytes)
        if on_disk < data_bytes:
            detail = f"{on_disk} data bytes on disk, the manifest says {data_bytes}"
            problems.append(problem(track_id, None, "length", detail))
        elif on_disk > data_bytes:
            detail = f"{on_disk - data_bytes} bytes on disk past the {data_bytes} recorded"
            problems.append(problem(track_id, None, "extra-bytes", detail))
        problems += _check_segments(
            track_id, file, genesis(recording_id), entries, data_bytes, header_bytes
        )
    return problems


def _check_header(track_id: str, header: bytes, rate: int, data_bytes: int) -> list[Problem]:
    try:
        info = read_wav_header(header)
    except WavError as error:
        return [problem(track_id, None, "header", str(error))]
    problems = []
    if (info.channels, info.bits, info.rate) != (1, 16, rate):
        found = f"{info.channels} channels {info.bits} bits {info.rate} Hz"
        detail = f"{found}, expected 1 channel 16 bits {rate} Hz"
        problems.append(problem(track_id, None, "header", detail))
    if info.data_bytes != data_bytes:
        detail = f"header data size {info.data_bytes}, the manifest says {data_bytes}"
        problems.append(problem(track_id, None, "header", detail))
    return problems


def _check_segments(
    track_id: str,
    file: BinaryIO,
    chain: str,
    entries: list[SegmentEntry],
    data_bytes: int,
    header_bytes: int = WAV_HEADER_BYTES,
) -> list[Problem]:
    problems = []
    covered = 0
    for position, entry in enumerate(entries):
        if entry.index != position or entry.offset != covered:
            found = f"entry {entry.index} at offset {entry.offset}"
            detail = f"{found}, expected entry {position} at offset {covered}"
            problems.append(problem(track_id, position, "gap", detail))
        # Follow the chain from the recorded digests, so one bad link is reported once.
        chain = link_digest(chain, entry.sha256)
        if entry.chain != chain:
            problems.append(problem(track_id, position, "chain", "link does not follow"))
        digest, read = _hash_range(file, header_bytes + entry.offset, entry.length)
        if read < entry.length:
            detail = f"only {read} of its {entry.length} bytes are on disk"
            problems.append(problem(track_id, position, "segment-hash", detail))
        elif digest != entry.sha256:
            detail = f"bytes {entry.offset}..{entry.end} differ from the recorded SHA-256"
            problems.append(problem(track_id, position, "segment-hash", detail))
        covered = entry.end
    if covered < data_bytes:
        detail = f"data bytes {covered}..{data_bytes} are in no segment"
        problems.append(problem(track_id, None, "gap", detail))
    elif covered > data_bytes:
        detail = f"segments cover {covered} bytes, the manifest says {data_bytes}"
        problems.append(problem(track_id, None, "length", detail))
    return problems


def _hash_range(file: BinaryIO, start: int, length: int) -> tuple[str, int]:
    """SHA-256 of `length` bytes from `start`, read in chunks; also how many bytes existed."""
    file.seek(start)
    digest = hashlib.sha256()
    read = 0
    while read < length:
        chunk = file.read(min(READ_CHUNK_BYTES, length - read))
        if not chunk:
            break
        digest.update(chunk)
        read += len(chunk)
    return digest.hexdigest(), read


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
