"""A GB/T 28181 channel as a field source: INVITE the device, take its PS stream, BYE on abort.

`GbReader` is what `FieldSource` runs on its worker thread for a `gb28181://<device>/<channel>`
URL, in place of the PyAV `SourceReader`, with the same `run()` / `abort()` contract. The SIP
side runs on the event loop (`GbPlatform.play`, reached with `run_coroutine_threadsafe`); the
media socket is the thread's own, from the RTP port range: a UDP port; a TCP port the device
connects to (`?transport=tcp` or `tcp-passive`); or, `?transport=tcp-active`, a TCP socket we
connect from to the port the device's answer names (RFC 4571 framing over both). Aborted
while the device has not answered, the INVITE is CANCELled (ingest.gbinvite). Video leaves
as Annex B access units (H.264 with its parameter sets before every keyframe, or H.265 as
sent); G.711 audio leaves as float32 PCM at 8 kHz.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import logging
import random
import socket
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from urllib.parse import parse_qs, urlsplit

import numpy as np
import numpy.typing as npt

from ingest.annexb import AnnexBWriter, BitstreamError
from ingest.gbmediasource import MediaSourceLatch
from ingest.gbplatform import GbPlatform, GbPlay, GbPlayError
from ingest.gbrecords import MEDIA_STATUS_END, time_range
from ingest.gbrtp import PsRtpReceiver
from ingest.gbsettings import is_gb_id
from ingest.netpolicy import NetworkPolicy
from ingest.ps import DemuxedFrame
from ingest.puller import PullError, PullTarget, StreamFinished
from ingest.rtpframing import Rfc4571Framer
from mediacore.codecs.g711 import ALAW_TO_INT16, ULAW_TO_INT16
from mediacore.videohub import inspect_h264

if TYPE_CHECKING:
    from ingest.source import FieldSourceSettings

log = logging.getLogger(__name__)

SCHEME = "gb28181"
POLL = 0.2  # seconds between looks at the abort flag while receiving
BYE_WAIT = 3.0
G711_RATE = 8000
CLOCK_RATE = 90000
PTS_MASK = (1 << 33) - 1
NEAR_END = 0.98  # of a recording's range: a stream that stops this far along has ended
_G711 = {
    "pcma": (ALAW_TO_INT16 / 32768.0).astype(np.float32),
    "pcmu": (ULAW_TO_INT16 / 32768.0).astype(np.float32),
}
_T = TypeVar("_T")

# on_audio(pcm float32 mono, sample_rate)
AudioSink = Callable[[npt.NDArray[np.float32], int], None]


@dataclass(frozen=True, slots=True)
class MediaMode:
    """How a channel's media comes (WVP's streamMode): the offer's `transport` and our
    `setup` (ingest.gbsdp), and the socket to open: "udp", "listen" or "connect"."""

    transport: str
    setup: str
    socket_kind: str


MEDIA_MODES = {
    "udp": MediaMode("udp", "passive", "udp"),
    # TCP passive (TCP-PASSIVE): we offer a=setup:passive and listen, the device connects
    "tcp": MediaMode("tcp", "passive", "listen"),
    "tcp-passive": MediaMode("tcp", "passive", "listen"),
    # TCP active (TCP-ACTIVE): we offer a=setup:active, the device answers a=setup:passive
    # with the port it listens on, and we connect there from the port we offered
    "tcp-active": MediaMode("tcp", "active", "connect"),
}


def gb_target(url: str) -> PullTarget:
    """`gb28181://<device-id>/<channel-id>[?transport=udp|tcp|tcp-passive|tcp-active]` as a
    PullTarget whose options say device, channel and transport (a MEDIA_MODES key);
    `&start=ISO&end=ISO` plays the channel's recording of that range (options start and end in
    Unix seconds). Raises PullError (permanent) for anything else."""
    parts = urlsplit(url)
    device = parts.hostname or ""
    channel = parts.path.strip("/") or device
    query = parse_qs(parts.query)
    transport = (query.get("transport") or ["udp"])[0].lower()
    if parts.scheme.lower() != SCHEME or not is_gb_id(device) or not is_gb_id(channel):
        raise PullError(
            f"a GB/T 28181 source URL is gb28181://<20-digit device id>/<20-digit channel id>,"
            f" not {url!r}",
            permanent=True,
        )
    if transport not in MEDIA_MODES:
        raise PullError(
            f"GB/T 28181 transport must be one of {', '.join(MEDIA_MODES)}, not {transport!r}",
            permanent=True,
        )
    options = {"device": device, "channel": channel, "transport": transport}
    if "start" in query or "end" in query:
        try:
            start, end = time_range((query.get("start") or [""])[0], (query.get("end") or [""])[0])
        except ValueError as error:
            raise PullError(f"GB/T 28181 playback: {error}", permanent=True) from None
        options |= {"start": str(start), "end": str(end)}
    return PullTarget(url, options)


class GbReaderFactory:
    """Makes a `GbReader` per connection attempt (call it on the event loop thread)."""

    def __init__(
        self,
        platform: GbPlatform,
        bind_host: str,
        ports: tuple[int, int],
        networks: NetworkPolicy | None = None,
    ) -> None:
        """`networks`: where TCP active media may connect ([outbound]); None: anywhere."""
        self.platform = platform
        self.clock = platform.clock
        self.bind_host = bind_host
        self.ports = ports
        self.networks = networks

    def __call__(self, target: PullTarget, settings: FieldSourceSettings) -> GbReader:
        return GbReader(
            target,
            self.platform,
            asyncio.get_running_loop(),
            bind_host=self.bind_host,
            ports=self.ports,
            open_timeout=settings.open_timeout,
            read_timeout=settings.read_timeout,
            networks=self.networks,
        )


class GbReader:
    """One live-play session, run on a worker thread."""

    def __init__(
        self,
        target: PullTarget,
        platform: GbPlatform,
        loop: asyncio.AbstractEventLoop,
        *,
        bind_host: str = "0.0.0.0",
        ports: tuple[int, int] = (20000, 29999),
        open_timeout: float = 10.0,
        read_timeout: float = 5.0,
        networks: NetworkPolicy | None = None,
    ) -> None:
        self.target = target
        self.networks = networks
        self.platform = platform
        self.clock = platform.clock
        self.device = target.options["device"]
        self.channel = target.options["channel"]
        self.transport = target.options.get("transport", "udp")
        self.bind_host = bind_host
        self.ports = ports
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.receiver: PsRtpReceiver | None = None
        self.latch: MediaSourceLatch | None = None  # whose packets count: the device's
        options = target.options
        # a recording (s=Playback, or s=Download at `download_speed`) instead of live video
        self.playback = (int(options["start"]), int(options["end"])) if "start" in options else None
        speed = options.get("download_speed")
        self.download_speed = int(speed) if speed else None
        self.play: GbPlay | None = None  # the dialog, once the device answered
        self.paused = threading.Event()  # a paused playback sends nothing: no read timeout
        self.on_frame: Callable[[DemuxedFrame], None] | None = None  # every frame as demuxed
        self._finished = threading.Event()  # MediaStatus 121: the recording ended
        self.position = 0.0  # seconds of the recording received (video timestamps)
        self._first_pts: int | None = None
        self._loop = loop
        self._stop = threading.Event()
        self._bye = threading.Event()
        self._annexb = AnnexBWriter.from_extradata(None)
        self._opened = False

    def abort(self) -> None:
        """Make `run()` return within POLL seconds (from any thread); it then sends BYE."""
        self._stop.set()

    def run(
        self,
        on_open: Callable[[dict[str, Any]], None],
        on_video: Callable[[bytes, int | None, bool], None],
        on_audio: AudioSink | None = None,
    ) -> None:
        """INVITE, receive until `abort()`, a BYE from the device or `read_timeout` without
        media; then BYE. `on_open` gets codec, width and height at the first keyframe.
        Raises PullError (permanent for an unknown device or a channel the device refuses)."""
        mode = MEDIA_MODES[self.transport]
        listener = _bind(mode.socket_kind, self.bind_host, self.ports)
        play: GbPlay | None = None
        try:
            port = listener.getsockname()[1]
            play = self._invite(port, mode)
            if play is None:
                return  # aborted before the device answered: the INVITE was CANCELled
            self.play = play
            self.receiver = PsRtpReceiver(play.ssrc)
            answered = (play.answer.address, play.answer.port)
            self.latch = MediaSourceLatch(answered, play.media_hosts, play.ssrc, self.clock.now())
            sink = (on_open, on_video, on_audio)
            if mode.setup == "active":
                self._read_stream(self._connect(listener, answered), sink)
            elif mode.transport == "tcp":
                self._receive_tcp(listener, sink)
            else:
                self._receive_udp(listener, sink)
        finally:
            listener.close()
            if play is not None and not play.ended:
                try:
                    self._await(self.platform.stop_play(play), BYE_WAIT, "BYE")
                except PullError:
                    pass

    def _status(self, notify_type: int) -> None:
        if notify_type == MEDIA_STATUS_END and self.playback is not None:
            self._finished.set()

    def _idle(self, silent: float, limit: float) -> None:
        """Nothing arrived for `silent` seconds: the recording's end once the device said so
        and its last packets are in, a paused playback waits, else past `limit` it failed."""
        if self._finished.is_set():
            raise StreamFinished("the recording ended")
        if silent > limit:
            self._stopped(f"no media from the device for {limit:.0f} s")

    def _stopped(self, reason: str) -> NoReturn:
        """The stream stopped (`reason`): a recording that reached its end is finished (some
        devices hang up, or fall silent, instead of sending MediaStatus 121), else it failed."""
        if self.playback is not None and (self._finished.is_set() or self._near_end()):
            raise StreamFinished("the recording ended")
        raise PullError(reason)

    def _near_end(self) -> bool:
        assert self.playback is not None
        start, end = self.playback
        return self.position >= NEAR_END * (end - start)

    # -- media -----------------------------------------------------------------------------

    def _receive_udp(self, sock: socket.socket, sink: _Sinks) -> None:
        sock.settimeout(POLL)
        last = self.clock.now()
        limit = max(self.open_timeout, self.read_timeout)  # the first packet may take longer
        latch = self.latch
        assert latch is not None
        while self._running():
            try:
                data, source = sock.recvfrom(65536)
            except TimeoutError:
                if self.paused.is_set():
                    last = self.clock.now()  # the silence of a pause is no failure
                self._idle(self.clock.now() - last, limit)
                continue
            if not latch.admit(data, (source[0], source[1]), self.clock.now()):
                continue  # a stranger's packet: it neither feeds the picture nor keeps it alive
            if self._take(data, sink):
                last = self.clock.now()
                limit = self.read_timeout

    def _invite(self, port: int, mode: MediaMode) -> GbPlay | None:
        """INVITE the channel; None when `abort()` came first (the platform then CANCELs)."""
        try:
            return self._await(
                self._play(port, mode), self.open_timeout, "the device did not answer the INVITE",
                self._stop,
            )  # fmt: skip
        except _Aborted:
            return None

    async def _play(self, port: int, mode: MediaMode) -> GbPlay:
        """On the loop: the play, ended at once if `abort()` came as the device answered
        (the thread may have stopped waiting for it)."""
        play = await self.platform.play(
            self.device,
            self.channel,
            port=port,
            transport=mode.transport,
            setup=mode.setup,
            on_bye=self._bye.set,
            playback=self.playback,
            download_speed=self.download_speed,
            on_status=self._status,
        )
        if self._stop.is_set():
            await self.platform.stop_play(play)
        return play

    def _connect(self, sock: socket.socket, answered: tuple[str, int]) -> socket.socket:
        """TCP active (a=setup:active): we connect to the port the device's answer names, from
        our offered port; the device listens (a=setup:passive). The answer names where we
        connect, so the address must be one the [outbound] networks allow, as for any source
        whose address someone else chooses."""
        if self.networks is not None and not _allowed(self.networks, answered[0]):
            raise PullError(
                f"the device's media address {answered[0][:60]!r} is not in the networks this "
                "server may connect to ([outbound])",
                permanent=True,
            )
        sock.settimeout(max(POLL, min(self.open_timeout, 5.0)))
        try:
            sock.connect(answered)
        except OSError as error:
            raise PullError(
                f"cannot connect to the device's media port {answered[0]}:{answered[1]}: {error}"
            ) from None
        return sock

    def _receive_tcp(self, listener: socket.socket, sink: _Sinks) -> None:
        listener.settimeout(POLL)
        deadline = self.clock.now() + self.open_timeout
        connection: socket.socket | None = None
        latch = self.latch
        assert latch is not None
        while connection is None and self._running():
            try:
                connection, peer = listener.accept()
            except TimeoutError:
                if self.clock.now() > deadline:
                    raise PullError("the device did not open the TCP media connection") from None
                continue
            if not latch.admit_connection(peer[0]):
                connection.close()  # not the device: keep the port for it
                connection = None
        if connection is None:
            return
        self._read_stream(connection, sink)

    def _read_stream(self, connection: socket.socket, sink: _Sinks) -> None:
        """RFC 4571 framed RTP from a media connection, until abort, BYE or silence."""
        framer = Rfc4571Framer()
        with connection:
            connection.settimeout(POLL)
            last = self.clock.now()
            while self._running():
                try:
                    data = connection.recv(65536)
                except TimeoutError:
                    if self.paused.is_set():
                        last = self.clock.now()
                    self._idle(self.clock.now() - last, self.read_timeout)
                    continue
                if not data:
                    if self._stop.is_set():
                        return  # aborted: the BYE that followed closed it
                    self._stopped("the device closed the TCP media connection")
                for packet in framer.feed(data):
                    if self._take(packet, sink):
                        last = self.clock.now()

    def _running(self) -> bool:
        if self._bye.is_set():
            self._stopped("the device ended the stream (BYE)")
        return not self._stop.is_set()

    def _take(self, packet: bytes, sink: _Sinks) -> bool:
        """Feed one RTP packet; True when it was accepted (right SSRC and payload type)."""
        receiver = self.receiver
        assert receiver is not None
        before = receiver.packets
        for frame in receiver.receive(packet):
            self._deliver(frame, sink)
        return receiver.packets > before

    def _deliver(self, frame: DemuxedFrame, sink: _Sinks) -> None:
        if frame.kind == "video":
            if self._first_pts is None:
                self._first_pts = frame.pts
            elapsed = ((frame.pts - self._first_pts) & PTS_MASK) / CLOCK_RATE
            self.position = max(self.position, elapsed)
        if self.on_frame is not None:
            self.on_frame(frame)
        on_open, on_video, on_audio = sink
        if frame.kind == "audio":
            table = _G711.get(frame.codec)
            if on_audio is not None and table is not None and frame.data:
                on_audio(table[np.frombuffer(frame.data, dtype=np.uint8)], G711_RATE)
            return
        data, keyframe = frame.data, frame.keyframe
        if frame.codec == "h264":
            try:
                data, keyframe = self._annexb.convert(data)
            except BitstreamError:
                return
        if not self._opened:
            if not keyframe:
                return  # nothing can decode what comes before the first keyframe
            info = inspect_h264(data) if frame.codec == "h264" else None
            assert self.receiver is not None
            audio = next(
                (c for c in self.receiver.demuxer.codecs.values() if c in _G711), None
            )  # from the program stream map, which comes with every keyframe
            on_open(
                {
                    "codec": frame.codec,
                    "width": info.width if info else None,
                    "height": info.height if info else None,
                    "audio_codec": audio,
                    "audio_rate": G711_RATE if audio else None,
                    "audio_channels": 1 if audio else None,
                }
            )
            self._opened = True
        on_video(data, frame.pts, keyframe)

    # -- the event loop side ---------------------------------------------------------------

    def _await(
        self,
        coroutine: Coroutine[Any, Any, _T],
        timeout: float,
        what: str,
        abort: threading.Event | None = None,
    ) -> _T:
        """Run `coroutine` on the loop and wait for it; PullError on timeout or GbPlayError,
        _Aborted when `abort` is set first. Either cancels it: a play INVITE is then CANCELled
        (ingest.gbinvite), and a late answer ended with BYE."""
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        except RuntimeError:
            coroutine.close()
            raise PullError("the server is stopping") from None
        deadline = self.clock.now() + timeout
        try:
            while True:
                try:
                    return future.result(timeout=max(0.0, min(POLL, deadline - self.clock.now())))
                except TimeoutError:
                    aborted = abort is not None and abort.is_set()
                    # cancel() fails when it just finished: its result is taken, not lost
                    if (aborted or self.clock.now() >= deadline) and future.cancel():
                        if aborted:
                            raise _Aborted from None
                        raise PullError(f"{what} within {timeout:.0f} s") from None
        except GbPlayError as error:
            raise PullError(error.reason, permanent=error.permanent) from None
        except concurrent.futures.CancelledError:
            if abort is not None and abort.is_set():
                raise _Aborted from None  # the server stopping cancelled it as we aborted
            raise PullError(f"{what}: cancelled") from None


def _allowed(networks: NetworkPolicy, host: str) -> bool:
    """Whether `host`, an address literal (SDP c= names one), is one `networks` allows."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return networks.allows(address)


class _Aborted(Exception):
    """abort() came while waiting for the loop."""


_Sinks = tuple[
    Callable[[dict[str, Any]], None],
    Callable[[bytes, int | None, bool], None],
    AudioSink | None,
]


def _bind(socket_kind: str, host: str, ports: tuple[int, int]) -> socket.socket:
    """A UDP socket, a listening TCP socket ("listen") or a TCP socket to connect from
    ("connect"), on a free even port of the range."""
    low, high = ports
    low += low % 2
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_DGRAM if socket_kind == "udp" else socket.SOCK_STREAM
    count = max(1, (high - low) // 2)
    start = random.randrange(count)
    for index in range(min(count, 200)):
        port = low + 2 * ((start + index) % count)
        sock = socket.socket(family, kind)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            continue
        if socket_kind == "listen":
            sock.listen(1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2 * 1024 * 1024)
        return sock
    raise PullError(f"no free media port in {low}-{high}")
