"""A WebRTC client process for `bench webrtc`: K aiortc peers in one room, talkers sending tone
bursts, probes timing when each burst arrives.

Run by bench/webrtcbench.py as `python -m bench.webrtcpeers`: it reads its job (one JSON line)
from stdin, joins its peers over the signalling WebSocket, prints "ready" once every peer is
connected, waits for "start T" (T on the monotonic clock), plays for the job's seconds, then
prints one JSON line of results. Talkers and probes live in one process, so one clock times
both ends of every onset.

- Talkers (`talker`: k) send a live track: low noise, and from T on a 200 ms tone burst at
  their own frequency every 500 ms (talker k starts k quarter-periods in). aiortc encodes it.
  An onset's send time is when the track hands aiortc the burst's first frame.
- Every other peer sends low noise as Opus packets encoded once per process (aiortc packs them
  without encoding), so 50 peers cost the client no encoder; the server decodes them all.
- Probes (`probe`: true) record when each RTP packet arrives (after SRTP, before aiortc's
  jitter buffer) and every frame aiortc decodes, with the time `recv()` delivered it. The
  levels at each talker's frequency per 10 ms block find the onsets; an onset's `arrival` is
  the arrival of the packet that carried its frame (the frame's pts is that packet's RTP
  timestamp), its `delivered` the time aiortc handed out the decoded frame: aiortc's receiver
  holds 4 packets (80 ms) before decoding, a client-side delay a browser does not have.
- Other listeners count the packets they get and skip aiortc's jitter buffer and decoder,
  so that the shared CPUs go to the server rather than to decoding 50 copies of one mix.

Job: {"url", "token", "room", "peers": [{"name", "talker": k | null, "probe": bool}],
"seconds", "drift_ppm"}; or {"loopback": true, "seconds"}: one talker sending straight to one
probe, no server, which gives the client's own share of the latency (encode, SRTP, loopback
UDP, and aiortc's receive buffer)."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import websockets
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)
from aiortc.codecs.opus import OpusEncoder
from aiortc.mediastreams import MediaStreamError

from bench.onsets import OFF_DBFS, ON_DBFS
from mediacore.audio import tone, tone_levels_by_block
from mediacore.codecs.base import Pcm
from mediacore.uvloops import install_uvloop
from webrtc.tracks import frame_to_mono

RATE = 48000
FRAME = 960  # 20 ms
BLOCK_SECONDS = 0.01  # onsets are found per 10 ms block of the decoded audio
QUIET_BLOCKS = 5  # an onset follows at least 50 ms below the off level
TIME_BASE = fractions.Fraction(1, RATE)
BURST_PERIOD = 0.5  # seconds between one talker's onsets
BURST_LENGTH = 0.2
TALKER_FREQUENCIES = (500.0, 900.0, 1300.0, 1700.0, 2100.0, 2500.0)
LEVEL_DBFS = -20.0
NOISE_DBFS = -60.0  # far below the server's talk threshold (-45 dBFS): nobody else is mixed
MATCH_LIMIT = 0.4  # a heard onset later than this after the last one sent is not that one
JOIN_CONCURRENCY = 5
CONNECT_TIMEOUT = 30.0
TAIL = 0.5  # seconds after the last burst for its audio to come through
LAG_PERIOD = 0.01  # the event-loop lag probe's sleep

_RECEIVE_HOOK = "_handle_rtp_packet"  # aiortc 1.16: called per SRTP-decrypted RTP packet


def noise(seconds: float, level_dbfs: float, seed: int = 7) -> Pcm:
    """White noise at `level_dbfs` RMS, float32 at 48 kHz."""
    generator = np.random.default_rng(seed)
    samples = generator.standard_normal(round(seconds * RATE)) * 10 ** (level_dbfs / 20)
    return samples.astype(np.float32)


def stereo_frame(mono: Pcm, index: int) -> av.AudioFrame:
    """An s16 stereo frame (as a browser's microphone track gives aiortc), pts in samples."""
    pcm = np.round(np.clip(mono, -1.0, 1.0) * 32767).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(
        np.repeat(pcm, 2).reshape(1, -1), format="s16", layout="stereo"
    )
    frame.sample_rate = RATE
    frame.pts = index * FRAME
    frame.time_base = TIME_BASE
    return frame


def encoded_noise(seconds: float = 1.0) -> list[bytes]:
    """Opus packets of low noise, encoded once by aiortc's own encoder (20 ms each)."""
    encoder = OpusEncoder()
    samples = noise(seconds + 0.1, NOISE_DBFS)
    payloads: list[bytes] = []
    for index in range(len(samples) // FRAME):
        chunk = samples[index * FRAME : (index + 1) * FRAME]
        encoded, _ = encoder.encode(stereo_frame(chunk, index))
        payloads += encoded
    return payloads[: round(seconds * RATE / FRAME)]


class PacedTrack(MediaStreamTrack):
    """An audio source paced on absolute deadlines from its first frame, one every `period`
    (20 ms stretched by the client's clock drift), as aiortc's own tracks are paced."""

    kind = "audio"

    def __init__(self, period: float) -> None:
        super().__init__()
        self.period = period
        self.start: float | None = None
        self.count = 0
        self.lateness: list[float] = []

    async def next_index(self) -> int:
        """Wait for the next frame's deadline; returns its index."""
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        deadline = self.start + self.count * self.period
        delay = deadline - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        self.lateness.append(time.monotonic() - deadline)
        self.count += 1
        return self.count - 1


class NoiseTrack(PacedTrack):
    """Pre-encoded Opus noise, looped: aiortc's sender packs the packets as they are."""

    def __init__(self, payloads: Sequence[bytes], period: float) -> None:
        super().__init__(period)
        self.payloads = payloads

    async def recv(self) -> av.Packet[Any]:
        index = await self.next_index()
        packet = av.Packet(self.payloads[index % len(self.payloads)])
        packet.pts = index * FRAME
        packet.time_base = TIME_BASE
        return packet


class BurstTrack(PacedTrack):
    """A talker's microphone: low noise, and after `begin()` a tone burst every BURST_PERIOD;
    `onsets` holds the time each burst's first frame was handed to aiortc."""

    def __init__(self, talker: int, period: float) -> None:
        super().__init__(period)
        self.talker = talker
        self.frequency = TALKER_FREQUENCIES[talker % len(TALKER_FREQUENCIES)]
        burst = tone(self.frequency, BURST_LENGTH, RATE, LEVEL_DBFS)
        self.burst = [burst[i : i + FRAME] for i in range(0, len(burst), FRAME)]
        self.noise = noise(1.0, NOISE_DBFS, seed=talker)
        self.period_frames = round(BURST_PERIOD * RATE / FRAME)
        self.first_burst: int | None = None
        self.onsets: list[float] = []

    def begin(self, at: float) -> None:
        """Start the bursts with the first frame due at `at` or later, plus this talker's
        offset of k quarter-periods (talkers take turns)."""
        start = time.monotonic() if self.start is None else self.start
        first = max(self.count, int(np.ceil((at - start) / self.period)))
        self.first_burst = first + self.talker * self.period_frames // 4

    async def recv(self) -> av.AudioFrame:
        index = await self.next_index()
        phase = -1
        if self.first_burst is not None and index >= self.first_burst:
            phase = (index - self.first_burst) % self.period_frames
        if 0 <= phase < len(self.burst):
            samples = self.burst[phase]
            if phase == 0:
                self.onsets.append(time.monotonic())
        else:
            offset = index * FRAME % (len(self.noise) - FRAME)
            samples = self.noise[offset : offset + FRAME]
        return stereo_frame(samples, index)


@dataclass
class Reception:
    """What one peer received: a packet count, and for a probe every packet's arrival (by RTP
    timestamp counted from the first, as aiortc's decoder numbers frames) and every frame."""

    probe: bool
    packets: int = 0
    arrivals: dict[int, float] = field(default_factory=dict)
    frames: list[tuple[float, int, Pcm]] = field(default_factory=list)  # delivered, pts, pcm
    _origin: int | None = None

    def tap(self, receiver: RTCRtpReceiver) -> None:
        """Count (and for a probe time) every RTP packet the receiver gets; a listener's
        packets stop here, a probe's go on to aiortc's jitter buffer and decoder."""
        handle: Callable[[Any, int], Awaitable[None]] = getattr(receiver, _RECEIVE_HOOK)

        async def received(packet: Any, arrival_time_ms: int) -> None:
            self.packets += 1
            if not self.probe:
                return
            if self._origin is None:
                self._origin = int(packet.timestamp)
            self.arrivals[(int(packet.timestamp) - self._origin) % 2**32] = time.monotonic()
            await handle(packet, arrival_time_ms)

        setattr(receiver, _RECEIVE_HOOK, received)

    async def record(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.AudioFrame)
            self.frames.append((time.monotonic(), int(frame.pts or 0), frame_to_mono(frame)))


def rising_edges(levels: Sequence[float], quiet_blocks: int = QUIET_BLOCKS) -> list[int]:
    """Indices of the blocks at or above ON_DBFS that follow at least `quiet_blocks` blocks
    below OFF_DBFS; blocks in between (a tone starting late in a block) do not disarm it."""
    edges, quiet, armed = [], 0, False
    for index, level in enumerate(levels):
        if level >= ON_DBFS:
            if armed:
                edges.append(index)
            armed, quiet = False, 0
        elif level < OFF_DBFS:
            quiet += 1
            armed = armed or quiet >= quiet_blocks
        else:
            quiet = 0
    return edges


def heard_onsets(
    reception: Reception, frequencies: Sequence[float]
) -> list[list[tuple[float, float]]]:
    """Per frequency, the (arrival, delivered) times of the frames where a tone starts: the
    level of 10 ms blocks rising above ON after QUIET_BLOCKS below OFF (`rising_edges`)."""
    frames = reception.frames
    if not frames:
        return [[] for _ in frequencies]
    pcm = np.concatenate([f[2] for f in frames])
    block = round(BLOCK_SECONDS * RATE)
    starts = np.cumsum([0] + [len(f[2]) for f in frames[:-1]])
    # The frame that holds each block's first sample.
    owner = np.searchsorted(starts, np.arange(len(pcm) // block) * block, side="right") - 1
    levels = np.stack(
        [tone_levels_by_block(pcm, f, RATE, BLOCK_SECONDS) for f in frequencies], axis=1
    )
    found: list[list[tuple[float, float]]] = []
    for column in levels.T:
        times = []
        for index in rising_edges(column):
            delivered, pts, _ = frames[int(owner[index])]
            arrival = reception.arrivals.get(pts)
            if arrival is not None:  # a frame whose packet was not seen is concealment
                times.append((arrival, delivered))
        found.append(times)
    return found


def pair_onsets(
    sent: Sequence[float], heard: Sequence[tuple[float, float]], since: float
) -> list[dict[str, float]]:
    """Each heard onset (after `since`) with the latest onset sent before it, in ms."""
    ordered: npt.NDArray[np.float64] = np.sort(np.asarray(sent, dtype=np.float64))
    pairs = []
    for arrival, delivered in heard:
        index = int(np.searchsorted(ordered, arrival)) - 1
        if arrival <= since or index < 0:
            continue
        latency = arrival - ordered[index]
        if 0 <= latency <= MATCH_LIMIT:
            pairs.append(
                {
                    "sent": float(ordered[index]),
                    "arrival_ms": round(latency * 1000, 3),
                    "delivered_ms": round((delivered - ordered[index]) * 1000, 3),
                }
            )
    return pairs


class Peer:
    """One aiortc peer connection with its outgoing track and what it receives."""

    def __init__(self, name: str, track: PacedTrack, probe: bool) -> None:
        self.name = name
        self.track = track
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        transceiver = self.pc.addTransceiver(track, direction="sendrecv")
        self.reception = Reception(probe)
        self.reception.tap(transceiver.receiver)
        self.socket: Any = None
        self.messages = 0
        self._tasks: list[asyncio.Task[None]] = []
        if probe:
            self.pc.on("track", self._track)

    def _track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.ensure_future(self.reception.record(track)))

    async def join(self, url: str, room: str, token: str) -> None:
        """Open the signalling socket, join with an offer, apply the answer, and keep reading
        the socket (room events) until closed. Raises RuntimeError on an error reply."""
        address = url.replace("http", "ws", 1) + f"/api/v1/rooms/{room}/webrtc?token={token}"
        self.socket = await websockets.connect(address, max_size=2**20)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = self.pc.localDescription.sdp
        await self.socket.send(json.dumps({"type": "join", "name": self.name, "offer": offer}))
        while True:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), CONNECT_TIMEOUT))
            if message["type"] == "joined":
                break
            if message["type"] == "error":
                raise RuntimeError(f"join {self.name}: {message}")
        answer = RTCSessionDescription(message["answer"], "answer")
        await self.pc.setRemoteDescription(answer)
        self._tasks.append(asyncio.ensure_future(self._read_socket()))

    async def _read_socket(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for _ in self.socket:
                self.messages += 1

    async def connected(self, timeout: float = CONNECT_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while self.pc.connectionState != "connected":
            if time.monotonic() > deadline or self.pc.connectionState in ("failed", "closed"):
                raise RuntimeError(f"{self.name} not connected: {self.pc.connectionState}")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.socket.close(), 2)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 5)


