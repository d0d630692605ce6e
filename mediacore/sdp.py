"""RFC 8866 (formerly RFC 4566) Session Description Protocol: a bounded parser and a serializer.

No I/O here: text in, dataclasses out, and back. `SessionDescription.parse(text).serialize()`
normalises whitespace inside structured lines, and `parse(serialize(x)) == x` holds for every
description `parse` produces.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_SDP_BYTES = 64 * 1024
MAX_LINES = 1000
MAX_MEDIA = 32
MAX_LINE_LENGTH = 4096

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

# ASCII-only patterns: int() alone would accept "+5", " 5", "1_0" and non-ASCII digits like "٣".
_NUMBER = re.compile(r"[0-9]{1,10}")
_BIG_NUMBER = re.compile(r"[0-9]{1,40}")  # o= ids and t= times: Chrome's ids have 19 digits
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")  # RFC 8866 section 9 `token`
_PROTO = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+(?:/[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+)*")
_PACKET_TIME = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?")  # RFC 8866 non-zero-int-or-real

# Where lines we keep but do not model go when serializing, so the output keeps RFC order.
_SESSION_EXTRA_SLOTS = {"i": 0, "u": 0, "e": 0, "p": 0, "t": 1, "r": 1, "z": 2, "k": 2}
_SESSION_EXTRA_UNKNOWN = 3  # unknown line types: after the session attributes
_MEDIA_EXTRA_SLOTS = {"i": 0, "k": 1}
_MEDIA_EXTRA_UNKNOWN = 2
_SESSION_ONLY_TYPES = frozenset("vosueptrz")  # RFC 8866 section 5: never inside a media section

Attribute = tuple[str, str | None]


class SdpError(ValueError):
    """Malformed or oversized SDP, or a description that cannot be written as SDP."""


def _number(text: str, what: str, maximum: int, minimum: int = 0) -> int:
    if not _NUMBER.fullmatch(text):
        raise SdpError(f"{what} {text!r} is not a decimal number")
    value = int(text)
    if not minimum <= value <= maximum:
        raise SdpError(f"{what} {value} is outside {minimum}-{maximum}")
    return value


def _big_number(text: str, what: str) -> int:
    if not _BIG_NUMBER.fullmatch(text):
        raise SdpError(f"{what} {text!r} is not a decimal number of at most 40 digits")
    return int(text)


def _token(text: str, what: str) -> str:
    if not _TOKEN.fullmatch(text):
        raise SdpError(f"{what} {text!r} is not a token")
    return text


def _packet_time(text: str, what: str) -> float:
    if not _PACKET_TIME.fullmatch(text) or float(text) == 0:
        raise SdpError(f"{what} {text!r} is not a positive number of milliseconds")
    return float(text)


@dataclass(frozen=True, slots=True)
class Origin:
    """The o= line: who made the description and which version of it this is."""

    username: str
    session_id: int
    session_version: int
    nettype: str
    addrtype: str
    address: str

    @classmethod
    def parse(cls, value: str) -> Origin:
        """Parse the value of an o= line; raises SdpError unless it has the six fields."""
        fields = value.split()
        if len(fields) != 6:
            raise SdpError(f"o= needs 6 fields, got {len(fields)}")
        username, session_id, version, nettype, addrtype, address = fields
        return cls(
            username,
            _big_number(session_id, "session id"),
            _big_number(version, "session version"),
            _token(nettype, "network type"),
            _token(addrtype, "address type"),
            address,
        )

    def to_value(self) -> str:
        """The o= line's value."""
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """A c= line. `suffix` keeps a multicast "/ttl[/count]" tail (without its first slash)."""

    nettype: str
    addrtype: str
    address: str
    suffix: str | None = None

    @classmethod
    def parse(cls, value: str) -> Connection:
        """Parse the value of a c= line; raises SdpError unless it has the three fields."""
        fields = value.split()
        if len(fields) != 3:
            raise SdpError(f"c= needs 3 fields, got {len(fields)}")
        nettype, addrtype, full_address = fields
        address, slash, suffix = full_address.partition("/")
        if not address:
            raise SdpError("c= has an empty address")
        return cls(
            _token(nettype, "network type"),
            _token(addrtype, "address type"),
            address,
            suffix if slash else None,
        )

    def to_value(self) -> str:
        """The c= line's value."""
        tail = "" if self.suffix is None else f"/{self.suffix}"
        return f"{self.nettype} {self.addrtype} {self.address}{tail}"


