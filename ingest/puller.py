"""Pulling one field camera: open its URL, demux (never decode) its H.264, hand it on.

`SourceReader.run()` blocks a worker thread for one connection: it returns at the end of the
stream and raises `PullError` when the source cannot be opened or breaks. What to do next
(reconnect, back off, give up) is `ingest.source.FieldSource`'s job.

The FFmpeg inside the PyAV wheel has RTSP, RTMP and HLS but no SRT, so an `srt://` source is
relayed by a Debian `ffmpeg` child process (`-c copy -f mpegts pipe:1`, no re-encode) whose
pipe PyAV demuxes; `abort()` kills it. The other protocols are read in-process with a read
timeout, so a dead server ends the connection instead of hanging the thread.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import av
import av.error

from ingest.annexb import AnnexBWriter, BitstreamError

log = logging.getLogger(__name__)

CLOCK_RATE = 90000
# Open in well under a second: PyAV's default probing waits about 5 s on an RTMP source.
PROBE_OPTIONS = {"analyzeduration": "500000", "probesize": "32768", "fflags": "nobuffer"}
SCHEMES = ("rtsp", "rtsp+tcp", "rtsp+udp", "rtmp", "rtmps", "http", "https", "srt")
FFMPEG = "/usr/bin/ffmpeg"


class PullError(Exception):
    """A connection failed; `permanent` errors (bad URL, 401/403/404, a codec we cannot
    forward) are not worth retrying."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class PullTarget:
    """What to open: the URL FFmpeg sees, its options, and whether it goes through the SRT
    relay."""

    url: str
    options: dict[str, str]
    relay: bool = False


def pull_target(url: str, read_timeout: float = 5.0) -> PullTarget:
    """Map a source URL to what FFmpeg opens. `rtsp://` and `rtsp+tcp://` pull RTSP
    interleaved over TCP, `rtsp+udp://` over UDP; HLS URLs end in `.m3u8`. Raises PullError
    (permanent) for any other scheme."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or not parts.hostname:
        raise PullError(
            f"unsupported source URL {url!r}: use rtsp://, rtsp+udp://, rtmp://, "
            "http(s)://...m3u8 or srt://",
            permanent=True,
        )
    if scheme in ("http", "https") and not parts.path.lower().endswith(".m3u8"):
        raise PullError(f"an HTTP source must be an HLS playlist (.m3u8): {url!r}", permanent=True)
    micros = str(int(read_timeout * 1_000_000))
    options = dict(PROBE_OPTIONS)
    if scheme.startswith("rtsp"):
        options["rtsp_transport"] = "udp" if scheme == "rtsp+udp" else "tcp"
        options["timeout"] = micros  # RTSP socket I/O timeout
        return PullTarget(urlunsplit(parts._replace(scheme="rtsp")), options)
    if scheme == "srt":
        return PullTarget(url, options, relay=True)
    options["rw_timeout"] = micros
    return PullTarget(url, options)


def pull_options_for_file(path: str, read_timeout: float = 5.0) -> PullTarget:
    """An RTP session described by a local SDP file (tests, fixed multicast feeds). Never
    reachable from the API: it reads the server's disk."""
    options = dict(PROBE_OPTIONS)
    options["protocol_whitelist"] = "file,udp,rtp"
    options["rw_timeout"] = str(int(read_timeout * 1_000_000))
    return PullTarget(path, options)


# on_video(annex_b_access_unit, pts_90khz, keyframe)
VideoSink = Callable[[bytes, int | None, bool], None]


