"""One conference participant (or pure viewer) for `bench conference`, in a process of its own.

Run as `python -m bench.conferencepeers` with its job as one JSON line on stdin (as
`bench.loadprocs.spawn_worker` writes it): {"url", "token", "room", "name", "source": i | null,
"loop": file | null, "fps", "sources", "probe", "reads", "sends"}.

- It joins the room over the signalling WebSocket as a browser does: an Opus microphone of
  low noise, pre-encoded once (`bench.webrtcpeers.NoiseTrack`: below the talk threshold, so
  nobody becomes the speaker), and with `source` a camera: the stamped loop of
  `bench.wallsource` (x264 veryfast, 1 s GOP, like an IP camera), handed to aiortc as encoded
  packets (aiortc packetises them, it never encodes), paced at `fps` on a clock of its own
  (`bench.wallsend.source_drift`, and a phase of its own). Each frame's hand-over is logged
  to `sends` as `wallsend.SEND_RECORD` (source, n, time.time()).
- Once connected (and SUBSCRIBE_AFTER_S later, its camera flowing) it asks for the composed
  picture (`subscribe` "composed") and answers the server's renegotiation. (Asked at once,
  before any camera frame, a peer in a media worker was left out of the others' pictures:
  the worker exports its camera only at a join or an answer.) The video it receives is taken
  off aiortc's receiver right after SRTP (the receiver's packet hook, as `bench.webrtcpeers`
  does for audio), so aiortc's jitter buffer and decoder never run: every RTP packet is
  reassembled into access units here (`bench.wallrecv.Depacketizer`), a unit's arrival being
  its marker packet's. Every unit is logged to `reads` as a `wallrecv.READ_RECORD` (RTP
  timestamp, arrival, tile -1): that gives the frames on time of every receiver without
  decoding.
- A probe (`probe`) also decodes every unit on a thread of its own and reads the stamps
  (`bench.wallstamp.StampReader`) where the bench says the pictures are (stdin line
  `tiles [{"tile", "rect", "width", "height"}]`), one READ_RECORD per tile and frame.

Prints `ready {"participant"}` once connected and subscribed, `progress {...}` every second,
and on stdin's end (or SIGTERM) leaves, writes the logs and prints `done {summary}`."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import av
import numpy as np
import websockets
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from bench.wallrecv import READ_RECORD, Depacketizer, decode_unit
from bench.wallsend import SEND_RECORD, source_drift
from bench.wallsource import load_loop
from bench.wallstamp import StampGeometry, StampReader
from bench.webrtcpeers import _RECEIVE_HOOK, FRAME, RATE, NoiseTrack, Reception, encoded_noise
from mixer.canvas import frame_planes

CLOCK_RATE = 90000
TIME_BASE = fractions.Fraction(1, CLOCK_RATE)
CONNECT_TIMEOUT = 30.0
FLUSH_S = 0.5
SUBSCRIBE_AFTER_S = 0.5


class LoopTrack(MediaStreamTrack):
    """A camera: the loop's access units in order, one every period on absolute deadlines."""

    kind = "video"

    def __init__(self, units: list[bytes], source: int, sources: int, fps: int) -> None:
        super().__init__()
        self.units = units
        self.source = source
        self.period = (1.0 + source_drift(source, sources)) / fps
        self.phase = self.period * source / max(1, sources)
        self.start: float | None = None
        self.count = 0
        self.sent: list[tuple[int, int, float]] = []  # SEND_RECORD rows not yet written

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic() + self.phase
        delay = self.start + self.count * self.period - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        n = self.count
        self.count += 1
        packet = av.Packet(self.units[n % len(self.units)])
        packet.pts = round(n * self.period * CLOCK_RATE)
        packet.time_base = TIME_BASE
        self.sent.append((self.source, n, time.time()))
        return packet


