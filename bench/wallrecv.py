"""The wall benchmark's receiver: takes one rtp output off the wire, decodes it and reads the
stamp of every tile, in a process of its own so its decoding never holds the bench's GIL.

Run as `python -m bench.wallrecv PORT LOG SUMMARY`. It binds 127.0.0.1:PORT at once and prints
`bound`; the bench then writes one JSON line on stdin with the tiles to read
(`[{"tile", "source", "rect": [x, y, w, h], "width", "height"}]`, `rect` where the source's
picture lies in the output). Until then frames are decoded, not read.

RTP (RFC 6184: single NAL units, STAP-A, FU-A) is reassembled here rather than by a demuxer,
so a frame is timed by its own last packet, not by when a demuxer lets go of it: an access
unit ends at the packet with the marker bit, and its arrival time is that packet's kernel
receive time (SO_TIMESTAMPNS, the same clock as the sender's time.time()), so neither the
decode nor this process's scheduling shows up in the latency. Sequence gaps are counted as
lost packets.

It runs at nice `NICE`: when the CPU is short the server goes first (a real wall's receiver
is another machine), and its lag never shows, the arrival times being the kernel's.

For every decoded frame and tile it appends a `READ_RECORD` (RTP timestamp extended to 64
bits, arrival, tile, and the source and frame read, -1 when unreadable) to LOG every half
second, prints `progress {...}` once a second, and on SIGTERM or stdin closing writes
SUMMARY (packets, lost, frames, decode errors, size) and exits."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import av
import av.error
import numpy as np

from bench.wallstamp import StampGeometry, StampReader
from mixer.canvas import frame_planes

READ_RECORD = np.dtype(
    [("ts", "<i8"), ("arrival", "<f8"), ("tile", "<i2"), ("source", "<i2"), ("k", "<i4")]
)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
RECEIVE_BUFFER = 4 * 2**20
START_CODE = b"\x00\x00\x00\x01"
X264_SETTINGS = re.compile(rb"(x264 - core [ -~]+)")
FLUSH_S = 0.5
DRAIN_S = 8.0  # to decode what arrived before the stop (the bench waits 10 s)
# Below the server's priority: when the CPU is short the server under test goes first. Arrival
# times come from the kernel, so this process's own scheduling delays never count as latency.
NICE = 10


class Depacketizer:
    """RTP packets of one H.264 stream in, whole access units out (RFC 6184, mode 1)."""

    def __init__(self) -> None:
        self.packets = 0
        self.lost = 0
        self._seq: int | None = None
        self._ts: int | None = None
        self._high = 0  # timestamp wraps, for a 64-bit timestamp
        self._last_ts = 0
        self._parts: list[bytes] = []
        self._damaged = False

    def push(self, packet: bytes, arrival: float) -> tuple[int, float, bytes, bool] | None:
        """One RTP packet; returns (timestamp, arrival, annex_b, damaged) when it completes an
        access unit (its marker bit), else None."""
        if len(packet) < 12 or packet[0] >> 6 != 2:
            return None
        self.packets += 1
        cc, marker = packet[0] & 0x0F, packet[1] >> 7
        seq, ts = struct.unpack_from("!HI", packet, 2)
        offset = 12 + 4 * cc
        if packet[0] & 0x10 and len(packet) >= offset + 4:  # header extension
            offset += 4 + 4 * struct.unpack_from("!H", packet, offset + 2)[0]
        end = len(packet) - (packet[-1] if packet[0] & 0x20 else 0)
        payload = packet[offset:end]
        if self._seq is not None:
            gap = (seq - self._seq - 1) & 0xFFFF
            if gap and gap < 0x8000:
                self.lost += gap
                self._damaged = True
        self._seq = seq
        if self._ts is not None and ts != self._ts and self._parts:
            self._parts, self._damaged = [], True  # the last unit's marker was lost
        self._ts = ts
        self._append(payload)
        if not marker:
            return None
        if ts < self._last_ts and self._last_ts - ts > 1 << 31:
            self._high += 1 << 32
        self._last_ts = ts
        unit, damaged = b"".join(self._parts), self._damaged
        self._parts, self._damaged, self._ts = [], False, None
        return self._high + ts, arrival, unit, damaged

    def _append(self, payload: bytes) -> None:
        if not payload:
            return
        kind = payload[0] & 0x1F
        if 1 <= kind <= 23:
            self._parts += [START_CODE, payload]
        elif kind == 24:  # STAP-A
            at = 1
            while at + 2 <= len(payload):
                size = struct.unpack_from("!H", payload, at)[0]
                self._parts += [START_CODE, payload[at + 2 : at + 2 + size]]
                at += 2 + size
        elif kind == 28 and len(payload) > 2:  # FU-A
            start = payload[1] & 0x80
            if start:
                header = bytes([(payload[0] & 0xE0) | (payload[1] & 0x1F)])
                self._parts += [START_CODE, header]
            self._parts.append(payload[2:])


def kernel_time(ancillary: list[tuple[int, int, bytes]]) -> float:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanos = struct.unpack_from("qq", data)
            return float(seconds + nanos / 1e9)
    return time.time()


def decode_unit(context: Any, unit: bytes, ts: int) -> list[av.VideoFrame] | None:
    """The pictures access unit `unit` (pts `ts`) completes, or None when FFmpeg refuses it."""
    packet = av.Packet(unit)
    packet.pts = ts
    try:
        return [frame for frame in context.decode(packet) if isinstance(frame, av.VideoFrame)]
    except (av.error.FFmpegError, ValueError):
        return None


class Receiver:
    def __init__(self, port: int, log: Path) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.socket.bind(("127.0.0.1", port))
        self.socket.settimeout(0.2)
        self.depacketizer = Depacketizer()
        self.units: queue.Queue[tuple[int, float, bytes, bool]] = queue.Queue()
        self.readers: list[tuple[int, int, StampReader]] = []
        self.frames = 0
        self.damaged = 0
        self.decode_errors = 0
        self.reads = 0
        self.readable = 0
        self.size: tuple[int, int] | None = None
        self.encoder: str | None = None  # the settings x264 writes into its first keyframe
        self.stop = threading.Event()
        self._log_path = log
        self._lock = threading.Lock()
        self._pending: list[tuple[int, float, int, int, int]] = []

    def set_tiles(self, tiles: list[dict[str, Any]]) -> None:
        readers = []
        for tile in tiles:
            geometry = StampGeometry(int(tile["width"]), int(tile["height"]))
            rect = tuple(int(v) for v in tile["rect"])
            assert len(rect) == 4
            readers.append((int(tile["tile"]), int(tile["source"]), StampReader(geometry, rect)))
        self.readers = readers

    def receive(self) -> None:
        while not self.stop.is_set():
            try:
                data, ancillary, _, _ = self.socket.recvmsg(65536, 256)
            except TimeoutError:
                continue
            except OSError:
                return
            done = self.depacketizer.push(data, kernel_time(ancillary))
            if done is not None:
                self.units.put(done)

    def decode(self) -> None:
        context = av.CodecContext.create("h264", "r")
        context.thread_type = "SLICE"  # the wall's x264 codes two slices; frame threads would
        context.thread_count = 2  # hold pictures back
        arrivals: dict[int, float] = {}
        while True:  # after `stop`, what was received is still decoded (for DRAIN_S at most)
            try:
                ts, arrival, unit, damaged = self.units.get(timeout=0.2)
            except queue.Empty:
                if self.stop.is_set():
                    return
                continue
            self.damaged += damaged
            if self.encoder is None and (found := X264_SETTINGS.search(unit)) is not None:
                self.encoder = found.group(1).decode("ascii")
            arrivals[ts] = arrival
            frames = decode_unit(context, unit, ts)
            if frames is None:
                self.decode_errors += 1
                continue
            for frame in frames:
                pts = int(frame.pts) if frame.pts is not None else ts
                self._read(frame, pts, arrivals.pop(pts, arrival))
            if len(arrivals) > 100:
                arrivals.clear()

    def _read(self, frame: av.VideoFrame, ts: int, arrival: float) -> None:
        self.frames += 1
        self.size = (frame.width, frame.height)
        luma = frame_planes(frame)[0]
        rows = []
        for tile, _, reader in self.readers:
            found = reader.read(luma)
            rows.append((ts, arrival, tile, *(found if found is not None else (-1, -1))))
            self.reads += 1
            self.readable += found is not None
        if not rows:
            rows.append((ts, arrival, -1, -1, -1))  # the frame counts for the frame rate
        with self._lock:
            self._pending += rows

    def flush(self, log: IO[bytes]) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        if pending:
            log.write(np.array(pending, dtype=READ_RECORD).tobytes())
            log.flush()

    def summary(self) -> dict[str, Any]:
        return {
            "packets": self.depacketizer.packets,
            "packets_lost": self.depacketizer.lost,
            "frames_decoded": self.frames,
            "frames_damaged": self.damaged,
            "decode_errors": self.decode_errors,
            "size": list(self.size) if self.size else None,
            "encoder": self.encoder,
            "reads": self.reads,
            "readable": self.readable,
        }


def main(argv: list[str]) -> int:
    port, log, summary_path = int(argv[0]), Path(argv[1]), Path(argv[2])
    os.nice(NICE)
    receiver = Receiver(port, log)
    signal.signal(signal.SIGTERM, lambda *_: receiver.stop.set())

    def commands() -> None:
        for line in sys.stdin:
            if line.strip():
                receiver.set_tiles(json.loads(line))
        receiver.stop.set()

    threads = [
        threading.Thread(target=receiver.receive, daemon=True, name="receive"),
        threading.Thread(target=receiver.decode, daemon=True, name="decode"),
        threading.Thread(target=commands, daemon=True, name="commands"),
    ]
    for thread in threads:
        thread.start()
    print("bound", flush=True)
    last, seen, read, readable = time.monotonic(), 0, 0, 0
    with log.open("ab") as file:
        while not receiver.stop.wait(FLUSH_S):
            receiver.flush(file)
            now = time.monotonic()
            if now - last >= 1.0:
                fps = (receiver.frames - seen) / (now - last)
                reads = receiver.reads - read
                share = (receiver.readable - readable) / reads if reads else None
                progress = {
                    "fps": round(fps, 1),
                    "readable": share,
                    "frames": receiver.frames,
                    "lost": receiver.depacketizer.lost,
                }
                print("progress " + json.dumps(progress), flush=True)
                last, seen, read, readable = now, receiver.frames, receiver.reads, receiver.readable
        threads[1].join(DRAIN_S)
        receiver.flush(file)
    receiver.socket.close()
    summary_path.write_text(json.dumps(receiver.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