@dataclass(frozen=True, slots=True)
class RtpMap:
    """An a=rtpmap value; `channels` is None when the line does not state it (meaning 1)."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    @classmethod
    def parse(cls, value: str) -> RtpMap:
        """Parse "<pt> <encoding>/<clock rate>[/<channels>]"; raises SdpError if malformed."""
        fields = value.split()
        if len(fields) != 2:
            raise SdpError("rtpmap needs '<payload type> <encoding>/<clock rate>'")
        payload_type = _number(fields[0], "payload type", 127)
        parts = fields[1].split("/")
        if len(parts) not in (2, 3):
            raise SdpError(f"rtpmap encoding {fields[1]!r} is not <name>/<rate>[/<channels>]")
        encoding = _token(parts[0], "encoding name")
        clock_rate = _number(parts[1], "clock rate", 10_000_000, minimum=1)
        channels = _number(parts[2], "channel count", 255, minimum=1) if len(parts) == 3 else None
        return cls(payload_type, encoding, clock_rate, channels)

    def to_value(self) -> str:
        """The a=rtpmap attribute value."""
        tail = "" if self.channels is None else f"/{self.channels}"
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{tail}"


@dataclass(frozen=True, slots=True)
class Extmap:
    """An RFC 8285 a=extmap value: a header extension `uri` carried under local `id`."""

    id: int
    uri: str
    direction: str | None = None
    attributes: str | None = None

    @classmethod
    def parse(cls, value: str) -> Extmap:
        """Parse "<id>[/<direction>] <uri> [<attributes>]"; raises SdpError if malformed."""
        fields = value.split(None, 2)
        if len(fields) < 2:
            raise SdpError("extmap needs '<id>[/<direction>] <uri>'")
        id_text, slash, direction = fields[0].partition("/")
        ext_id = _number(id_text, "extmap id", 4351, minimum=1)
        if 255 < ext_id < 4096:  # RFC 8285 ids are 1-255; 4096-4351 is RFC 5285's offer range
            raise SdpError(f"extmap id {ext_id} is outside 1-255 and 4096-4351")
        if slash and direction not in DIRECTIONS:
            raise SdpError(f"extmap direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
        attributes = fields[2] if len(fields) == 3 else None
        return cls(ext_id, fields[1], direction if slash else None, attributes)

    def to_value(self) -> str:
        """The a=extmap attribute value."""
        text = str(self.id) if self.direction is None else f"{self.id}/{self.direction}"
        text += f" {self.uri}"
        return text if self.attributes is None else f"{text} {self.attributes}"


def _parse_fmtp(value: str) -> tuple[str, str]:
    fields = value.split(None, 1)
    if not fields:
        raise SdpError("fmtp needs '<format> <parameters>'")
    return fields[0], fields[1] if len(fields) == 2 else ""


def _parse_rtcp(value: str) -> tuple[int, str | None]:
    fields = value.split()
    if len(fields) == 1:
        return _number(fields[0], "rtcp port", 65535), None
    if len(fields) == 4:
        _token(fields[1], "network type")
        _token(fields[2], "address type")
        return _number(fields[0], "rtcp port", 65535), fields[3]
    raise SdpError("rtcp needs '<port> [<nettype> <addrtype> <address>]' (RFC 3605)")


def _parse_bandwidth(value: str) -> tuple[str, int]:
    bwtype, colon, amount = value.partition(":")
    if not colon:
        raise SdpError("b= needs '<type>:<bandwidth>'")
    return _token(bwtype, "bandwidth type"), _number(amount, "bandwidth", 10**10 - 1)


def _parse_attribute(value: str) -> Attribute:
    name, colon, rest = value.partition(":")
    return _token(name, "attribute name"), rest if colon else None


def _check_timing(value: str) -> None:
    fields = value.split()
    if len(fields) != 2:
        raise SdpError("t= needs '<start time> <stop time>'")
    for text in fields:
        _big_number(text, "time")


class _Attributes:
    """Attribute look-ups shared by the session and each media section."""

    attributes: list[Attribute]

    def attribute(self, name: str) -> str | None:
        """Value of the first a=`name` line; None if absent or if it has no value."""
        for attr_name, value in self.attributes:
            if attr_name == name:
                return value
        return None

    def has_attribute(self, name: str) -> bool:
        """Whether any a=`name` line (with or without a value) is present."""
        return any(attr_name == name for attr_name, _ in self.attributes)

    def attribute_values(self, name: str) -> list[str]:
        """Values of every a=`name` line in order; a line without a value counts as ""."""
        return [value or "" for attr_name, value in self.attributes if attr_name == name]

    @property
    def direction(self) -> str | None:
        """sendrecv/sendonly/recvonly/inactive as stated here, or None if not stated."""
        for name, _ in self.attributes:
            if name in DIRECTIONS:
                return name
        return None

    @property
    def extmaps(self) -> list[Extmap]:
        """The a=extmap lines at this level; raises SdpError if one is malformed."""
        return [Extmap.parse(value) for value in self.attribute_values("extmap")]


@dataclass
class MediaDescription(_Attributes):
    """One m= section. `extra_lines` keeps i=, k= and unknown lines as (type, value)."""

    kind: str
    port: int
    proto: str
    formats: list[str]
    connection: Connection | None = None
    bandwidths: list[tuple[str, int]] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)
    port_count: int | None = None
    extra_lines: list[tuple[str, str]] = field(default_factory=list)

    @property
    def payload_types(self) -> list[int]:
        """The formats that are RTP payload type numbers (0-127), in offered order."""
        return [int(f) for f in self.formats if _NUMBER.fullmatch(f) and int(f) <= 127]

    @property
    def rtpmaps(self) -> dict[int, RtpMap]:
        """a=rtpmap lines by payload type; raises SdpError if one is malformed."""
        return {m.payload_type: m for m in map(RtpMap.parse, self.attribute_values("rtpmap"))}

    @property
    def fmtp(self) -> dict[int, str]:
        """a=fmtp parameters by payload type (formats that are not numbers are left out)."""
        result: dict[int, str] = {}
        for value in self.attribute_values("fmtp"):
            fmt, params = _parse_fmtp(value)
            if _NUMBER.fullmatch(fmt) and int(fmt) <= 127:
                result[int(fmt)] = params
        return result

    @property
    def ptime(self) -> int | None:
        """a=ptime in whole milliseconds, rounded up; None if absent."""
        return self._packet_time("ptime")

    @property
    def maxptime(self) -> int | None:
        """a=maxptime in whole milliseconds, rounded up; None if absent."""
        return self._packet_time("maxptime")

    def _packet_time(self, name: str) -> int | None:
        value = self.attribute(name)
        return None if value is None else math.ceil(_packet_time(value, name))

    @property
    def rtcp(self) -> tuple[int, str | None] | None:
        """RFC 3605 a=rtcp as (port, address or None); None if absent."""
        value = self.attribute("rtcp")
        return None if value is None else _parse_rtcp(value)

    @property
    def rtcp_mux(self) -> bool:
        """Whether a=rtcp-mux (RFC 5761) is present."""
        return self.has_attribute("rtcp-mux")

    def to_lines(self) -> list[str]:
        """The section as SDP lines without line endings, m= first."""
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        lines = [" ".join([f"m={self.kind}", port, self.proto, *self.formats])]
        lines += _extra(self.extra_lines, _MEDIA_EXTRA_SLOTS, _MEDIA_EXTRA_UNKNOWN, 0)
        if self.connection is not None:
            lines.append(f"c={self.connection.to_value()}")
        lines += [f"b={bwtype}:{amount}" for bwtype, amount in self.bandwidths]
        lines += _extra(self.extra_lines, _MEDIA_EXTRA_SLOTS, _MEDIA_EXTRA_UNKNOWN, 1)
        lines += [_attribute_line(name, value) for name, value in self.attributes]
        lines += _extra(self.extra_lines, _MEDIA_EXTRA_SLOTS, _MEDIA_EXTRA_UNKNOWN, 2)
        return lines


@dataclass
class SessionDescription(_Attributes):
    """A whole SDP body. `extra_lines` keeps i/u/e/p/r/z/k, further t= and unknown lines."""

    version: int
    origin: Origin
    session_name: str
    connection: Connection | None = None
    timing: str = "0 0"
    bandwidths: list[tuple[str, int]] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    extra_lines: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | bytes) -> SessionDescription:
        """Parse an SDP body (CRLF or LF line endings).

        Raises SdpError for text over 64 KiB, 1000 lines, 4096 characters a line or 32 media
        sections, for non-UTF-8 bytes, and for malformed lines (the message names the line)."""
        return _Parser(_split_lines(text)).parse()

    def effective_direction(self, media: MediaDescription) -> str:
        """The media's own direction, else the session-level one, else "sendrecv"."""
        return media.direction or self.direction or "sendrecv"

    def serialize(self) -> str:
        """The description as SDP text with CRLF line endings.

        Raises SdpError if a field holds CR, LF or NUL, which would change the line structure."""
        slots, unknown = _SESSION_EXTRA_SLOTS, _SESSION_EXTRA_UNKNOWN
        lines = [f"v={self.version}", f"o={self.origin.to_value()}", f"s={self.session_name}"]
        lines += _extra(self.extra_lines, slots, unknown, 0)
        if self.connection is not None:
            lines.append(f"c={self.connection.to_value()}")
        lines += [f"b={bwtype}:{amount}" for bwtype, amount in self.bandwidths]
        lines.append(f"t={self.timing}")
        lines += _extra(self.extra_lines, slots, unknown, 1)
        lines += _extra(self.extra_lines, slots, unknown, 2)
        lines += [_attribute_line(name, value) for name, value in self.attributes]
        lines += _extra(self.extra_lines, slots, unknown, 3)
        for media in self.media:
            lines += media.to_lines()
        for line in lines:
            if "\r" in line or "\n" in line or "\0" in line:
                raise SdpError(f"cannot serialize {_show(line)}: it holds CR, LF or NUL")
        return "\r\n".join(lines) + "\r\n"

    def __str__(self) -> str:
        return self.serialize()


