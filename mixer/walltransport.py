"""Where a wall output's pictures go, each transport owning the one H.264 encoder of its output.

- `rtp://host:port`: H.264 over RTP (RFC 6184, payload type 96) by FFmpeg's RTP muxer, sent
  by `mixer.rtpout` so the stream goes on across a restart; the receiver opens the SDP from
  `sdp()` (`ffplay -protocol_whitelist file,udp,rtp wall.sdp`).
- `rtmp://…`: FLV pushed to an RTMP server (a media server, a streaming platform).
- `srt://…`: MPEG-TS into a Debian `ffmpeg` child that pushes it over SRT (the FFmpeg in the
  PyAV wheel has no SRT), `-c copy`: the child never re-encodes.
- WHEP: encoded frames handed to a callback (the server forwards them to browsers through the
  video hub, as it forwards a camera).

Encoding is x264 ultrafast/zerolatency (no B-frames, no lookahead: a frame leaves as soon as it
is painted) with a keyframe every two seconds and SPS/PPS before each, so a receiver joining
late starts within two seconds. `force_keyframe()` makes the next picture a keyframe (a WHEP
player joined). Everything here runs on the output's thread; `open()` and `send()` may block on
the network and raise on failure (the output then reconnects with back-off)."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

import av

from mediacore.qualitytiers import encode_cap
from mixer.rtpout import PACKET_SIZE, RtpSocketWriter

CLOCK_RATE = 90000
TIME_BASE = Fraction(1, CLOCK_RATE)
KEYFRAME_SECONDS = 2
FFMPEG = "/usr/bin/ffmpeg"
OPEN_TIMEOUT_S = 5.0
CRF = 23
# What each output kind sends to; checked when a wall is defined.
URL_SCHEMES = {"rtp": ("rtp",), "rtmp": ("rtmp", "rtmps"), "srt": ("srt",)}


class WallTransport(Protocol):
    def open(self) -> None:
        """Connect; raises on failure."""
        ...

    def send(self, frame: av.VideoFrame) -> None:
        """Encode and send one picture (its pts in 1/90000 s); raises when the link broke."""
        ...

    def force_keyframe(self) -> None: ...

    def close(self) -> None: ...


def bitrate(width: int, height: int, fps: float) -> int:
    return encode_cap(width, height, fps)


def x264_options(width: int, height: int, fps: float, share: float = 1.0) -> dict[str, str]:
    """Constant quality (CRF) capped at `bitrate()`: a calm picture (slates, parked cameras)
    costs few bits and less CPU than a fixed bit rate would spend on it; the cap and a VBV of
    two frames keep a busy one within the link and without a burst of delay. `share` scales
    the cap (a lower quality tier, mediacore.qualitytiers)."""
    gop = max(1, round(fps * KEYFRAME_SECONDS))
    cap_kbps = max(1, int(bitrate(width, height, fps) * share) // 1000)
    return {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "crf": str(CRF),
        "maxrate": f"{cap_kbps}k",
        "bufsize": f"{max(1, round(cap_kbps * 2 / fps))}k",
        "x264-params": f"repeat-headers=1:keyint={gop}:min-keyint={gop}:scenecut=0",
    }


def _configure(context: Any, width: int, height: int, fps: float, share: float = 1.0) -> None:
    context.width, context.height, context.pix_fmt = width, height, "yuv420p"
    context.time_base = TIME_BASE
    context.framerate = Fraction(fps).limit_denominator(1001)
    context.options = x264_options(width, height, fps, share)
    # x264's own slice threads: a 4K output needs both cores, and slices add no delay.
    context.thread_count = 2
    context.thread_type = "SLICE"


def h264_encoder(width: int, height: int, fps: float, share: float = 1.0) -> Any:
    """A bare x264 encoder configured as every wall output's is (`share`: of its bit rate)."""
    context = av.CodecContext.create("libx264", "w")
    _configure(context, width, height, fps, share)
    return context


def _keyframe_if(frame: av.VideoFrame, forced: bool) -> av.VideoFrame:
    if forced:
        frame.pict_type = av.video.frame.PictureType.I
    return frame


def check_url(kind: str, url: str) -> str | None:
    """Why `url` cannot carry a `kind` output, or None when it can."""
    schemes = URL_SCHEMES.get(kind)
    if schemes is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        return f"a {kind} output needs a {' or '.join(s + '://' for s in schemes)} url"
    if not parts.hostname:
        return f"the {kind} url names no host"
    if kind == "rtp" and not parts.port:
        return "an rtp url needs a port: rtp://host:port"
    return None


