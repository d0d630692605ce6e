"""Pulling one field camera: open its URL, demux (never decode) its H.264 or H.265 video, decode
its audio, hand both on.

`SourceReader.run()` blocks a worker thread for one connection: it returns at the end of the
stream and raises `PullError` when the source cannot be opened or breaks. What to do next
(reconnect, back off, give up) is `ingest.source.FieldSource`'s job.

Video leaves as Annex B access units with parameter sets on every keyframe (`ingest.annexb`,
`ingest.annexb_hevc`). The first audio stream, if any (AAC, G.711, Opus, MP3: whatever FFmpeg
decodes), is decoded on the same thread and leaves as mono float32 at the source's own rate; a
packet that does not decode is counted in `audio_errors` and skipped, never ends the connection.

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
import numpy as np

from ingest.annexb import AnnexBWriter, BitstreamError
from ingest.annexb_hevc import HevcAnnexBWriter
from mediacore.codecs.base import Pcm
from mediacore.redact import redact_url, scrub

log = logging.getLogger(__name__)

CLOCK_RATE = 90000
# Open in well under a second: PyAV's default probing waits about 5 s on an RTMP source.
PROBE_OPTIONS = {"analyzeduration": "500000", "probesize": "32768", "fflags": "nobuffer"}
SCHEMES = ("rtsp", "rtsp+tcp", "rtsp+udp", "rtmp", "rtmps", "http", "https", "srt")
FFMPEG = "/usr/bin/ffmpeg"
# FFmpeg's video codec names we forward, and the names the rest of mediacore uses for them.
VIDEO_CODECS = {"h264": "H264", "hevc": "H265"}


# What everyone but admins is told of a connection that failed: the network's own words
# ("Connection refused", "timed out", "404 Not Found") would make sources a port scanner.
OPEN_FAILED = "could not open the source"
READ_FAILED = "the source stopped sending"


class PullError(Exception):
    """A connection failed; `permanent` errors (bad URL, 401/403/404, a codec we cannot
    forward) are not worth retrying. `reason` is the whole story (for admins and the log);
    `public` what anyone may read, `reason` itself unless it quotes the network."""

    def __init__(self, reason: str, *, permanent: bool = False, public: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.public = reason if public is None else public


class StreamFinished(Exception):
    """The stream reached its natural end (a recording played to its last second): the
    source is finished, not reconnected."""


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
            f"unsupported source URL {redact_url(url)!r}: use rtsp://, rtsp+udp://, rtmp://, "
            "http(s)://...m3u8 or srt://",
            permanent=True,
        )
    if scheme in ("http", "https") and not parts.path.lower().endswith(".m3u8"):
        raise PullError(
            f"an HTTP source must be an HLS playlist (.m3u8): {redact_url(url)!r}", permanent=True
        )
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
# on_audio(mono_float32_pcm, sample_rate)
AudioSink = Callable[[Pcm, int], None]


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
        self.audio_frames = 0  # decoded audio frames handed on
        self.audio_errors = 0  # audio packets that did not decode (skipped)

    def abort(self) -> None:
        """Make `run()` return soon (from any thread): at once for the SRT relay, else at the
        next packet or read timeout."""
        self._stop.set()
        with self._lock:
            relay = self._relay
        if relay is not None and relay.poll() is None:
            relay.kill()

    def run(
        self,
        on_open: Callable[[dict[str, Any]], None],
        on_video: VideoSink,
        on_audio: AudioSink | None = None,
    ) -> None:
        """Open, then demux until the stream ends or `abort()`. All three callbacks run on
        this thread. `on_open` gets the video `codec` (FFmpeg's name: "h264", "hevc"), `width`,
        `height`, and `audio_codec`, `audio_rate`, `audio_channels` (None without audio).
        `on_video(annex_b, pts_90khz, keyframe)` gets each access unit; `on_audio(pcm, rate)`
        each decoded audio frame (not called without `on_audio` or without an audio stream).
        Raises PullError: permanent for a source without video or with a video codec other
        than H.264 and H.265."""
        try:
            container = self._open()
        except PullError:
            self._end_relay()
            raise
        try:
            self._demux(container, on_open, on_video, on_audio)
        except av.error.FFmpegError as error:
            if not self._stop.is_set():
                raise PullError(_reason(error), public=READ_FAILED) from None
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
            raise PullError(_reason(error), permanent=True, public=OPEN_FAILED) from None
        except (av.error.HTTPNotFoundError, av.error.FileNotFoundError) as error:
            raise PullError(_reason(error), permanent=True, public=OPEN_FAILED) from None
        except av.error.ProtocolNotFoundError as error:
            raise PullError(_reason(error), permanent=True, public=OPEN_FAILED) from None
        except (av.error.FFmpegError, OSError) as error:
            raise PullError(_reason(error), public=OPEN_FAILED) from None

    def _demux(
        self,
        container: Any,
        on_open: Callable[[dict[str, Any]], None],
        on_video: VideoSink,
        on_audio: AudioSink | None,
    ) -> None:
        stream = next((s for s in container.streams if s.type == "video"), None)
        if stream is None:
            raise PullError("the source has no video stream", permanent=True)
        codec = stream.codec_context.name
        if codec not in VIDEO_CODECS:
            # video is never transcoded: walls and recorders take H.264 and H.265 as they come
            raise PullError(
                f"video codec {codec} cannot be forwarded (H.264 or H.265 only)", permanent=True
            )
        writer: AnnexBWriter | HevcAnnexBWriter
        try:
            if codec == "hevc":
                writer = HevcAnnexBWriter.from_extradata(stream.codec_context.extradata)
            else:
                writer = AnnexBWriter.from_extradata(stream.codec_context.extradata)
        except BitstreamError as error:
            raise PullError(str(error), permanent=True) from None
        audio = _audio_stream(container) if on_audio is not None else None
        on_open(
            {
                "codec": codec,
                "width": stream.width,
                "height": stream.height,
                "audio_codec": audio.codec_context.name if audio is not None else None,
                "audio_rate": (audio.codec_context.sample_rate or None) if audio else None,
                "audio_channels": (audio.codec_context.channels or None) if audio else None,
            }
        )
        streams = [stream] if audio is None else [stream, audio]
        for packet in container.demux(streams):
            if self._stop.is_set():
                return
            if packet.size == 0:
                continue  # the demuxer's flush packet at the end
            if audio is not None and packet.stream_index == audio.index:
                assert on_audio is not None
                self._decode_audio(audio, packet, on_audio)
                continue
            try:
                data, keyframe = writer.convert(bytes(packet))
            except BitstreamError:
                log.warning(
                    "dropping a malformed %s packet from %s", codec, redact_url(self.target.url)
                )
                continue
            on_video(data, _to_90khz(packet.pts, packet.dts, packet.time_base), keyframe)

    def _decode_audio(self, stream: Any, packet: Any, on_audio: AudioSink) -> None:
        try:
            frames = stream.codec_context.decode(packet)
        except (av.error.FFmpegError, ValueError):
            # corrupt or truncated audio costs that packet only, never the video
            self.audio_errors += 1
            if self.audio_errors in (1, 10, 100) or self.audio_errors % 1000 == 0:
                log.warning(
                    "skipped %d undecodable audio packets from %s",
                    self.audio_errors,
                    redact_url(self.target.url),
                )
            return
        for frame in frames:
            pcm = mono_float32(frame)
            if len(pcm) and frame.sample_rate:
                self.audio_frames += 1
                on_audio(pcm, int(frame.sample_rate))

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
            log.info("SRT relay: %s", scrub(stderr.decode(errors="replace").strip()[-500:]))


def _audio_stream(container: Any) -> Any | None:
    """The first audio stream FFmpeg can decode, or None."""
    for stream in container.streams:
        if stream.type != "audio":
            continue
        try:
            if stream.codec_context is not None and stream.codec_context.name:
                return stream
        except (av.error.FFmpegError, ValueError):
            pass
        log.info("audio stream %d has no decoder; the source stays silent", stream.index)
        return None
    return None


_INTEGER_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}


def mono_float32(frame: Any) -> Pcm:
    """A decoded audio frame as mono float32 in [-1, 1): channels averaged, any sample format."""
    data = frame.to_ndarray()
    channels = max(1, frame.layout.nb_channels)
    if not frame.format.is_planar and channels > 1:
        data = data.reshape(-1, channels).T  # packed: (1, samples x channels) interleaved
    if data.dtype == np.uint8:
        data = (data.astype(np.float32) - 128.0) / 128.0
    elif data.dtype in _INTEGER_SCALE:
        data = data.astype(np.float32) / np.float32(_INTEGER_SCALE[data.dtype])
    mono = data.mean(axis=0, dtype=np.float32) if data.shape[0] > 1 else data[0]
    result: Pcm = np.ascontiguousarray(mono, dtype=np.float32)
    return result


def _to_90khz(pts: int | None, dts: int | None, time_base: Fraction | None) -> int | None:
    value = pts if pts is not None else dts
    if value is None or time_base is None:
        return None
    return int(Fraction(value) * time_base * CLOCK_RATE)


def _reason(error: BaseException) -> str:
    if isinstance(error, av.error.FFmpegError):
        return error.strerror or type(error).__name__
    return str(error) or type(error).__name__
