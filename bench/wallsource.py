"""The wall benchmark's cameras: loops of stamped pictures encoded once, ahead of the run.

Each source is `seconds` of its own `wallstamp.SourcePictures`, encoded with x264 the way an
IP camera streams (CABAC and the deblocking filter: preset `PRESET`, tune zerolatency, so no
B-frames; a keyframe every second with SPS/PPS in front; about `BITS_PER_PIXEL`) and kept as
a list of Annex-B access units, each opening with an access unit delimiter. The encodes run
in a process pool before the server starts and are cached on disk, keyed by every parameter,
so a run pays for them once: the bench never encodes while it measures."""

from __future__ import annotations

import hashlib
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from bench.wallstamp import SourcePictures
from mixer.canvas import frame_from_planes

PRESET = "veryfast"
BITS_PER_PIXEL = 0.1  # 2.8 Mb/s for 720p30: a typical 720p camera
CACHE_VERSION = 1
AUD = b"\x00\x00\x00\x01\x09\xf0"  # access unit delimiter, any slice type


@dataclass(frozen=True, slots=True)
class LoopSpec:
    """One source's loop: source number, picture size, frame rate, frames in the loop."""

    source: int
    width: int
    height: int
    fps: int
    frames: int

    @property
    def bitrate(self) -> int:
        return int(self.width * self.height * self.fps * BITS_PER_PIXEL)

    def key(self) -> str:
        text = repr((CACHE_VERSION, PRESET, BITS_PER_PIXEL, sorted(asdict(self).items())))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_loop(spec: LoopSpec) -> list[bytes]:
    """The loop's access units in order, frame 0 a keyframe. Each starts with an AUD."""
    context = av.CodecContext.create("libx264", "w")
    context.width, context.height, context.pix_fmt = spec.width, spec.height, "yuv420p"
    context.time_base = Fraction(1, spec.fps)
    context.framerate = Fraction(spec.fps)
    context.bit_rate = spec.bitrate
    context.thread_count = 1  # one slice per picture, like most cameras; the pool runs two
    gop = spec.fps
    context.options = {
        "preset": PRESET,
        "tune": "zerolatency",
        "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:aud=1:repeat-headers=1",
    }
    pictures = SourcePictures(spec.source, spec.width, spec.height, spec.frames)
    units: list[bytes] = []
    for k in range(spec.frames):
        frame = frame_from_planes(*pictures.planes(k))
        frame.pts = k
        units += [bytes(packet) for packet in context.encode(frame)]
    units += [bytes(packet) for packet in context.encode(None)]
    if len(units) != spec.frames:
        raise RuntimeError(f"x264 gave {len(units)} access units for {spec.frames} pictures")
    if any(unit[: len(AUD) - 1] != AUD[:-1] for unit in units):
        raise RuntimeError("x264 access unit that does not open with a 6-byte AUD")
    return units


def cache_folder() -> Path:
    return Path(os.environ.get("MEDIACORE_WALLBENCH_CACHE") or tempfile.gettempdir()) / (
        "mediacore-wallbench"
    )


def _cached(spec: LoopSpec, folder: Path) -> Path:
    path = folder / f"loop-{spec.key()}.npz"
    if path.exists():
        return path
    units = encode_loop(spec)
    offsets = np.cumsum([0] + [len(u) for u in units], dtype=np.int64)
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.npz")
    np.savez(partial, data=np.frombuffer(b"".join(units), dtype=np.uint8), offsets=offsets)
    os.replace(partial, path)
    return path


def prepare_loops(specs: list[LoopSpec], workers: int = 2) -> list[Path]:
    """Encoded loop files for `specs` (from the cache, or encoded now in `workers`
    processes); load each with `load_loop`."""
    folder = cache_folder()
    missing = [s for s in specs if not (folder / f"loop-{s.key()}.npz").exists()]
    if missing:
        with ProcessPoolExecutor(max_workers=max(1, min(workers, len(missing)))) as pool:
            list(pool.map(_cached, missing, [folder] * len(missing)))
    return [_cached(spec, folder) for spec in specs]


def load_loop(path: Path) -> list[bytes]:
    with np.load(path) as stored:
        data, offsets = stored["data"].tobytes(), stored["offsets"]
    return [data[int(a) : int(b)] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
