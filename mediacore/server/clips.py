"""Audio files decoded for announcements: mono 16-bit PCM at a room's rate, cached on disk.

Whatever FFmpeg reads as audio (WAV, MP3, OGG/Opus/Vorbis, FLAC, AAC/M4A, WebM...) is decoded
with PyAV, converted by FFmpeg's resampler to the room's rate, and its channels averaged. Only plain
audio containers are accepted: a playlist or a concat list would make FFmpeg open other files
or URLs, so the input is handed over as a file object with no protocol allowed besides it.

A decoded clip is a raw little-endian int16 file named after the source's content hash and the
rate (`<sha256>-<rate>.s16`) in the cache directory, written under a temporary name and renamed,
so a reader (a media worker maps it, mediacore.announcement.load_clip) never sees half of one.
Decoding takes a second or so for minutes of audio: call these in a thread, never on the loop."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

PROBE_RATE = 16000  # uploads are decoded once at this rate to prove they are audio
MAX_SECONDS = 600  # longer audio is refused: an announcement is not a programme
MAX_CACHED = 500  # clips (and renderings) kept; the least recently used go first
_KEEP_S = 600  # a clip this fresh stays even past MAX_CACHED: it may be about to play
# FFmpeg's demuxer names for plain audio (and audio-in-video) containers.
FORMATS = frozenset(
    {
        "wav",
        "w64",
        "mp3",
        "ogg",
        "flac",
        "aac",
        "aiff",
        "au",
        "caf",
        "amr",
        "mov,mp4,m4a,3gp,3g2,mj2",
        "matroska,webm",
        "asf",
        "wv",
        "ape",
        "mpc",
        "mpc8",
        "tta",
        "voc",
        "alaw",
        "mulaw",
        "g722",
        "gsm",
        "s16le",
    }
)


class ClipError(ValueError):
    """The file is not audio this server plays (not decodable, no audio, empty, too long)."""


@dataclass(frozen=True, slots=True)
class Clip:
    path: Path
    rate: int
    samples: int

    @property
    def duration_s(self) -> float:
        return self.samples / self.rate


def decode_mono(source: Path, rate: int, max_seconds: float = MAX_SECONDS) -> npt.NDArray[np.int16]:
    """The audio of `source` as mono int16 at `rate`. Raises ClipError."""
    limit = int(max_seconds * rate)
    parts: list[npt.NDArray[np.float32]] = []
    total = 0
    try:
        with source.open("rb") as file, av.open(file, "r", options=_NO_PROTOCOLS) as container:
            if container.format.name not in FORMATS:
                raise ClipError(
                    f"{container.format.long_name or container.format.name} is "
                    "not an audio file format this server plays"
                )
            if not container.streams.audio:
                raise ClipError("the file has no audio")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="fltp", rate=rate)  # channels kept
            for frame in container.decode(stream):
                for converted in resampler.resample(frame):
                    parts.append(_samples(converted))
                    total += len(parts[-1])
                    if total > limit:
                        raise ClipError(f"the audio is longer than {max_seconds:g} s")
            for converted in resampler.resample(None):
                parts.append(_samples(converted))
    except ClipError:
        raise
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise ClipError(f"FFmpeg cannot decode it as audio: {error}") from None
    if not parts or sum(len(p) for p in parts) == 0:
        raise ClipError("the file holds no audio samples")
    pcm = np.concatenate(parts)[:limit]
    return np.round(np.clip(pcm, -1.0, 32767 / 32768) * 32768).astype("<i2")


_NO_PROTOCOLS = {"protocol_whitelist": "none"}  # the file object itself needs no protocol


def _samples(frame: av.AudioFrame) -> npt.NDArray[np.float32]:
    """The frame's channels averaged: FFmpeg's own down-mix adds them at -3 dB each, which
    makes a stereo file with the same sound on both sides 3 dB louder (and clip)."""
    planes = np.asarray(frame.to_ndarray(), dtype=np.float32)
    mono: npt.NDArray[np.float32] = planes.mean(axis=0, dtype=np.float32)
    return mono


class ClipCache:
    """Decoded clips in `directory`, by source content and rate."""

    def __init__(self, directory: Path, max_cached: int = MAX_CACHED) -> None:
        self.directory = directory
        self.max_cached = max_cached

    def prepare(self, source: Path, rate: int) -> Clip:
        """`source` decoded at `rate`, from the cache or decoded now. Raises ClipError, or
        OSError when the source cannot be read."""
        path = self.directory / f"{_content_hash(source)}-{rate}.s16"
        if path.exists():
            os.utime(path)  # recently used: kept longest
            return Clip(path, rate, path.stat().st_size // 2)
        pcm = decode_mono(source, rate)
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.directory / f".{path.name}.{secrets.token_hex(4)}"
        temporary.write_bytes(pcm.tobytes())
        os.replace(temporary, path)
        prune_oldest(self.directory, "*.s16", self.max_cached)
        return Clip(path, rate, len(pcm))


def prune_oldest(directory: Path, pattern: str, keep: int) -> None:
    """Delete the least recently used files matching `pattern` beyond the `keep` newest, but
    none used in the last ten minutes (it may be about to play)."""
    found = sorted(directory.glob(pattern), key=_modified)
    fresh = time.time() - _KEEP_S
    for old in found[: max(0, len(found) - keep)]:
        if _modified(old) < fresh:
            old.unlink(missing_ok=True)


def _content_hash(source: Path) -> str:
    digest = hashlib.sha256()
    with source.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:32]


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