class SourceReader:
    """One connection to one source, run in a worker thread."""

    def __init__(
        self, target: PullTarget, *, open_timeout: float = 10.0, read_timeout: float = 5.0
    ) -> None:
        self.target = target
        self._timeout = (open_timeout, read_timeout)
        self._stop = threading.Event()
        self._relay: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def abort(self) -> None:
        """Make `run()` return soon (from any thread): at once for the SRT relay, else at the
        next packet or read timeout."""
        self._stop.set()
        with self._lock:
            relay = self._relay
        if relay is not None and relay.poll() is None:
            relay.kill()

    def run(self, on_open: Callable[[dict[str, Any]], None], on_video: VideoSink) -> None:
        """Open, then demux until the stream ends or `abort()`. `on_open` gets the stream's
        codec, width and height. Raises PullError."""
        try:
            container = self._open()
        except PullError:
            self._end_relay()
            raise
        try:
            self._demux(container, on_open, on_video)
        except av.error.FFmpegError as error:
            if not self._stop.is_set():
                raise PullError(_reason(error)) from None
        finally:
            container.close()
            self._end_relay()

    def _open(self) -> Any:
        source: str | IO[bytes] = self.target.url
        fmt: str | None = None
        if self.target.relay:
            source, fmt = self._start_relay(), "mpegts"
        try:
            # PyAV's timeout interrupts a blocked open or read (FFmpeg's interrupt callback)
            return av.open(source, format=fmt, options=self.target.options, timeout=self._timeout)
        except (av.error.HTTPUnauthorizedError, av.error.HTTPForbiddenError) as error:
            raise PullError(_reason(error), permanent=True) from None
        except (av.error.HTTPNotFoundError, av.error.FileNotFoundError) as error:
            raise PullError(_reason(error), permanent=True) from None
        except av.error.ProtocolNotFoundError as error:
            raise PullError(_reason(error), permanent=True) from None
        except (av.error.FFmpegError, OSError) as error:
            raise PullError(_reason(error)) from None

    def _demux(
        self,
        container: Any,
        on_open: Callable[[dict[str, Any]], None],
        on_video: VideoSink,
    ) -> None:
        stream = next((s for s in container.streams if s.type == "video"), None)
        if stream is None:
            raise PullError("the source has no video stream", permanent=True)
        codec = stream.codec_context.name
        if codec != "h264":
            # WebRTC forwarding never transcodes; H.265 has no packetizer in aiortc
            raise PullError(f"video codec {codec} cannot be forwarded (H.264 only)", permanent=True)
        try:
            writer = AnnexBWriter.from_extradata(stream.codec_context.extradata)
        except BitstreamError as error:
            raise PullError(str(error), permanent=True) from None
        on_open({"codec": codec, "width": stream.width, "height": stream.height})
        for packet in container.demux(stream):
            if self._stop.is_set():
                return
            if packet.size == 0:
                continue  # the demuxer's flush packet at the end
            try:
                data, idr = writer.convert(bytes(packet))
            except BitstreamError:
                log.warning("dropping a malformed H.264 packet from %s", self.target.url)
                continue
            on_video(data, _to_90khz(packet.pts, packet.dts, packet.time_base), idr)

    def _start_relay(self) -> IO[bytes]:
        if shutil.which(FFMPEG) is None:
            raise PullError("SRT needs Debian's ffmpeg at /usr/bin/ffmpeg", permanent=True)
        command = [FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin"]
        command += ["-i", self.target.url, "-map", "0", "-c", "copy", "-f", "mpegts", "pipe:1"]
        with self._lock:
            self._relay = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            assert self._relay.stdout is not None
            return self._relay.stdout

    def _end_relay(self) -> None:
        with self._lock:
            relay, self._relay = self._relay, None
        if relay is None:
            return
        if relay.poll() is None:
            relay.kill()
        _, stderr = relay.communicate()
        if stderr and not self._stop.is_set():
            log.info("SRT relay: %s", stderr.decode(errors="replace").strip()[-500:])


def _to_90khz(pts: int | None, dts: int | None, time_base: Fraction | None) -> int | None:
    value = pts if pts is not None else dts
    if value is None or time_base is None:
        return None
    return int(Fraction(value) * time_base * CLOCK_RATE)


def _reason(error: BaseException) -> str:
    if isinstance(error, av.error.FFmpegError):
        return error.strerror or type(error).__name__
    return str(error) or type(error).__name__
