"""A GB/T 28181 device (国标设备) simulator: registers, keeps alive, answers queries, streams.

Built from GB/T 28181-2016, for tests and benchmarks against our platform (or any other):

- REGISTER with digest (a fresh challenge every time; SHA-256 or MD5, whichever comes first
  among `digest_algorithms`, tools.gbdevice_auth), refreshed before it expires; `Expires: 0`
  on stop.
- Keepalive MESSAGEs (MANSCDP Notify/Keepalive) every `keepalive` seconds.
- Answers Query/Catalog (channels with Chinese names in GB2312, and a location) and
  Query/DeviceInfo with a MESSAGE of its own after the 200 OK.
- Answers INVITE: reads the offer's c=/m= and y= lines, sends PS over RTP (payload type 96)
  from that SSRC: H.264 (or H.265) encoded once with PyAV's libx264/libx265 from a plain
  picture of a known colour, looped one GOP at a time, with a 1 kHz G.711 A-law tone muxed
  into the same program stream; paced in real time from an absolute start. UDP, or TCP
  (TCP/RTP/AVP, RFC 4571) where the device connects to the port in the offer (a=setup:active)
  or, when the offer says a=setup:active, listens and answers a=setup:passive.
- Stops a stream on BYE. With `answer_delay` it answers late and can be CANCELled
  (tools.gbdevice_slow).
- Records every PTZCmd and keeps presets (tools.gbdevice_ptz): `device.ptz.received`.

Run: python -m tools.gbdevice --server 127.0.0.1:5060 --id 34020000001320000001 --password x
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

import av
import numpy as np
import numpy.typing as npt

from ingest.gbsdp import GbSdpError, parse_answer
from ingest.manscdp import (
    CatalogItem,
    CatalogQuery,
    CatalogResponse,
    DeviceControl,
    DeviceInfoQuery,
    DeviceInfoResponse,
    Keepalive,
    ManscdpError,
    ManscdpMessage,
    PresetQuery,
    encode_message,
    parse_message,
)
from ingest.ps import PsMuxer, split_payloads
from ingest.rtpframing import frame as rfc4571_frame
from mediacore.codecs.g711 import INT16_TO_ALAW
from mediacore.rtp import build_rtp
from sip.message import Headers, Request, Response, SipParseError, StreamFramer, make_response
from sip.message import parse_message as parse_sip
from tools.gbdevice_auth import register_authorization
from tools.gbdevice_ptz import SimulatedPtz
from tools.gbdevice_slow import SlowAnswers

log = logging.getLogger("gbdevice")

COLOURS = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "yellow": (255, 255, 0),
}
CLOCK = 90000
RTP_PAYLOAD = 1400
T1 = 0.5
TRANSACTION_TIMEOUT = 8.0


@dataclass
class DeviceConfig:
    server: tuple[str, int]
    device_id: str
    password: str
    domain: str = ""  # default: the first 10 digits of the device id
    server_id: str = ""  # default: <domain>2000000001
    transport: str = "udp"  # SIP transport
    local_host: str = ""  # default: the address that routes to the server
    channels: int = 1
    name: str = "模拟设备"
    expires: int = 3600
    keepalive: float = 60.0
    colour: str = "red"
    codec: str = "h264"  # or "h265"
    width: int = 320
    height: int = 240
    fps: int = 25
    tone_hz: float = 1000.0
    longitude: float = 116.397
    latitude: float = 39.909
    digest_algorithms: tuple[str, ...] = ("SHA-256", "MD5")  # the challenges it can answer
    answer_delay: float = 0.0  # > 0: INVITEs get 100 Trying, their answer this much later

    def __post_init__(self) -> None:
        self.domain = self.domain or self.device_id[:10]
        self.server_id = self.server_id or f"{self.domain}2000000001"


def channel_ids(device_id: str, count: int) -> list[str]:
    """Channel ids under a device: same domain, type 131 (camera), serial 1..count."""
    return [f"{device_id[:10]}131{index:07d}" for index in range(1, count + 1)]


# -- media -------------------------------------------------------------------------------------


def parse_colour(text: str) -> tuple[int, int, int]:
    """A colour name from COLOURS or #rrggbb."""
    if text in COLOURS:
        return COLOURS[text]
    value = text.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"colour {text!r}: use a name ({', '.join(COLOURS)}) or #rrggbb")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def encode_gop(
    colour: tuple[int, int, int], codec: str, width: int, height: int, fps: int
) -> list[bytes]:
    """One GOP (IDR first, parameter sets in band) of a plain picture, as Annex B units."""
    encoder = av.CodecContext.create("libx265" if codec == "h265" else "libx264", "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = Fraction(1, fps)
    encoder.framerate = Fraction(fps, 1)
    encoder.gop_size = fps
    encoder.max_b_frames = 0
    if codec == "h265":
        encoder.options = {"preset": "ultrafast", "x265-params": f"keyint={fps}:log-level=error"}
    else:
        encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    picture = np.zeros((height, width, 3), dtype=np.uint8)
    picture[:, :] = colour
    units: list[bytes] = []
    for index in range(fps):
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        units += [bytes(packet) for packet in encoder.encode(frame)]
    units += [bytes(packet) for packet in encoder.encode(None)]
    return units[:fps]


def alaw_tone(frequency: float, start: int, count: int, level: float = 0.5) -> bytes:
    """`count` samples of a sine at 8 kHz, from sample `start` (phase runs on), in A-law."""
    n = np.arange(start, start + count)
    pcm = (level * 32767 * np.sin(2 * np.pi * frequency * n / 8000)).astype(np.int16)
    table: npt.NDArray[np.uint8] = INT16_TO_ALAW
    return table[pcm.view(np.uint16)].tobytes()


class MediaStream(threading.Thread):
    """Sends one channel's PS/RTP until `stop()`: one pack per video frame, then the frame's
    40 ms (at 25 fps) of audio in a pack of its own."""

    def __init__(
        self,
        sock: socket.socket,
        destination: tuple[str, int],
        tcp: bool,
        ssrc: int,
        gop: list[bytes],
        config: DeviceConfig,
        accept: bool = False,
        playback: Recorded | None = None,
    ) -> None:
        """`accept`: TCP passive on our side, `sock` listens and the platform connects. With
        `playback` it sends a recording (tools/gbdevice_records.py) instead of `gop` looped for
        ever."""
        super().__init__(name="gbdevice-media", daemon=True)
        self.playback = playback
        self.sock = sock
        self.destination = destination
        self.tcp = tcp
        self.ssrc = ssrc
        self.gop = gop
        self.config = config
        self.packets = 0
        self.frames = 0
        self.error = ""
        self.accept = accept
        self._stop_event = threading.Event()
        self._muxer = PsMuxer(config.codec, "pcma")
        self._sequence = secrets.randbelow(0x10000)

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        config = self.config
        ticks = CLOCK // config.fps
        start = time.monotonic()
        try:
            if self.tcp and self.accept:
                self.sock.settimeout(5.0)
                listener = self.sock
                self.sock, _ = listener.accept()
                listener.close()
            elif self.tcp:
                self.sock.settimeout(5.0)
                self.sock.connect(self.destination)
            if self.playback is not None:
                self.playback.drive(self.send_frame, self._stop_event)
                return
            for index in itertools.count():
                if self._stop_event.is_set():
                    return
                self.send_frame(self.gop[index % len(self.gop)], index, index * ticks)
                delay = start + (index + 1) / config.fps - time.monotonic()
                if delay > 0:
                    self._stop_event.wait(delay)
        except OSError as error:
            self.error = str(error)
            log.info("media stream ended: %s", error)
        finally:
            self.sock.close()

    def send_frame(self, unit: bytes, index: int, pts: int) -> None:
        """Send video frame number `index` (`unit`, Annex B) at `pts`, then its share of
        the tone in a pack of its own."""
        samples = 8000 // self.config.fps
        pack = self._muxer.video(unit, pts)
        payloads = split_payloads(pack, RTP_PAYLOAD)
        tone = alaw_tone(self.config.tone_hz, index * samples, samples)
        audio = self._muxer.audio(tone, pts)
        last = len(payloads) - 1
        for number, payload in enumerate([*payloads, audio]):
            marker = number >= last  # the frame's last packet, and the audio pack
            self._send(build_rtp(96, self._sequence, pts, self.ssrc, payload, marker))
            self._sequence = (self._sequence + 1) & 0xFFFF
        self.frames += 1

    def _send(self, packet: bytes) -> None:
        if self.tcp:
            self.sock.sendall(rfc4571_frame(packet))
        else:
            self.sock.sendto(packet, self.destination)
        self.packets += 1


# -- SIP ---------------------------------------------------------------------------------------


@dataclass
class _Play:
    call_id: str
    channel: str
    stream: MediaStream
    ok: Response
    remote_target: str  # the platform's Contact: where our in-dialog requests go


class DeviceExtension(Protocol):
    """A feature plugged into the simulator (tools/gbdevice_*.py): it sees each request first."""

    def request_received(self, request: Request) -> bool:
        """Handle (and answer) `request`; False leaves it to the simulator."""
        ...


class Recorded(Protocol):
    """A recording's stream (tools/gbdevice_records.py): sends its frames through
    `send_frame(unit, index, pts)` on the stream's thread until its end or `stop`."""

    def drive(
        self, send_frame: Callable[[bytes, int, int], None], stop: threading.Event
    ) -> None: ...


class Recordings(Protocol):
    """What a device recorded: the stream an s=Playback or s=Download INVITE asks for."""

    def playback(self, request: Request, channel: str) -> Recorded | None:
        """None for a live INVITE; raises LookupError when nothing was recorded there."""
        ...


@dataclass
class DeviceStats:
    registrations: int = 0
    keepalives: int = 0
    keepalive_statuses: list[int] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)  # every MESSAGE body received
    catalog_queries: int = 0
    info_queries: int = 0
    invites: int = 0
    byes: int = 0
    digest_algorithms: list[str] = field(default_factory=list)  # the one each REGISTER used
    media_setups: list[str] = field(default_factory=list)  # TCP: "active" (we connected)...


