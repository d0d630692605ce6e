"""Closing a recording the server left open (it died): every byte that reached the disk is kept,
hashed into the chain and listed in a sealed manifest, then the recording is verified.

Each track's journal names every segment whose bytes were fsynced (track.py writes the bytes
first), so the segment list is rebuilt from it; bytes past the last journalled segment (at most
one flush) become one final segment. Tracks are found in the manifest, in `tracks.jsonl`
(written when a track opens, so newer than the last manifest) and, as a last resort, by their
journal files. Journals are only read: they are the evidence of what was written. Hashes of
journalled segments are checked once, by the verification at the end.

A video track (recorder/video.py) is treated the same way: its unjournalled tail (a fragment
cut short) becomes the final segment; it has no header to fix, and its duration is read back
from the file."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from mediacore.clock import iso8601
from recorder.chain import SegmentEntry, SegmentEntryError, genesis, link_digest
from recorder.chainedfile import JOURNAL_SUFFIX, journal_path
from recorder.manifest import (
    SEAL_KEY,
    ManifestError,
    manifest_hash_ok,
    read_manifest,
    seal,
    track_file,
    write_manifest,
)
from recorder.trackkinds import is_video_track
from recorder.verify import VerifyReport, verify_recording
from recorder.video import VIDEO_CLOCK, is_video_file, probe_video
from recorder.wavfile import WAV_HEADER_BYTES, WavError, read_wav_header, wav_header

TRACKS_LOG = "tracks.jsonl"
# Journal and tracks.jsonl lines are a few hundred bytes; a longer one is damage, not data.
MAX_LINE_BYTES = 64 * 1024
_HASH_CHUNK_BYTES = 1 << 20


def recover_recording(directory: Path) -> VerifyReport:
    """Close the recording in `directory` if its manifest state is "recording", then verify it.

    Sets state "recovered", "recovered_at" and "recovery" (one record per track, see
    `_recover_track`, plus {"track": None, "notes": [...]} records for damage outside any
    track), seals and writes the manifest. A recording in any other state is only verified, so
    calling this again changes nothing. Returns: the verification report.
    Raises: ManifestError if there is no usable manifest (without its id no chain can be
    rebuilt); OSError if a track file cannot be repaired."""
    manifest = read_manifest(directory)
    if manifest.get("state") != "recording":
        return verify_recording(directory)
    recording_id = manifest.get("id")
    listed = manifest.get("tracks", [])
    if not isinstance(recording_id, str) or not isinstance(listed, list):
        raise ManifestError(f"{directory}: the manifest needs a string id and a tracks list")
    recovery: list[dict[str, Any]] = []
    if SEAL_KEY in manifest and not manifest_hash_ok(manifest):
        # Resealing would hide an edit made while the recording was open; say so.
        recovery.append(_note("manifest-hash-was-wrong"))
    tracks = _find_tracks(directory, listed, recovery)
    for track in tracks:
        if isinstance(track, dict):
            recovery.append(_recover_track(directory, recording_id, track))
        else:
            recovery.append(_note("malformed-track-entry"))
    recovered = {key: value for key, value in manifest.items() if key != SEAL_KEY}
    recovered["tracks"] = tracks
    recovered["state"] = "recovered"
    recovered["recovered_at"] = iso8601(datetime.now(UTC))
    recovered["recovery"] = recovery
    write_manifest(directory, seal(recovered))
    return verify_recording(directory)


class _JsonLines:
    """The parsed lines of a JSON-lines file, up to the first torn or bad one; after iterating,
    `damage` names it ("torn-line:7" for a crash mid-append, "bad-line:3") or is None."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.damage: str | None = None

    def __iter__(self) -> Iterator[object]:
        if not self.path.is_file():
            return
        with self.path.open("rb") as file:
            number = 0
            while raw := file.readline(MAX_LINE_BYTES + 1):
                number += 1
                try:
                    yield json.loads(raw)
                except ValueError:
                    torn = not raw.endswith(b"\n") and len(raw) <= MAX_LINE_BYTES
                    self.damage = f"{'torn' if torn else 'bad'}-line:{number}"
                    return


