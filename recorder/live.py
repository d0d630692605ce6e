"""A recording in progress: a mixer tap that captures every participant and the mix each tick,
and a writer thread that puts them on disk once a second.

The tap runs on the room's clock, so it only copies: each participant's frame as it arrived
(its native rate, lossless after decoding) or a tick of silence when it sent nothing, so a
track's sample n is always its start time plus n / rate; and the mix of the talkers at the
room rate. Once a second the copied frames go to the writer thread, which converts them to 16
bits, opens files as participants appear, appends whole segments, chains their hashes and
journals them (recorder/track.py); every few seconds it also rewrites the manifest, so a crash
loses at most the last second (recorder/recovery.py).

At the stop, narrowband tracks get a room-rate twin (soxr, streamed), the manifest is sealed
and the recording is indexed."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from mediacore.clock import iso8601
from mediacore.codecs.base import Pcm
from mediacore.events import Event
from mediacore.limiter import Limiter
from mediacore.participant import Participant
from mediacore.room import Room
from recorder.chain import genesis
from recorder.chainedfile import TrackFullError
from recorder.filemode import append_text, make_directory
from recorder.manifest import seal, write_manifest
from recorder.resample import write_resampled_track
from recorder.track import TrackWriter
from recorder.video import UnsupportedVideoCodecError
from recorder.videolive import LiveVideoTrack
from recorder.wavfile import pcm16

log = logging.getLogger(__name__)

MANIFEST_EVERY = 5.0  # seconds between manifest rewrites while recording
TRACKS_JOURNAL = "tracks.jsonl"  # one line per opened track, for recovery


@dataclass(slots=True)
class LiveTrack:
    id: str
    kind: str  # "participant" or "mix"
    participant: str | None
    rate: int
    file: str
    started_at: str
    silence: Pcm  # one tick of it, for ticks without a frame
    directory: Path
    recording_id: str
    writer: TrackWriter | None = None  # opened by the writer thread with the first audio
    pending: list[Pcm] = field(default_factory=list)

    @property
    def data_bytes(self) -> int:
        return self.writer.data_bytes if self.writer is not None else 0

    def open(self) -> TrackWriter:
        """Create the file and say so in the tracks journal (writer thread: file creation
        for a whole room at once would hold up the room's clock)."""
        if self.writer is None:
            self.writer = TrackWriter(self.directory / self.file, self.rate, self.recording_id)
            line = {k: v for k, v in self.describe().items() if k != "segments"}
            append_text(self.directory / TRACKS_JOURNAL, json.dumps(line) + "\n")
        return self.writer

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "participant": self.participant,
            "file": self.file,
            "rate": self.rate,
            "started_at": self.started_at,
            "data_bytes": self.data_bytes,
            "duration_ms": self.data_bytes * 1000 // (2 * self.rate),
            "segments": [entry.to_json() for entry in self.writer.entries] if self.writer else [],
        }