class PictureReception:
    """The composed picture as it arrives: access units timed by their marker packet; with
    readers, decoded on a thread and its stamps read."""

    def __init__(self, probe: bool) -> None:
        self.probe = probe
        self.depacketizer = Depacketizer()
        self.units = 0
        self.rows: list[tuple[int, float, int, int, int]] = []
        self.readers: list[tuple[int, StampReader]] = []
        self.frames_decoded = 0
        self.decode_errors = 0
        self.reads = 0
        self.readable = 0
        self.size: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[int, float, bytes] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        if probe:
            self._thread = threading.Thread(target=self._decode, daemon=True, name="decode")
            self._thread.start()

    def tap(self, receiver: RTCRtpReceiver) -> None:
        """Every RTP packet of `receiver` comes here and stops here (aiortc decodes nothing)."""

        async def received(packet: Any, arrival_time_ms: int) -> None:
            done = self.depacketizer.push(packet.serialize(), time.time())
            if done is None:
                return
            ts, arrival, unit, _ = done
            self.units += 1
            if self.probe:
                self._queue.put((ts, arrival, unit))
            else:
                with self._lock:
                    self.rows.append((ts, arrival, -1, -1, -1))

        setattr(receiver, _RECEIVE_HOOK, received)

    def set_tiles(self, tiles: list[dict[str, Any]]) -> None:
        readers = []
        for tile in tiles:
            geometry = StampGeometry(int(tile["width"]), int(tile["height"]))
            x, y, w, h = (int(v) for v in tile["rect"])
            readers.append((int(tile["tile"]), StampReader(geometry, (x, y, w, h))))
        self.readers = readers

    def _decode(self) -> None:
        context = av.CodecContext.create("h264", "r")
        while (item := self._queue.get()) is not None:
            ts, arrival, unit = item
            frames = decode_unit(context, unit, ts)
            if frames is None:
                self.decode_errors += 1
                continue
            for frame in frames:
                self._read(frame, ts, arrival)

    def _read(self, frame: av.VideoFrame, ts: int, arrival: float) -> None:
        self.frames_decoded += 1
        self.size = (frame.width, frame.height)
        luma = frame_planes(frame)[0]
        rows = []
        for tile, reader in self.readers:
            found = reader.read(luma) if frame.height >= 2 else None
            rows.append((ts, arrival, tile, *(found if found is not None else (-1, -1))))
            self.reads += 1
            self.readable += found is not None
        if not rows:
            rows.append((ts, arrival, -1, -1, -1))
        with self._lock:
            self.rows += rows

    def take(self) -> list[tuple[int, float, int, int, int]]:
        with self._lock:
            rows, self.rows = self.rows, []
        return rows

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(5.0)