def _find_tracks(directory: Path, listed: list[Any], recovery: list[dict[str, Any]]) -> list[Any]:
    """The manifest's tracks (copied), then those only tracks.jsonl knows, then orphan journals."""
    tracks = [dict(track) if isinstance(track, Mapping) else track for track in listed]
    by_id = {t["id"]: t for t in tracks if isinstance(t, dict) and isinstance(t.get("id"), str)}
    log = _JsonLines(directory / TRACKS_LOG)
    for line in log:
        track_id = line.get("id") if isinstance(line, dict) else None
        if not isinstance(line, dict) or not isinstance(track_id, str):
            recovery.append(_note("tracks-log-entry-without-id"))
        elif track_id in by_id:
            for key, value in line.items():
                by_id[track_id].setdefault(key, value)
        else:
            by_id[track_id] = {**line, "segments": [], "data_bytes": 0, "listed_by": TRACKS_LOG}
            tracks.append(by_id[track_id])
    if log.damage:
        recovery.append(_note(f"tracks-log-{log.damage}"))
    known = set()
    for track in by_id.values():
        try:
            known.add(track_file(directory, track.get("file")))
        except ManifestError:
            pass
    for journal in sorted(directory.rglob("*" + JOURNAL_SUFFIX)):
        audio = journal.with_name(journal.name.removesuffix(JOURNAL_SUFFIX))
        if audio not in known:
            orphan = _orphan_track(directory, audio, by_id)
            if orphan is None:
                recovery.append(_note(f"unlisted-journal-unusable:{journal.name}"))
            else:
                tracks.append(orphan)
    return tracks


def _orphan_track(directory: Path, audio: Path, by_id: dict[str, Any]) -> dict[str, Any] | None:
    # Opened but listed nowhere (tracks.jsonl torn): adopt it, its rate taken from its header.
    relative = audio.relative_to(directory).as_posix()
    track_id = relative if relative not in by_id else f"unlisted:{relative}"
    if is_video_file(audio.name) and audio.is_file():
        video: dict[str, Any] = {"id": track_id, "kind": "video", "file": relative}
        video |= {"rate": VIDEO_CLOCK, "segments": [], "data_bytes": 0, "listed_by": "journal"}
        by_id[track_id] = video
        return video
    try:
        with audio.open("rb") as file:
            rate = read_wav_header(file.read(WAV_HEADER_BYTES)).rate
    except (OSError, WavError):
        return None
    track = {"id": track_id, "file": relative, "rate": rate, "segments": [], "data_bytes": 0}
    track["listed_by"] = "journal"
    by_id[track_id] = track
    return track


def _recover_track(directory: Path, recording_id: str, track: dict[str, Any]) -> dict[str, Any]:
    """Rebuild one track's segments and header in place (updating `track`).

    Returns: {"track": id, "journal_segments": n, "tail_bytes": n (hashed as a final
    segment), "torn_bytes_dropped": 0 or 1, "header_fixed": bool, "data_bytes": n,
    "notes": [codes of anything unusual]}."""
    record: dict[str, Any] = {
        "track": track.get("id"),
        "journal_segments": 0,
        "tail_bytes": 0,
        "torn_bytes_dropped": 0,
        "header_fixed": False,
        "data_bytes": track.get("data_bytes"),
        "notes": [],
    }
    notes: list[str] = record["notes"]
    rate = track.get("rate")
    if not isinstance(rate, int) or isinstance(rate, bool) or rate <= 0:
        notes.append("no-valid-rate")
        return record
    try:
        path = track_file(directory, track.get("file"))
    except ManifestError:
        notes.append("invalid-file-name")
        return record
    listed = track.get("segments")
    listed = listed if isinstance(listed, list) else []
    if journal_path(path).is_file():
        journal = _JsonLines(journal_path(path))
        entries, stop = _chained_prefix(journal, recording_id)
        if journal.damage:
            notes.append(f"journal-{journal.damage}")
        if len(listed) > len(entries):
            notes.append("manifest-ahead-of-journal")
    else:
        notes.append("no-journal")
        entries, stop = _chained_prefix(listed, recording_id)
    if stop is not None:
        notes.append(f"segments-unchained-from:{stop}")
    record["journal_segments"] = len(entries)
    data_bytes = entries[-1].end if entries else 0
    video = is_video_track(track)
    if path.is_file():
        if video:
            data_bytes = _repair_video_file(path, recording_id, entries, record)
        else:
            data_bytes = _repair_file(path, rate, recording_id, entries, record)
    else:
        notes.append("missing-file")
    track["segments"] = [entry.to_json() for entry in entries]
    track["data_bytes"] = data_bytes
    if video:
        _reprobe_video(path, track, notes)
    elif "duration_ms" in track:  # would otherwise keep the last manifest's stale value
        track["duration_ms"] = data_bytes * 1000 // (2 * rate)
    record["data_bytes"] = data_bytes
    return record