class GbDeviceSimulator:
    """One simulated device on the running event loop. `await start()` registers it (raises
    RuntimeError with the final status when registration fails); `await stop()` unregisters."""

    def __init__(self, config: DeviceConfig) -> None:
        self.config = config
        self.stats = DeviceStats()
        self.plays: dict[str, _Play] = {}
        self.channels = channel_ids(config.device_id, config.channels)
        self.ptz = SimulatedPtz(frozenset({*self.channels, config.device_id}))  # 云台, presets
        self.registered = False
        self.local_host = config.local_host or _route_to(config.server[0])
        self.local_port = 0
        self._gop: list[bytes] | None = None
        self._pending: dict[tuple[str, int], asyncio.Future[Response]] = {}
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._reader: asyncio.Task[None] | None = None  # TCP: reads until the end
        self._keepalive_on = True
        self._sn = itertools.count(1)
        self._cseq = itertools.count(1)
        self.extensions: list[DeviceExtension] = []  # see tools/gbdevice_events.py, _talk.py
        self.slow = SlowAnswers(config.answer_delay, self._respond, self._invite)
        self.recordings: Recordings | None = None  # see tools/gbdevice_records.py

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.config.transport == "tcp":
            reader, writer = await asyncio.open_connection(*self.config.server)
            self._tcp = writer
            self.local_port = writer.get_extra_info("sockname")[1]
            self._reader = loop.create_task(self._read_tcp(reader))
        else:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self._received), local_addr=(self.local_host, 0)
            )
            self._udp = transport
            self.local_port = transport.get_extra_info("sockname")[1]
        status = await self.register(self.config.expires)
        if status != 200:
            await self._close()
            raise RuntimeError(f"registration failed: {status}")
        self._tasks.append(loop.create_task(self._keepalives()))
        self._tasks.append(loop.create_task(self._refresh()))

    async def stop(self, unregister: bool = True) -> None:
        for play in list(self.plays.values()):
            play.stream.stop()
        self.plays.clear()
        for task in self._tasks:
            task.cancel()
        if unregister and self.registered:
            with contextlib.suppress(Exception):
                await self.register(0)
        await self._close()

    async def _close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await self._tcp.wait_closed()

    def pause_keepalive(self) -> None:
        """Stop sending keepalives (the platform should mark the device offline)."""
        self._keepalive_on = False

    def resume_keepalive(self) -> None:
        self._keepalive_on = True

    # -- requests we send ------------------------------------------------------------------

    async def register(self, expires: int, password: str | None = None) -> int:
        """REGISTER (challenge, then credentials); returns the final status."""
        call_id = secrets.token_hex(10)
        tag = secrets.token_hex(4)
        uri = f"sip:{self.config.server_id}@{self.config.domain}"
        response = await self.request(self._register_request(uri, call_id, tag, expires))
        if response.status == 401:
            answered = register_authorization(
                response,
                algorithms=self.config.digest_algorithms,
                username=self.config.device_id,
                password=self.config.password if password is None else password,
                uri=uri,
            )
            if answered is None:
                return response.status
            answer, algorithm = answered
            self.stats.digest_algorithms.append(algorithm)
            retry = self._register_request(uri, call_id, tag, expires)
            retry.headers.add(*answer)
            response = await self.request(retry)
        if response.status == 200:
            self.registered = expires > 0
            self.stats.registrations += 1
        return response.status

    def _register_request(self, uri: str, call_id: str, tag: str, expires: int) -> Request:
        me = f"sip:{self.config.device_id}@{self.config.domain}"
        request = self._request("REGISTER", uri, call_id, f"<{me}>;tag={tag}", f"<{me}>")
        request.headers.add("Contact", f"<sip:{self.config.device_id}@{self._hostport()}>")
        request.headers.add("Expires", str(expires))
        return request

    async def send_manscdp(self, message: ManscdpMessage) -> int:
        return await self.send_document(encode_message(message))

    async def send_document(self, body: bytes, call_id: str | None = None) -> int:
        """A MANSCDP body in a MESSAGE to the platform, in a new Call-ID or in `call_id` (a
        playback's MediaStatus); returns the final status."""
        uri = f"sip:{self.config.server_id}@{self.config.domain}"
        me = f"<sip:{self.config.device_id}@{self.config.domain}>;tag={secrets.token_hex(4)}"
        request = self._request("MESSAGE", uri, call_id or secrets.token_hex(10), me, f"<{uri}>")
        request.headers.add("Content-Type", "Application/MANSCDP+xml")
        request.body = body
        return (await self.request(request)).status

    def new_request(self, method: str, uri: str, call_id: str, from_: str, to: str) -> Request:
        """A request with our Via, the given dialog fields and the next CSeq (extensions)."""
        return self._request(method, uri, call_id, from_, to)

    def respond(self, response: Response) -> None:
        self._respond(response)

    def send_raw(self, data: bytes) -> None:
        """Send bytes to the platform as they are (an ACK)."""
        self._send(data)

    @property
    def hostport(self) -> str:
        return self._hostport()

    def _request(self, method: str, uri: str, call_id: str, from_: str, to: str) -> Request:
        transport = "TCP" if self._tcp is not None else "UDP"
        branch = "z9hG4bK" + secrets.token_hex(8)
        headers = Headers(
            [
                ("Via", f"SIP/2.0/{transport} {self._hostport()};rport;branch={branch}"),
                ("From", from_),
                ("To", to),
                ("Call-ID", call_id),
                ("CSeq", f"{next(self._cseq)} {method}"),
                ("Max-Forwards", "70"),
                ("User-Agent", "mediacore-gbdevice"),
            ]
        )
        return Request(headers, b"", method, uri)

    async def request(self, request: Request) -> Response:
        """Send and wait for the final response (UDP: retransmitted per Timer E); 408 when
        none comes within TRANSACTION_TIMEOUT."""
        key = (request.call_id, request.cseq[0])
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        data = request.serialize()
        deadline = time.monotonic() + TRANSACTION_TIMEOUT
        interval = T1
        try:
            while True:
                self._send(data)
                wait = min(interval, deadline - time.monotonic())
                if wait <= 0:
                    return make_response(request, 408)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), wait)
                except TimeoutError:
                    if self._tcp is not None and time.monotonic() < deadline:
                        interval = deadline - time.monotonic()  # reliable: no retransmission
                        continue
                    interval = min(interval * 2, 4.0)
        finally:
            self._pending.pop(key, None)

    def _send(self, data: bytes) -> None:
        if self._tcp is not None:
            self._tcp.write(data)
        elif self._udp is not None:
            self._udp.sendto(data, self.config.server)

    def _hostport(self) -> str:
        return f"{self.local_host}:{self.local_port}"

    async def _keepalives(self) -> None:
        while True:
            await asyncio.sleep(self.config.keepalive)
            if not self._keepalive_on:
                continue
            status = await self.send_manscdp(Keepalive(self.config.device_id, next(self._sn)))
            self.stats.keepalives += 1
            self.stats.keepalive_statuses.append(status)
            if status == 403:  # the platform forgot us: register again
                await self.register(self.config.expires)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(max(30.0, self.config.expires * 0.8))
            await self.register(self.config.expires)

    # -- what we receive -------------------------------------------------------------------

    async def _read_tcp(self, reader: asyncio.StreamReader) -> None:
        framer = StreamFramer()
        while True:
            data = await reader.read(65536)
            if not data:
                return
            try:
                messages = framer.feed(data)
            except SipParseError:
                return
            for message in messages:
                self._received(message)

    def _received(self, data: bytes) -> None:
        try:
            message = parse_sip(data)
        except SipParseError:
            return
        if isinstance(message, Response):
            future = self._pending.get((message.call_id, message.cseq[0]))
            if future is not None and not future.done() and message.status >= 200:
                future.set_result(message)
            return
        try:
            self._request_received(message)
        except Exception:  # a simulator bug must not kill its socket
            log.exception("handling %s failed", message.method)

    def _request_received(self, request: Request) -> None:
        if any(extension.request_received(request) for extension in self.extensions):
            return
        method = request.method
        if method == "ACK":
            self.slow.ack(request)
            return
        if method == "MESSAGE":
            self.stats.messages.append(request.body)
            self._message(request)
        elif method == "INVITE":
            self._invite(request)
        elif method == "BYE":
            self.stats.byes += 1
            play = self.plays.pop(request.call_id, None)
            if play is not None:
                play.stream.stop()
            self._respond(make_response(request, 200 if play else 481))
        elif method == "OPTIONS":
            self._respond(make_response(request, 200))
        elif method == "CANCEL":
            self.slow.cancel(request)
        else:
            self._respond(make_response(request, 405))

    def _respond(self, response: Response) -> None:
        self._send(response.serialize())

    def _message(self, request: Request) -> None:
        try:
            query = parse_message(request.body)
        except ManscdpError:
            self._respond(make_response(request, 400))
            return
        if isinstance(query, DeviceControl | PresetQuery):
            self._control(request, query)
            return
        self._respond(make_response(request, 200))
        config = self.config
        answer: ManscdpMessage | None = None
        if isinstance(query, CatalogQuery):
            self.stats.catalog_queries += 1
            items = tuple(
                CatalogItem(
                    channel,
                    name=f"前门摄像机 {index}",
                    manufacturer="mediacore",
                    model="GBSIM-1",
                    status="ON",
                    parent_id=config.device_id,
                    civil_code=config.domain[:6],
                    address="指挥中心",
                    longitude=config.longitude,
                    latitude=config.latitude,
                )
                for index, channel in enumerate(self.channels, 1)
            )
            answer = CatalogResponse(config.device_id, query.sn, len(items), items)
        elif isinstance(query, DeviceInfoQuery):
            self.stats.info_queries += 1
            answer = DeviceInfoResponse(
                config.device_id,
                query.sn,
                device_name=config.name,
                manufacturer="mediacore",
                model="GBSIM-1",
                firmware="1.0",
                channel=len(self.channels),
            )
        if answer is not None:
            asyncio.get_running_loop().create_task(self._answer(answer))

    def _control(self, request: Request, message: DeviceControl | PresetQuery) -> None:
        """PTZ and presets (tools.gbdevice_ptz): answer, then apply and reply if need be."""
        status = self.ptz.status(message)
        if status is None:
            return
        self._respond(make_response(request, status))
        answer = self.ptz.handle(message) if status == 200 else None
        if answer is not None:
            asyncio.get_running_loop().create_task(self._answer(answer))

    async def _answer(self, message: ManscdpMessage) -> None:
        status = await self.send_manscdp(message)
        if status != 200:
            log.info("the platform answered %d to our %s", status, type(message).__name__)

    def _invite(self, request: Request) -> None:
        known = self.plays.get(request.call_id)
        if known is not None:
            self._respond(known.ok)  # a retransmitted INVITE: the same answer
            return
        if self.slow.holds(request):  # answer_delay: 100 Trying now, the answer later
            return
        self.stats.invites += 1
        channel = request.request_uri.user or ""
        if channel not in self.channels and channel != self.config.device_id:
            self._respond(make_response(request, 404))
            return
        try:
            offer = parse_answer(request.body)  # the offer has the same shape as an answer
        except GbSdpError as error:
            response = make_response(request, 488)
            response.headers.add("Warning", f'399 gbdevice "{error}"')
            self._respond(response)
            return
        ssrc = offer.ssrc if offer.ssrc is not None else secrets.randbelow(10**9)
        tcp = offer.transport == "tcp"
        listening = tcp and offer.setup == "active"  # TCP-ACTIVE platform: it connects to us
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        sock.bind((self.local_host, 0))
        if listening:
            sock.listen(1)
        if tcp:
            self.stats.media_setups.append("passive" if listening else "active")
        port = sock.getsockname()[1]
        try:  # s=Playback / s=Download: a recording (tools/gbdevice_records.py)
            recorded = self.recordings.playback(request, channel) if self.recordings else None
        except LookupError as error:
            sock.close()
            response = make_response(request, 404)
            response.headers.add("Warning", f'399 gbdevice "{error}"')
            self._respond(response)
            return
        if self._gop is None:
            config = self.config
            colour = parse_colour(config.colour)
            self._gop = encode_gop(colour, config.codec, config.width, config.height, config.fps)
        stream = MediaStream(
            sock,
            (offer.address, offer.port),
            tcp,
            ssrc,
            self._gop,
            self.config,
            listening,
            recorded,
        )
        ok = make_response(request, 200, to_tag=secrets.token_hex(4))
        ok.headers.add("Contact", f"<sip:{self.config.device_id}@{self._hostport()}>")
        ok.headers.add("Content-Type", "application/sdp")
        ok.body = self._answer_sdp(channel, port, tcp, ssrc, listening).encode()
        contacts = request.contacts
        target = str(contacts[0].uri) if contacts else str(request.from_.uri)
        self.plays[request.call_id] = _Play(request.call_id, channel, stream, ok, target)
        self._respond(ok)
        stream.start()

    def _answer_sdp(
        self, channel: str, port: int, tcp: bool, ssrc: int, listening: bool = False
    ) -> str:
        lines = [
            "v=0",
            f"o={channel} 0 0 IN IP4 {self.local_host}",
            "s=Play",
            f"c=IN IP4 {self.local_host}",
            "t=0 0",
            f"m=video {port} {'TCP/RTP/AVP' if tcp else 'RTP/AVP'} 96",
            "a=sendonly",
            "a=rtpmap:96 PS/90000",
        ]
        if tcp:
            lines += [f"a=setup:{'passive' if listening else 'active'}", "a=connection:new"]
        lines += [f"y={ssrc:010d}", "f="]
        return "\r\n".join(lines) + "\r\n"

    def hang_up(self) -> None:
        """End every stream from the device's side (BYE), as a camera going away would."""
        for play in list(self.plays.values()):
            play.stream.stop()
            self.plays.pop(play.call_id, None)
            ok = play.ok
            me = ok.headers.get("To") or ""
            them = ok.headers.get("From") or ""
            bye = self._request("BYE", play.remote_target, play.call_id, me, them)
            asyncio.get_running_loop().create_task(self._bye(bye))

    async def _bye(self, bye: Request) -> None:
        await self.request(bye)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, received: Callable[[bytes], None]) -> None:
        self.received = received

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.strip(b"\r\n"):
            self.received(data)