class Participant:
    """One aiortc peer: microphone, camera (or none), the composed picture it receives."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.microphone = NoiseTrack(encoded_noise(), FRAME / RATE)
        audio = self.pc.addTransceiver(self.microphone, direction="sendrecv")
        Reception(probe=False).tap(audio.receiver)  # the mix is counted, not decoded
        self.camera: LoopTrack | None = None
        if job.get("source") is not None:
            units = load_loop(Path(job["loop"]))
            self.camera = LoopTrack(units, int(job["source"]), int(job["sources"]), job["fps"])
            video = self.pc.addTransceiver(self.camera, direction="sendrecv")
        else:
            video = self.pc.addTransceiver("video", direction="recvonly")
        h264 = [
            codec
            for codec in RTCRtpSender.getCapabilities("video").codecs
            if codec.mimeType == "video/H264"
        ]
        video.setCodecPreferences(h264)
        self.picture = PictureReception(bool(job.get("probe")))
        self._tapped: set[int] = set()
        self._tap_video()
        self.socket: Any = None
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.participant: str | None = None
        self._reader: asyncio.Task[None] | None = None

    def _tap_video(self) -> None:
        for transceiver in self.pc.getTransceivers():
            receiver = transceiver.receiver
            if transceiver.kind == "video" and id(receiver) not in self._tapped:
                self._tapped.add(id(receiver))
                self.picture.tap(receiver)

    async def _expect(self, kind: str) -> dict[str, Any]:
        while True:
            message = await asyncio.wait_for(self.messages.get(), CONNECT_TIMEOUT)
            if message["type"] == kind:
                return message
            if message["type"] == "error":
                raise RuntimeError(f"{self.job['name']}: {message}")

    async def _read_socket(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for text in self.socket:
                message = json.loads(text)
                if message.get("type") != "event":
                    await self.messages.put(message)

    async def join(self) -> None:
        job = self.job
        address = job["url"].replace("http", "ws", 1)
        address += f"/api/v1/rooms/{job['room']}/webrtc?token={job['token']}"
        self.socket = await websockets.connect(address, max_size=2**22)
        self._reader = asyncio.ensure_future(self._read_socket())
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = self.pc.localDescription.sdp
        await self.socket.send(json.dumps({"type": "join", "name": job["name"], "offer": offer}))
        joined = await self._expect("joined")
        self.participant = str(joined["participant"])
        await self.pc.setRemoteDescription(RTCSessionDescription(joined["answer"], "answer"))
        await self._connected()
        await asyncio.sleep(SUBSCRIBE_AFTER_S)
        await self.socket.send(json.dumps({"type": "subscribe", "source": "composed"}))
        await self._expect("subscribed")
        offer_message = await self._expect("offer")
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_message["sdp"], "offer"))
        self._tap_video()
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        answer = {"type": "answer", "sdp": self.pc.localDescription.sdp}
        await self.socket.send(json.dumps(answer))

    async def _connected(self) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while self.pc.connectionState != "connected":
            if time.monotonic() > deadline or self.pc.connectionState in ("failed", "closed"):
                raise RuntimeError(f"{self.job['name']} not connected: {self.pc.connectionState}")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.socket.close(), 2)
        if self._reader is not None:
            self._reader.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 5)
        self.picture.stop()


def _flush(participant: Participant, reads: IO[bytes], sends: IO[bytes]) -> None:
    rows = participant.picture.take()
    if rows:
        reads.write(np.array(rows, dtype=READ_RECORD).tobytes())
        reads.flush()
    camera = participant.camera
    if camera is not None and camera.sent:
        sent, camera.sent = camera.sent, []
        sends.write(np.array(sent, dtype=SEND_RECORD).tobytes())
        sends.flush()


async def run(job: dict[str, Any]) -> dict[str, Any]:
    participant = Participant(job)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    def commands() -> None:
        for line in sys.stdin:
            if line.startswith("tiles "):
                participant.picture.set_tiles(json.loads(line[len("tiles ") :]))
        loop.call_soon_threadsafe(stop.set)

    try:
        await participant.join()
        print("ready " + json.dumps({"participant": participant.participant}), flush=True)
        threading.Thread(target=commands, daemon=True, name="commands").start()
        picture = participant.picture
        with open(job["reads"], "ab") as reads, open(job["sends"], "ab") as sends:
            last, units, readable, reads_seen = time.monotonic(), 0, 0, 0
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), FLUSH_S)
                _flush(participant, reads, sends)
                now = time.monotonic()
                if now - last >= 1.0:
                    done = picture.reads - reads_seen
                    progress = {
                        "fps": round((picture.units - units) / (now - last), 1),
                        "units": picture.units,
                        "readable": (picture.readable - readable) / done if done else None,
                    }
                    print("progress " + json.dumps(progress), flush=True)
                    last, units = now, picture.units
                    readable, reads_seen = picture.readable, picture.reads
            await participant.close()
            _flush(participant, reads, sends)
    finally:
        await participant.close()
    return {
        "participant": participant.participant,
        "units": picture.units,
        "packets": picture.depacketizer.packets,
        "packets_lost": picture.depacketizer.lost,
        "frames_decoded": picture.frames_decoded,
        "decode_errors": picture.decode_errors,
        "size": list(picture.size) if picture.size else None,
        "reads": picture.reads,
        "readable": picture.readable,
        "frames_sent": participant.camera.count if participant.camera else 0,
    }


def main() -> None:
    job = json.loads(sys.stdin.readline())
    try:
        summary = asyncio.run(run(job))
    except Exception as error:  # the bench reads this line and stops the run
        print(f"error {job.get('name')}: {error!r}", flush=True)
        sys.exit(1)
    print("done " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
