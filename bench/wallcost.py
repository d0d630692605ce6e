"""What each stage of a wall costs on this machine, measured alone: the CPU one source frame's
decode, one canvas paint with every tile scaled from a new frame (a running wall scales in
`CanvasPainter.push()`, on the decoder threads; here it counts with the paint), one x264
encode of the canvas (the wall's own encoder, `h264_encoder`) and the bench receiver's decode
of it take, with the runtime's own classes, one after the other in this quiet process before
the server starts.

Multiplied by the rates of a scenario this is the CPU the wall needs with nothing waiting on
anything: set against the machine's cores it says whether a scenario can fit at all, and
which stage to make cheaper. The live run's per-thread CPU shows the same stages under load."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import av

from bench.wallsource import load_loop
from mixer.canvas import CanvasPainter
from mixer.labels import LabelPainter
from mixer.layout import Canvas, Layout, resolve
from mixer.walltransport import TIME_BASE, h264_encoder

FRAMES = 25  # of each stage per round
ROUNDS = 3


def _cpu_ms(work: Callable[[], object], count: int) -> tuple[float, float]:
    """(CPU ms of every thread of this process, wall ms) per item over `count` items."""
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return (
        (time.process_time() - cpu) * 1000 / count,
        (time.perf_counter() - wall) * 1000 / count,
    )


def _decode(units: list[bytes], into: list[av.VideoFrame]) -> None:
    decoder = av.CodecContext.create("h264", "r")
    decoder.thread_count = 1  # as mixer.decoding does
    for unit in units:
        into.extend(decoder.decode(av.Packet(unit)))


def wall_encoder(width: int, height: int, fps: float) -> Any:
    """An H.264 encoder set up as a wall output's (`mixer.walltransport`)."""
    return h264_encoder(width, height, fps)


def cost_model(loops: list[Path], canvas: tuple[int, int], fps: int, layout: str) -> dict[str, Any]:
    """Per-item CPU (ms) of each stage and the cores a scenario with one source per loop
    needs at `fps`: decode every source frame, paint and encode every tick. Each figure is the
    best of `ROUNDS`, so a moment of CPU taken by something else does not count."""
    sources = [load_loop(path)[:FRAMES] for path in loops]
    rounds = [_round(sources, canvas, fps, layout) for _ in range(ROUNDS)]
    best = {key: min(r[key] for r in rounds) for key in rounds[0]}
    cores = {
        "decode": round(best["decode_ms"] * len(loops) * fps / 1000, 3),
        "scale_paint": round(best["paint_ms"] * fps / 1000, 3),
        "encode": round(best["encode_ms"] * fps / 1000, 3),
    }
    return {
        "decode_ms_per_source_frame": round(best["decode_ms"], 2),
        "scale_paint_ms": round(best["paint_ms"], 2),
        "scale_paint_wall_ms": round(best["paint_wall_ms"], 2),
        "encode_ms": round(best["encode_ms"], 2),
        "encode_wall_ms": round(best["encode_wall_ms"], 2),
        "receiver_decode_ms": round(best["receive_ms"], 2),
        "server_cores_needed": cores | {"total": round(sum(cores.values()), 3)},
        "bench_receiver_cores": round(best["receive_ms"] * fps / 1000, 3),
    }


def _round(
    sources: list[list[bytes]], canvas: tuple[int, int], fps: int, layout: str
) -> dict[str, float]:
    """One measurement of every stage, from fresh decoders, painter and encoder."""
    pictures: list[list[av.VideoFrame]] = []
    decode_ms = 0.0
    for units in sources:
        decoded: list[av.VideoFrame] = []
        cpu, _ = _cpu_ms(partial(_decode, units, decoded), len(units))
        decode_ms += cpu / len(sources)
        pictures.append(decoded)
    width, height = canvas
    kind = layout.split("-", 1)
    tiles = resolve(
        Layout("grid", cells=int(kind[1]) if len(kind) > 1 else None),
        Canvas(width, height, float(fps)),
        [f"s{i}" for i in range(len(sources))],
        None,
        None,
        {f"s{i}": f"cam {i:02d}" for i in range(len(sources))},
    )
    painter = CanvasPainter(width, height, labels=LabelPainter())
    painter.paint(tiles, 0.0)  # labels rendered once, as in a running wall
    canvases: list[av.VideoFrame] = []

    def paint() -> None:
        for k in range(FRAMES):
            for i, frames in enumerate(pictures):
                painter.push(f"s{i}", frames[k % len(frames)], float(k))
            canvases.append(painter.paint(tiles, float(k)))

    paint_ms, paint_wall_ms = _cpu_ms(paint, FRAMES)
    encoder = wall_encoder(width, height, fps)
    packets: list[av.Packet[Any]] = []

    def encode() -> None:
        for k, frame in enumerate(canvases):
            frame.pts, frame.time_base = round(k * 90000 / fps), TIME_BASE
            packets.extend(encoder.encode(frame))

    encode_ms, encode_wall_ms = _cpu_ms(encode, FRAMES)
    receiver = av.CodecContext.create("h264", "r")
    receiver.thread_type, receiver.thread_count = "SLICE", 2
    receive_ms, _ = _cpu_ms(lambda: [receiver.decode(p) for p in packets], max(1, len(packets)))
    return {
        "decode_ms": decode_ms,
        "paint_ms": paint_ms,
        "paint_wall_ms": paint_wall_ms,
        "encode_ms": encode_ms,
        "encode_wall_ms": encode_wall_ms,
        "receive_ms": receive_ms,
    }