def _route_to(host: str) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


# -- command line ------------------------------------------------------------------------------


def _arguments(argv: list[str] | None) -> DeviceConfig:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="the platform's SIP host:port")
    parser.add_argument("--id", required=True, help="20-digit device id")
    parser.add_argument("--password", required=True)
    parser.add_argument("--domain", default="", help="SIP domain (default: id[:10])")
    parser.add_argument("--server-id", default="", help="platform id (default: domain+2000000001)")
    parser.add_argument("--transport", choices=("udp", "tcp"), default="udp", help="for SIP")
    parser.add_argument("--local-host", default="")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--name", default="模拟设备")
    parser.add_argument("--expires", type=int, default=3600)
    parser.add_argument("--keepalive", type=float, default=60.0, help="seconds")
    parser.add_argument("--colour", "--color", default="red", help="name or #rrggbb")
    parser.add_argument("--codec", choices=("h264", "h265"), default="h264")
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument(
        "--digest", default="SHA-256,MD5", help="digest algorithms it answers, e.g. MD5"
    )
    parser.add_argument("--answer-delay", type=float, default=0.0, help="seconds per INVITE")
    arguments = parser.parse_args(argv)
    host, _, port = arguments.server.rpartition(":")
    width, _, height = arguments.size.partition("x")
    return DeviceConfig(
        server=(host or arguments.server, int(port) if port else 5060),
        device_id=arguments.id,
        password=arguments.password,
        domain=arguments.domain,
        server_id=arguments.server_id,
        transport=arguments.transport,
        local_host=arguments.local_host,
        channels=arguments.channels,
        name=arguments.name,
        expires=arguments.expires,
        keepalive=arguments.keepalive,
        colour=arguments.colour,
        codec=arguments.codec,
        width=int(width),
        height=int(height),
        fps=arguments.fps,
        digest_algorithms=tuple(arguments.digest.split(",")),
        answer_delay=arguments.answer_delay,
    )


async def _main(config: DeviceConfig) -> None:
    device = GbDeviceSimulator(config)
    await device.start()
    log.info("registered as %s, channels %s", config.device_id, ", ".join(device.channels))
    try:
        await asyncio.Event().wait()
    finally:
        await device.stop()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = _arguments(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(config))


if __name__ == "__main__":
    main()
