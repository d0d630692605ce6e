"""MANSRTSP (GB/T 28181-2016 annex B): playback control in INFO requests of a playback dialog
(Content-Type Application/MANSRTSP). An RTSP-like request without a URL:

    PLAY RTSP/1.0            resume; with `Range: npt=<s>-` seek to <s> seconds from the
    CSeq: 2                  playback's start; with `Scale: <x>` play at x times the speed
    Range: npt=now-

    PAUSE RTSP/1.0
    CSeq: 1
    PauseTime: now

No I/O here: `encode` writes one, `parse_control` reads one (bounded, for the device side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CONTENT_TYPE = "Application/MANSRTSP"
MIN_SCALE = 0.25
MAX_SCALE = 4.0
MAX_BYTES = 1024
METHODS = ("PLAY", "PAUSE", "TEARDOWN")


class MansrtspError(ValueError):
    """A MANSRTSP body that is malformed, oversized, or says what cannot be done."""


@dataclass(frozen=True, slots=True)
class PlaybackControl:
    """One control: `method` PLAY/PAUSE/TEARDOWN; for PLAY, `position` (seconds from the
    playback's start, None: from where it is) and `scale` (None: unchanged)."""

    method: str
    cseq: int
    position: float | None = None
    scale: float | None = None

    def encode(self) -> bytes:
        """The INFO body. Raises MansrtspError for a method, position or scale out of range."""
        check(self)
        lines = [f"{self.method} RTSP/1.0", f"CSeq: {self.cseq}"]
        if self.method == "PAUSE":
            lines.append("PauseTime: now")
        elif self.method == "PLAY":
            if self.scale is not None:
                lines.append(f"Scale: {self.scale:g}")
            if self.position is not None:
                lines.append(f"Range: npt={self.position:g}-")
            elif self.scale is None:
                lines.append("Range: npt=now-")
        return ("\r\n".join(lines) + "\r\n").encode("ascii")


def check(control: PlaybackControl) -> None:
    """Raises MansrtspError when `control` says what no device can do."""
    if control.method not in METHODS:
        raise MansrtspError(f"method must be one of {', '.join(METHODS)}")
    if not 0 <= control.cseq < 2**31:
        raise MansrtspError("CSeq out of range")
    position, scale = control.position, control.scale
    if position is not None and not (math.isfinite(position) and 0 <= position < 10**7):
        raise MansrtspError("a position is 0 or more seconds from the playback's start")
    if scale is not None and not (math.isfinite(scale) and MIN_SCALE <= scale <= MAX_SCALE):
        raise MansrtspError(f"scale must be {MIN_SCALE:g} to {MAX_SCALE:g}")


def parse_control(data: bytes) -> PlaybackControl:
    """Read an INFO body. Raises MansrtspError for anything but a bounded, well-formed PLAY,
    PAUSE or TEARDOWN."""
    if len(data) > MAX_BYTES:
        raise MansrtspError(f"body is over {MAX_BYTES} bytes")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise MansrtspError("body is not ASCII") from None
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines:
        raise MansrtspError("empty body")
    words = lines[0].split()
    if len(words) != 2 or words[1] != "RTSP/1.0" or words[0].upper() not in METHODS:
        raise MansrtspError(f"bad request line {lines[0][:40]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:20]:
        name, colon, value = line.partition(":")
        if not colon:
            raise MansrtspError(f"bad header {line[:40]!r}")
        headers[name.strip().lower()] = value.strip()
    cseq_text = headers.get("cseq", "")
    if not cseq_text.isdigit() or len(cseq_text) > 10:
        raise MansrtspError("CSeq missing or not a number")
    control = PlaybackControl(
        words[0].upper(),
        int(cseq_text),
        position=_npt(headers.get("range")),
        scale=_number(headers.get("scale"), "Scale"),
    )
    check(control)
    return control


def _npt(value: str | None) -> float | None:
    if value is None:
        return None
    if not value.lower().startswith("npt="):
        raise MansrtspError("Range must be npt=")
    start = value[4:].partition("-")[0].strip()
    return None if start.lower() in ("now", "") else _number(start, "Range")


def _number(value: str | None, what: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise MansrtspError(f"{what} is not a number") from None
    if not math.isfinite(number):
        raise MansrtspError(f"{what} is not a number")
    return number