def rtp_sdp(url: str, width: int, height: int, fps: float) -> str:
    """The SDP a receiver opens to play an `rtp://host:port` output."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5004
    family = "IP6" if ":" in host else "IP4"
    return (
        "v=0\r\n"
        f"o=- 0 0 IN {family} {host}\r\n"
        "s=mediacore wall\r\n"
        f"c=IN {family} {host}\r\n"
        "t=0 0\r\n"
        f"m=video {port} RTP/AVP 96\r\n"
        "a=rtpmap:96 H264/90000\r\n"
        "a=fmtp:96 packetization-mode=1\r\n"
        f"a=framesize:96 {width}-{height}\r\n"
        f"a=framerate:{fps:g}\r\n"
        "a=recvonly\r\n"
    )


@dataclass(frozen=True, slots=True)
class RtpStart:
    """Where an rtp output's packets start: its SSRC and the sequence number of its first
    packet (a restarted output goes on ahead of the last it sent)."""

    ssrc: int
    seq: int


def new_rtp_start() -> RtpStart:
    """A new stream: a random SSRC (never 0, which FFmpeg would replace) and first number."""
    return RtpStart(random.randrange(1, 2**32), random.getrandbits(16))


class ContainerTransport:
    """RTP, RTMP or SRT: an FFmpeg muxer whose stream encodes the pictures. An rtp output
    sends through `mixer.rtpout.RtpSocketWriter`, from `rtp_start` when given."""

    def __init__(
        self,
        kind: str,
        url: str,
        width: int,
        height: int,
        fps: float,
        *,
        rtp_start: RtpStart | None = None,
    ) -> None:
        self.kind, self.url = kind, url
        self.width, self.height, self.fps = width, height, fps
        self.rtp_start = rtp_start or (new_rtp_start() if kind == "rtp" else None)
        self._container: Any = None
        self._stream: Any = None
        self._relay: subprocess.Popen[bytes] | None = None
        self._rtp: RtpSocketWriter | None = None
        self._force = False

    @property
    def last_seq(self) -> int | None:
        """The sequence number of the last RTP packet sent (rtp outputs), None before one."""
        return self._rtp.last_seq if self._rtp is not None else None

    def open(self) -> None:
        target: str | IO[bytes] | RtpSocketWriter
        options: dict[str, str] = {}
        if self.kind == "srt":
            target, fmt = self._start_relay(), "mpegts"
        elif self.kind == "rtp":
            target, fmt, options = self._open_rtp(), "rtp", self._rtp_options()
        else:
            target, fmt = self.url, "flv"
        self._container = av.open(target, "w", format=fmt, options=options, timeout=OPEN_TIMEOUT_S)
        rate = Fraction(self.fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        _configure(self._stream.codec_context, self.width, self.height, self.fps)
        self._force = True

    def send(self, frame: av.VideoFrame) -> None:
        forced, self._force = self._force, False
        for packet in self._stream.encode(_keyframe_if(frame, forced)):
            self._container.mux(packet)

    def force_keyframe(self) -> None:
        self._force = True

    def close(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception:
                pass  # the link is already gone; nothing to flush to
        relay, self._relay = self._relay, None
        if relay is not None:
            relay.kill()
            relay.wait()
        rtp, self._rtp = self._rtp, None
        if rtp is not None:
            if rtp.last_seq is not None and self.rtp_start is not None:
                # a reopened output goes on after what it sent, as the same stream
                self.rtp_start = RtpStart(self.rtp_start.ssrc, (rtp.last_seq + 1) & 0xFFFF)
            rtp.close()

    def _open_rtp(self) -> RtpSocketWriter:
        parts = urlsplit(self.url)
        self._rtp = RtpSocketWriter(parts.hostname or "127.0.0.1", parts.port or 5004)
        return self._rtp

    def _rtp_options(self) -> dict[str, str]:
        options = {"packetsize": str(PACKET_SIZE)}
        if self.rtp_start is not None:
            options["ssrc"] = str(self.rtp_start.ssrc)
            options["seq"] = str(self.rtp_start.seq)
        return options

    def _start_relay(self) -> IO[bytes]:
        if shutil.which(FFMPEG) is None:
            raise RuntimeError("an SRT output needs Debian's ffmpeg at /usr/bin/ffmpeg")
        command = [FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "mpegts"]
        command += ["-i", "pipe:0", "-c", "copy", "-f", "mpegts", self.url]
        self._relay = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        assert self._relay.stdin is not None
        return self._relay.stdin


PacketSink = Callable[[bytes, int, bool], None]


class PacketTransport:
    """Encoded H.264 access units (Annex-B, 90 kHz pts, keyframe flag) to `sink`."""

    def __init__(
        self, sink: PacketSink, width: int, height: int, fps: float, share: float = 1.0
    ) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.share = share  # of the full bit rate: a quality tier
        self._sink = sink
        self._context: Any = None
        self._force = False

    def open(self) -> None:
        self._context = h264_encoder(self.width, self.height, self.fps, self.share)
        self._force = True

    def send(self, frame: av.VideoFrame) -> None:
        forced, self._force = self._force, False
        for packet in self._context.encode(_keyframe_if(frame, forced)):
            self._sink(bytes(packet), int(packet.pts or 0), bool(packet.is_keyframe))

    def force_keyframe(self) -> None:
        self._force = True

    def close(self) -> None:
        self._context = None