def _repair_file(
    path: Path, rate: int, recording_id: str, entries: list[SegmentEntry], record: dict[str, Any]
) -> int:
    """Append the unjournalled tail to `entries`, fix the header; returns the data size."""
    journalled = entries[-1].end if entries else 0
    data_bytes = journalled
    with path.open("r+b") as file:
        on_disk = max(0, os.fstat(file.fileno()).st_size - WAV_HEADER_BYTES)
        if on_disk < journalled:
            record["notes"].append("file-shorter-than-journal")  # verify names the segments
        else:
            tail = on_disk - journalled
            if tail % 2:  # a sample torn by the crash: its second byte never reached the disk
                file.truncate(WAV_HEADER_BYTES + on_disk - 1)
                tail -= 1
                record["torn_bytes_dropped"] = 1
            if tail:
                digest = _hash_range(file, WAV_HEADER_BYTES + journalled, tail)
                previous = entries[-1].chain if entries else genesis(recording_id)
                chain = link_digest(previous, digest)
                entries.append(SegmentEntry(len(entries), journalled, tail, digest, chain))
            record["tail_bytes"] = tail
            data_bytes = journalled + tail
        header = wav_header(rate, data_bytes)
        file.seek(0)
        if file.read(WAV_HEADER_BYTES) != header:
            file.seek(0)
            file.write(header)
            record["header_fixed"] = True
        file.flush()
        os.fsync(file.fileno())
    return data_bytes


def _repair_video_file(
    path: Path, recording_id: str, entries: list[SegmentEntry], record: dict[str, Any]
) -> int:
    """Append the unjournalled tail of a video file to `entries` (nothing is rewritten: the
    tail is a fragment cut short, which players skip); returns the bytes covered."""
    journalled = entries[-1].end if entries else 0
    with path.open("rb") as file:
        on_disk = os.fstat(file.fileno()).st_size
        if on_disk < journalled:
            record["notes"].append("file-shorter-than-journal")  # verify names the segments
            return journalled
        tail = on_disk - journalled
        if tail:
            digest = _hash_range(file, journalled, tail)
            previous = entries[-1].chain if entries else genesis(recording_id)
            chain = link_digest(previous, digest)
            entries.append(SegmentEntry(len(entries), journalled, tail, digest, chain))
        record["tail_bytes"] = tail
    return on_disk


def _reprobe_video(path: Path, track: dict[str, Any], notes: list[str]) -> None:
    """Duration, frames and size as the file now holds them (the last manifest is older)."""
    try:
        found = probe_video(path)
    except Exception:  # any demuxer failure: the bytes are kept regardless
        notes.append("video-unreadable")
        return
    track["duration_ms"] = found["duration_ms"]
    track["frames"] = found["frames"]
    for key in ("width", "height"):
        track.setdefault(key, found[key])
        if track[key] is None:
            track[key] = found[key]


def _chained_prefix(
    items: Iterable[object], recording_id: str
) -> tuple[list[SegmentEntry], int | None]:
    """The entries up to the first that is malformed or does not continue the chain, and the
    position of that one (None if all are good)."""
    entries: list[SegmentEntry] = []
    chain = genesis(recording_id)
    for position, item in enumerate(items):
        try:
            entry = SegmentEntry.from_json(item)
        except SegmentEntryError:
            return entries, position
        expected_offset = entries[-1].end if entries else 0
        chain = link_digest(chain, entry.sha256)
        if entry.index != position or entry.offset != expected_offset or entry.chain != chain:
            return entries, position
        entries.append(entry)
    return entries, None


def _note(*notes: str) -> dict[str, Any]:
    return {"track": None, "notes": list(notes)}


def _hash_range(file: BinaryIO, start: int, length: int) -> str:
    file.seek(start)
    digest = hashlib.sha256()
    remaining = length
    while remaining:
        chunk = file.read(min(_HASH_CHUNK_BYTES, remaining))
        if not chunk:
            raise OSError(f"{file.name}: only {length - remaining} of {length} tail bytes read")
        digest.update(chunk)
        remaining -= len(chunk)
    return digest.hexdigest()