async def measure_lag(until: float, lags: list[float]) -> None:
    """How late this process's event loop wakes a 10 ms sleep (the client's own overload)."""
    while time.monotonic() < until:
        due = time.monotonic() + LAG_PERIOD
        await asyncio.sleep(LAG_PERIOD)
        lags.append(time.monotonic() - due)


def _p99_ms(values: Sequence[float]) -> float | None:
    return round(float(np.percentile(values, 99)) * 1000, 3) if values else None


def results(
    talkers: Sequence[BurstTrack], probes: Sequence[Peer], since: float, until: float
) -> dict[str, Any]:
    """Every heard onset paired with its send, and the onsets each probe missed."""
    frequencies = [t.frequency for t in talkers]
    onsets, missed = [], 0
    for probe in probes:
        heard = heard_onsets(probe.reception, frequencies)
        for track, times in zip(talkers, heard, strict=True):
            pairs = pair_onsets(track.onsets, times, since)
            for pair in pairs:
                onsets.append({"talker": track.talker, "probe": probe.name, **pair})
            matched = {pair["sent"] for pair in pairs}
            missed += sum(since < t < until - TAIL and t not in matched for t in track.onsets)
    return {
        "onsets": onsets,
        "missed_onsets": missed,
        "sent_onsets": sum(len(t.onsets) for t in talkers),
        "talker_lateness_p99_ms": _p99_ms([x for t in talkers for x in t.lateness]),
    }