class LiveRecording:
    def __init__(
        self,
        recording_id: str,
        room: Room,
        directory: Path,
        executor: Executor,
        started_by: str,
        on_failed: Callable[[LiveRecording, str], None],
        continues: str | None = None,
    ) -> None:
        """`continues`: the id of the recording that this one carries on (a process that
        wrote it died with the room), kept in the manifest."""
        self.id = recording_id
        self.room = room
        self.directory = directory
        self.executor = executor
        self.on_failed = on_failed
        self.state = "recording"
        self.failure: str | None = None
        self.tracks: dict[str, LiveTrack] = {}
        self.video: dict[str, LiveVideoTrack] = {}  # by track id; added by the server's glue
        self.composite: LiveVideoTrack | None = None  # the conference picture: gets the mix
        self.participants: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.started_by = started_by
        self.continues = continues
        # Talkers of other shards of the room (heard over cascade links): their tracks get
        # silence in the ticks they do not appear in, until they leave the room.
        self._remote: dict[str, LiveTrack] = {}
        self._utc_offset = time.time() - self.room.media_clock.now()
        self.started_at = self._utc(self.room.media_clock.now())
        self._ticks_per_flush = max(1, 1000 // room.settings.ptime)
        self._ticks = 0
        self._last_manifest = self.room.media_clock.now()
        self._limiter = Limiter(room.settings.rate)
        self.bytes_written = 0
        self.ticks_lost = 0  # ticks captured but never written (the recording had failed)

    # -- life cycle (event loop) ----------------------------------------------------------

    def start(self, also_present: Sequence[Mapping[str, Any]] = ()) -> None:
        """Create the directory and the first manifest and tap the mixer. `also_present`:
        roster entries of participants the room does not hold (other shards of the room)."""
        make_directory(self.directory, exist_ok=False)
        self.mix = self._open_track("mix", "mix", None, self.room.settings.rate)
        self.room.mixer.taps.append(self.on_tick)
        self.room.bus.listen(self._event)
        # The timeline starts with who was already there and who held the floor.
        for participant in self.room.participants.values():
            self.events.append(
                {"type": "participant.present", "at": self.started_at,
                 "participant": participant.id, "name": participant.name}
            )  # fmt: skip
        for entry in also_present:
            self._note_entry(entry)
            self.events.append(
                {"type": "participant.present", "at": self.started_at,
                 "participant": entry["id"], "name": entry.get("name")}
            )  # fmt: skip
        holder = self.room.floor.to_json()
        if holder["holder"] is not None:
            self.events.append({"type": "floor.held", "at": self.started_at, **holder})
        write_manifest(self.directory, self._manifest())

    async def stop(self, reason: str = "stopped") -> dict[str, Any]:
        """Detach, write what is left, derive room-rate twins, seal; returns the manifest."""
        self._detach()
        batch = self._take_pending()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, self._write, batch, False)
        if self.state == "recording":
            self.state = "stopped"
        stopped_at = self._utc(self.room.media_clock.now())
        return await loop.run_in_executor(self.executor, self._finish, stopped_at, reason)

    def _detach(self) -> None:
        for video in self.video.values():
            video.end()
        if self.on_tick in self.room.mixer.taps:
            self.room.mixer.taps.remove(self.on_tick)
        self.room.bus.unlisten(self._event)

    # -- the tap (room clock) -------------------------------------------------------------

    def on_tick(
        self,
        tick: int,
        now: float,
        participants: Sequence[Participant],
        frames: dict[str, Pcm],
        total: Pcm | None,
    ) -> None:
        for participant in participants:
            track = self.tracks.get(participant.id)
            if track is None:
                track = self._participant_track(participant, now)
                if track is None:
                    continue
            pcm = frames.get(participant.id)
            # A copy: converting to 16 bits waits for the writer thread, in one go per second.
            track.pending.append(track.silence if pcm is None else pcm.copy())
        if self._remote:
            present = {participant.id for participant in participants}
            for participant_id, track in self._remote.items():
                if participant_id not in present:  # silent: its shard sent nothing
                    track.pending.append(track.silence)
        mixed = self.mix.silence if total is None else self._limiter.process(total).copy()
        self.mix.pending.append(mixed)
        composite = self.composite
        if composite is not None:
            composite.offer_audio(mixed)
        self._ticks += 1
        if self._ticks % self._ticks_per_flush == 0 and self.state == "recording":
            self.executor.submit(self._write, self._take_pending(), True)

    def _participant_track(self, participant: Participant, now: float) -> LiveTrack | None:
        source = participant.endpoint.audio_input
        if source is None:
            return None  # a listen-only leg says nothing: no track
        remote = participant.id not in self.room.participants  # a talker of another shard
        if not remote or participant.id not in self.participants:
            self._note_participant(participant)
        rate = source.native_rate
        track_id = f"{participant.id}-{rate}"
        track = self._open_track(track_id, "participant", participant.id, rate, now)
        self.tracks[participant.id] = track
        if remote:
            self._remote[participant.id] = track
        return track

    def _note_participant(self, participant: Participant) -> None:
        self._note_entry(participant.roster_entry())

    def _note_entry(self, entry: Mapping[str, Any]) -> None:
        """Who a participant is, from its roster entry."""
        self.participants[entry["id"]] = {
            "id": entry["id"],
            "name": entry.get("name"),
            "kind": entry.get("kind"),
            "device": entry.get("user") or entry.get("uri") or entry.get("radio_type") or "",
            "codec": entry.get("codec"),
            "address": entry.get("remote"),
            "role": entry.get("role"),
            "priority": entry.get("priority"),
            "duplex": entry.get("duplex"),
            "joined_at": entry.get("joined_at"),
            "location": entry.get("location"),
        }

    def note_event(self, event: Mapping[str, Any]) -> None:
        """An event of the room published elsewhere (another shard of it), as JSON: it joins
        the timeline; a participant joining is noted, one leaving gets no more silence."""
        if self.state != "recording" or str(event.get("type", "")).startswith("recording."):
            return
        self.events.append(dict(event))
        if event.get("type") == "participant.joined" and isinstance(event.get("participant"), dict):
            self._note_entry(event["participant"])
        elif event.get("type") == "participant.left":
            self._remote.pop(str(event.get("participant")), None)

    # -- video (event loop) ---------------------------------------------------------------

    def add_video(
        self,
        source_id: str,
        participant_id: str | None,
        codec: str,
        request_keyframe: Callable[[], None],
        composite: bool = False,
    ) -> LiveVideoTrack | None:
        """A new video track for one video source; the caller feeds it with `offer` and
        `end`s it when the source goes. None while not recording or for a codec that no
        container takes (logged). `composite`: the room's conference picture (kind
        "composite"), which also gets the mix from now on, in the same file."""
        if self.state != "recording":
            return None
        participant = self.room.participants.get(participant_id or "")
        if participant is not None and participant.id not in self.participants:
            self._note_participant(participant)
        base = "video-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in source_id)
        base = "composite" if composite else base
        track_id, n = base, 2
        while track_id in self.video:
            track_id, n = f"{base}-{n}", n + 1
        try:
            track = LiveVideoTrack(
                track_id=track_id,
                directory=self.directory,
                recording_id=self.id,
                codec=codec,
                participant=participant_id,
                source=source_id,
                name=participant.name if participant is not None else None,
                request_keyframe=request_keyframe,
                kind="composite" if composite else "video",
                audio_rate=self.room.settings.rate if composite else None,
            )
        except UnsupportedVideoCodecError as error:
            log.warning("video not recorded", extra={"source": source_id, "error": str(error)})
            return None
        self.video[track_id] = track
        if composite:
            self.composite = track
        track.start()
        return track

    def _open_track(
        self, track_id: str, kind: str, participant: str | None, rate: int, now: float = 0.0
    ) -> LiveTrack:
        tick_samples = rate * self.room.settings.ptime // 1000
        return LiveTrack(
            id=track_id,
            kind=kind,
            participant=participant,
            rate=rate,
            file=f"{track_id}.wav",
            started_at=self._utc(now or self.room.media_clock.now()),
            silence=np.zeros(tick_samples, dtype=np.float32),
            directory=self.directory,
            recording_id=self.id,
        )

    def _event(self, event: Event) -> None:
        if event.room == self.room.name and not event.type.startswith("recording."):
            self.events.append(event.to_json())

    def _take_pending(self) -> list[tuple[LiveTrack, list[Pcm]]]:
        batch = []
        for track in [self.mix, *self.tracks.values()]:
            if track.pending:
                batch.append((track, track.pending))
                track.pending = []
        return batch

    # -- the writer thread ----------------------------------------------------------------

    def _write(self, batch: list[tuple[LiveTrack, list[Pcm]]], rewrite_manifest: bool) -> None:
        if self.state == "failed":
            self.ticks_lost += self._ticks_per_flush
            return
        try:
            for track, frames in batch:
                writer = track.open()
                data = pcm16(np.concatenate(frames))
                writer.write(data)
                writer.flush()
                self.bytes_written += len(data)
            if (
                rewrite_manifest
                and self.room.media_clock.now() - self._last_manifest >= MANIFEST_EVERY
            ):
                self._last_manifest = self.room.media_clock.now()
                write_manifest(self.directory, self._manifest())
        except OSError as error:  # TrackFullError (disk full) or any other write failure
            self._fail("disk-full" if isinstance(error, TrackFullError) else f"write: {error}")

    def _fail(self, reason: str) -> None:
        log.error("recording failed", extra={"recording": self.id, "reason": reason})
        self.state = "failed"
        self.failure = reason
        self.on_failed(self, reason)

    def _finish(self, stopped_at: str, reason: str) -> dict[str, Any]:
        for video in list(self.video.values()):
            video.close()  # waits for its thread: its last segment is journalled
        for track in [self.mix, *self.tracks.values()]:
            try:
                track.open().close()
            except OSError as error:
                if self.failure is None:
                    self._fail(f"close: {error}")
        twins = []
        if self.failure is None:
            for track in list(self.tracks.values()):
                if track.rate != self.room.settings.rate:
                    twins.append(self._room_rate_twin(track))
        manifest = self._manifest(stopped_at=stopped_at, reason=reason, extra_tracks=twins)
        manifest["hashes"] = {
            "algorithm": "sha256 chain of one-second segments",
            "genesis": genesis(self.id),
            "tracks": {t["id"]: t["segments"][-1]["chain"] if t["segments"] else None
                       for t in manifest["tracks"]},
        }  # fmt: skip
        sealed = seal(manifest)
        write_manifest(self.directory, sealed)
        return sealed

    def _room_rate_twin(self, track: LiveTrack) -> dict[str, Any]:
        rate = self.room.settings.rate
        assert track.participant is not None
        twin_id = f"{track.participant}-{rate}"
        writer = write_resampled_track(
            self.directory / track.file, self.directory / f"{twin_id}.wav", rate, self.id
        )
        return {
            "id": twin_id,
            "kind": "participant",
            "participant": track.participant,
            "file": f"{twin_id}.wav",
            "rate": rate,
            "started_at": track.started_at,
            "derived_from": track.id,
            "data_bytes": writer.data_bytes,
            "duration_ms": writer.data_bytes * 1000 // (2 * rate),
            "segments": [entry.to_json() for entry in writer.entries],
        }

    # -- the manifest ---------------------------------------------------------------------

    def _manifest(
        self,
        stopped_at: str | None = None,
        reason: str | None = None,
        extra_tracks: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        settings = self.room.settings
        tracks = [track.describe() for track in [self.mix, *self.tracks.values()]]
        tracks += [video.describe() for video in list(self.video.values()) if video.opened]
        return {
            "format": "mediacore-recording/1",
            "id": self.id,
            "room": self.room.name,
            "state": self.state,
            "failure": self.failure,
            "stop_reason": reason,
            "started_at": self.started_at,
            "stopped_at": stopped_at,
            "started_by": self.started_by,
            **({"continues": self.continues} if self.continues else {}),
            "legal_hold": False,
            "room_rate": settings.rate,
            "ptime": settings.ptime,
            "participants": list(self.participants.values()),
            "tracks": tracks + (extra_tracks or []),
            "timeline": list(self.events),
            "statistics": self.statistics(),
        }

    def manifest(self) -> dict[str, Any]:
        """The manifest as it stands now (unsealed)."""
        return self._manifest()

    def _utc(self, monotonic: float) -> str:
        return iso8601(datetime.fromtimestamp(monotonic + self._utc_offset, UTC))

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room": self.room.name,
            "state": self.state,
            "started_at": self.started_at,
            "tracks": len(self.tracks) + 1 + sum(v.opened for v in self.video.values()),
            "bytes": sum(t.data_bytes for t in [self.mix, *self.tracks.values()])
            + sum(v.data_bytes for v in self.video.values()),
            "video_frames_dropped": sum(v.frames_dropped for v in self.video.values()),
            **self.statistics(),
        }

    def statistics(self) -> dict[str, int]:
        """Ticks the tap captured, ticks captured but never written, and bytes written."""
        return {
            "ticks_recorded": self._ticks,
            "ticks_lost": self.ticks_lost,
            "bytes_written": self.bytes_written,
        }