def _attribute_line(name: str, value: str | None) -> str:
    return f"a={name}" if value is None else f"a={name}:{value}"


def _extra(
    extra_lines: list[tuple[str, str]], slots: dict[str, int], unknown: int, slot: int
) -> list[str]:
    return [f"{kind}={value}" for kind, value in extra_lines if slots.get(kind, unknown) == slot]


def _show(line: str) -> str:
    """The line as an error message quotes it: repr, cut short."""
    return repr(line if len(line) <= 80 else line[:77] + "...")


def _split_lines(data: str | bytes) -> list[tuple[int, str]]:
    """Bounded split into (line number, line) pairs, blank lines dropped."""
    if isinstance(data, bytes):
        if len(data) > MAX_SDP_BYTES:
            raise SdpError(f"SDP is {len(data)} bytes, more than {MAX_SDP_BYTES} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad_line = data.count(b"\n", 0, exc.start) + 1
            raise SdpError(f"line {bad_line}: SDP is not UTF-8 (byte {exc.start})") from None
    else:
        text = data
        if len(text) > MAX_SDP_BYTES:
            raise SdpError(f"SDP is {len(text)} characters, more than {MAX_SDP_BYTES} bytes")
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            bad_line = text.count("\n", 0, exc.start) + 1
            raise SdpError(f"line {bad_line}: SDP holds a lone surrogate, not UTF-8") from None
        if size > MAX_SDP_BYTES:
            raise SdpError(f"SDP is {size} bytes, more than {MAX_SDP_BYTES} bytes")
    raw_lines = text.split("\n")  # not splitlines(): that also splits on \x85, \u2028 and more
    if raw_lines[-1] == "":
        raw_lines.pop()
    if len(raw_lines) > MAX_LINES:
        raise SdpError(f"SDP has {len(raw_lines)} lines, more than {MAX_LINES}")
    lines: list[tuple[int, str]] = []
    for number, line in enumerate(raw_lines, 1):
        if line.endswith("\r"):
            line = line[:-1]
        if len(line) > MAX_LINE_LENGTH:
            raise SdpError(f"line {number}: longer than {MAX_LINE_LENGTH} characters")
        if "\r" in line or "\0" in line:
            raise SdpError(f"line {number}: {_show(line)} holds a stray CR or a NUL")
        line = line.rstrip(" \t")  # trailing blanks are a common encoder slip, never meaningful
        if line:
            lines.append((number, line))
    return lines


class _SectionChecks:
    """Attribute rules within one section: one rtpmap/fmtp per format, unique extmap ids,
    and no contradicting direction attributes."""

    def __init__(self) -> None:
        self.rtpmap_pts: set[int] = set()
        self.fmtp_formats: set[str] = set()
        self.extmap_ids: set[int] = set()
        self.direction: str | None = None
        self.validators: dict[str, Callable[[str], object]] = {
            "rtpmap": self._rtpmap,
            "fmtp": self._fmtp,
            "extmap": self._extmap,
            "ptime": lambda value: _packet_time(value, "ptime"),
            "maxptime": lambda value: _packet_time(value, "maxptime"),
            "rtcp": _parse_rtcp,
        }

    def check(self, name: str, value: str | None) -> None:
        if name in DIRECTIONS:
            if value is not None:
                raise SdpError(f"a={name} takes no value")
            if self.direction not in (None, name):
                raise SdpError(f"a={name} contradicts the earlier a={self.direction}")
            self.direction = name
            return
        validator = self.validators.get(name)
        if validator is None:
            return
        if value is None:
            raise SdpError(f"a={name} needs a value")
        validator(value)

    def _rtpmap(self, value: str) -> None:
        pt = RtpMap.parse(value).payload_type
        if pt in self.rtpmap_pts:
            raise SdpError(f"second a=rtpmap for payload type {pt}")
        self.rtpmap_pts.add(pt)

    def _fmtp(self, value: str) -> None:
        fmt, _ = _parse_fmtp(value)
        if fmt in self.fmtp_formats:
            raise SdpError(f"second a=fmtp for format {fmt}")
        self.fmtp_formats.add(fmt)

    def _extmap(self, value: str) -> None:
        ext_id = Extmap.parse(value).id
        if ext_id in self.extmap_ids:
            raise SdpError(f"second a=extmap with id {ext_id}")
        self.extmap_ids.add(ext_id)


class _Parser:
    """One pass over the lines; session fields first, then one MediaDescription per m=."""

    def __init__(self, lines: list[tuple[int, str]]) -> None:
        self.lines = lines
        self.origin: Origin | None = None
        self.session_name: str | None = None
        self.connection: Connection | None = None
        self.timing: str | None = None
        self.bandwidths: list[tuple[str, int]] = []
        self.attributes: list[Attribute] = []
        self.extra_lines: list[tuple[str, str]] = []
        self.media: list[MediaDescription] = []
        self.checks = _SectionChecks()

    def parse(self) -> SessionDescription:
        if not self.lines:
            raise SdpError("SDP is empty")
        first_number, first_line = self.lines[0]
        if first_line != "v=0":
            raise SdpError(f"line {first_number}: {_show(first_line)}: SDP must start with v=0")
        for number, line in self.lines[1:]:
            if len(line) < 2 or line[1] != "=" or not (line[0].isascii() and line[0].isalpha()):
                raise SdpError(f"line {number}: {_show(line)} is not <type>=<value>")
            try:
                if self.media:
                    self._media_line(line[0], line[2:])
                else:
                    self._session_line(line[0], line[2:])
            except SdpError as exc:
                raise SdpError(f"line {number}: {_show(line)}: {exc}") from None
        if self.origin is None:
            raise SdpError("SDP has no o= line")
        if self.session_name is None:
            raise SdpError("SDP has no s= line")
        self.extra_lines.sort(key=lambda e: _SESSION_EXTRA_SLOTS.get(e[0], _SESSION_EXTRA_UNKNOWN))
        for media in self.media:
            media.extra_lines.sort(key=lambda e: _MEDIA_EXTRA_SLOTS.get(e[0], _MEDIA_EXTRA_UNKNOWN))
        return SessionDescription(
            version=0,
            origin=self.origin,
            session_name=self.session_name,
            connection=self.connection,
            timing="0 0" if self.timing is None else self.timing,
            bandwidths=self.bandwidths,
            attributes=self.attributes,
            media=self.media,
            extra_lines=self.extra_lines,
        )

    def _session_line(self, kind: str, value: str) -> None:
        if kind == "v":
            raise SdpError("second v= line")
        elif kind == "o":
            if self.origin is not None:
                raise SdpError("second o= line")
            self.origin = Origin.parse(value)
        elif kind == "s":
            if self.session_name is not None:
                raise SdpError("second s= line")
            self.session_name = value
        elif kind == "c":
            if self.connection is not None:
                raise SdpError("second session-level c= line")
            self.connection = Connection.parse(value)
        elif kind == "b":
            self.bandwidths.append(_parse_bandwidth(value))
        elif kind == "t" and self.timing is None:
            _check_timing(value)
            self.timing = value
        elif kind == "a":
            attribute = _parse_attribute(value)
            self.checks.check(*attribute)
            self.attributes.append(attribute)
        elif kind == "m":
            self._start_media(value)
        else:  # further t=, and i u e p r z k or types this parser does not know
            if kind == "t":
                _check_timing(value)
            self.extra_lines.append((kind, value))

    def _media_line(self, kind: str, value: str) -> None:
        media = self.media[-1]
        if kind == "m":
            self._start_media(value)
        elif kind == "c":
            if media.connection is not None:
                raise SdpError("second c= line in one media section")
            media.connection = Connection.parse(value)
        elif kind == "b":
            media.bandwidths.append(_parse_bandwidth(value))
        elif kind == "a":
            attribute = _parse_attribute(value)
            self.checks.check(*attribute)
            media.attributes.append(attribute)
        elif kind in _SESSION_ONLY_TYPES:
            raise SdpError(f"{kind}= is not allowed inside a media section")
        else:  # i= k= and unknown types
            media.extra_lines.append((kind, value))

    def _start_media(self, value: str) -> None:
        if len(self.media) >= MAX_MEDIA:
            raise SdpError(f"more than {MAX_MEDIA} media sections")
        fields = value.split()
        if len(fields) < 3:
            raise SdpError("m= needs '<media> <port> <proto> <fmt> ...'")
        kind, port_text, proto, *formats = fields
        port, slash, count = port_text.partition("/")
        self.media.append(
            MediaDescription(
                kind=_token(kind, "media type"),
                port=_number(port, "port", 65535),
                proto=_check_proto(proto),
                formats=formats,
                port_count=_number(count, "port count", 65535, minimum=1) if slash else None,
            )
        )
        self.checks = _SectionChecks()


def _check_proto(proto: str) -> str:
    if not _PROTO.fullmatch(proto):
        raise SdpError(f"transport protocol {proto!r} is not token[/token...]")
    return proto