async def run(job: dict[str, Any]) -> dict[str, Any]:
    period = FRAME / RATE * (1 + float(job.get("drift_ppm", 0)) / 1e6)
    payloads = encoded_noise()
    peers: list[Peer] = []
    talkers: list[BurstTrack] = []
    for spec in job["peers"]:
        track: PacedTrack
        if spec["talker"] is not None:
            track = BurstTrack(int(spec["talker"]), period)
            talkers.append(track)
        else:
            track = NoiseTrack(payloads, period)
        peers.append(Peer(spec["name"], track, bool(spec["probe"])))
    began = time.monotonic()
    semaphore = asyncio.Semaphore(JOIN_CONCURRENCY)

    async def join(peer: Peer) -> None:
        async with semaphore:
            await peer.join(job["url"], job["room"], job["token"])
        await peer.connected()

    try:
        await asyncio.gather(*(join(peer) for peer in peers))
        join_seconds = time.monotonic() - began
        print("ready", flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line.startswith("start "):
            raise RuntimeError(f"expected 'start T', got {line!r}")
        start, seconds = float(line.split()[1]), float(job["seconds"])
        for track in talkers:
            track.begin(start)
        lags: list[float] = []
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        packets = sum(p.reception.packets for p in peers)
        await measure_lag(start + seconds, lags)
        packets = sum(p.reception.packets for p in peers) - packets
        for track in talkers:
            track.first_burst = None  # the last bursts' audio comes through in the tail
        await asyncio.sleep(TAIL)
        probes = [peer for peer in peers if peer.reception.probe]
        found = results(talkers, probes, start + 1.0, start + seconds)
        return {
            **found,
            "peers": len(peers),
            "connected": sum(p.pc.connectionState == "connected" for p in peers),
            "join_seconds": round(join_seconds, 3),
            "packets_received": packets,  # during the bursts, all peers
            "socket_messages": sum(p.messages for p in peers),
            "loop_lag_p99_ms": _p99_ms(lags),
            "loop_lag_max_ms": round(max(lags, default=0.0) * 1000, 3),
        }
    finally:
        await asyncio.gather(*(peer.close() for peer in peers))


async def loopback(job: dict[str, Any]) -> dict[str, Any]:
    """One talker straight to one probe over loopback UDP, no server: the client's share."""
    talker = BurstTrack(0, FRAME / RATE)
    sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    sender.addTransceiver(talker, direction="sendonly")
    probe = Peer("probe", NoiseTrack(encoded_noise(), FRAME / RATE), probe=True)
    try:
        await sender.setLocalDescription(await sender.createOffer())
        await probe.pc.setRemoteDescription(sender.localDescription)
        await probe.pc.setLocalDescription(await probe.pc.createAnswer())
        await sender.setRemoteDescription(probe.pc.localDescription)
        await probe.connected()
        start, seconds = time.monotonic() + 0.5, float(job["seconds"])
        talker.begin(start)
        lags: list[float] = []
        await asyncio.sleep(0.5)
        await measure_lag(start + seconds, lags)
        talker.first_burst = None
        await asyncio.sleep(TAIL)
        found = results([talker], [probe], start + 1.0, start + seconds)
        return {**found, "loop_lag_p99_ms": _p99_ms(lags)}
    finally:
        await probe.close()
        await sender.close()


def main() -> None:
    job = json.loads(sys.stdin.readline())
    install_uvloop()
    result = asyncio.run(loopback(job) if job.get("loopback") else run(job))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
