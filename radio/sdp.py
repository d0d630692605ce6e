"""ED-137B radio signalling: the SIP headers that mark a radio session and its SDP attributes.

An ED-137B session between a VCS (here: the server) and a radio (a ground radio station, or a
radio-over-IP gateway in front of one) is a SIP call with `Subject: radio` and
`WG67-Version: radio.01`, whose audio m= line carries these attributes (ED-137B Volume 1, as
ED-137 implementations such as CORESIP write and check them):

    a=type:Radio-TxRx | Radio-Rxonly | Radio-Idle | Coupling  (ED-137A wrote "Radio")
    a=txrxmode:TxRx | Rx | Tx            which half of the radio the session uses; TxRx if absent
    a=rtphe:1                            RTP header extension version: profile 0x0167
    a=sigtime:1                          PTT/SQU signalling-time reporting asked for
    a=R2S-KeepAlivePeriod:200            ms, 20-1000
    a=R2S-KeepAliveMultiplier:10         2-50; the peer is lost after period x multiplier
    a=rtpmap:123 R2S/8000                the keep-alive payload type
    a=ptt_rep:0                          PTT-off packets repeated after a release, 0-3
    a=ptt-id:5                           the PTT-id the radio gives this session, 1-63
    a=fid:118.005                        frequency identifier
    a=bss:RSSI                           best-signal-selection method, one line per method
    a=interval:20                        audio packet interval, ms

Unknown attributes are ignored. Direction, from the server's side ("we"):

- Radio-TxRx (and "Radio"): we key the transmitter (PTT, audio to the radio) and hear the
  receiver (SQU, audio from the radio); the radio answers with our PTT-id.
- Radio-Rxonly: we only hear the receiver and never key it; no PTT-id; txrxmode Tx is refused.
- Radio-Idle: no audio either way, only R2S keep-alives supervise the link (a standby radio,
  made active later by a re-INVITE with another type).
- Coupling: radio-to-radio retransmission, audio both ways, keyed with PTT type "coupling".

txrxmode then narrows it: Rx uses only the receiver, Tx only the transmitter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mediacore.sdp import MediaDescription, RtpMap, SdpError, SessionDescription
from radio.ed137 import (
    DEFAULT_KEEPALIVE_MULTIPLIER,
    DEFAULT_KEEPALIVE_PERIOD_MS,
    DEFAULT_KEEPALIVE_PT,
)

__all__ = [
    "KEEPALIVE_MULTIPLIER_RANGE",
    "KEEPALIVE_PERIOD_RANGE_MS",
    "R2S_ENCODING",
    "RADIO_SUBJECT",
    "RADIO_TYPES",
    "TXRX_MODES",
    "WG67_VERSION",
    "RadioSdpError",
    "RadioSession",
    "add_radio_attributes",
    "is_radio_session",
    "radio_answer_attributes",
    "radio_offer_session",
    "radio_session_from_offer",
    "radio_session_from_sdp",
]

RADIO_SUBJECT = "radio"
WG67_VERSION = "radio.01"  # ED-137B; ED-137C radios announce radio.02 as well

RADIO_TYPES = ("Radio-TxRx", "Radio-Rxonly", "Radio-Idle", "Coupling", "Radio")
TXRX_MODES = ("TxRx", "Rx", "Tx")
KEEPALIVE_PERIOD_RANGE_MS = (20, 1000)
KEEPALIVE_MULTIPLIER_RANGE = (2, 50)
PTT_REP_MAX = 3
R2S_ENCODING = "R2S"
R2S_CLOCK_RATE = 8000

_KEYED_TYPES = frozenset({"Radio-TxRx", "Radio", "Coupling"})
_HEARD_TYPES = frozenset({"Radio-TxRx", "Radio", "Coupling", "Radio-Rxonly"})
_CANONICAL_TYPES = {name.lower(): name for name in RADIO_TYPES}
_CANONICAL_MODES = {name.lower(): name for name in TXRX_MODES}
_OFFER_MODES = {
    "txrx": ("Radio-TxRx", "TxRx"),
    "rx": ("Radio-Rxonly", "Rx"),
    "tx": ("Radio-TxRx", "Tx"),
}

_NUMBER = re.compile(r"[0-9]{1,6}")  # ASCII only; int() alone takes "+5", " 5" and "٣"
_TOKEN = re.compile(r"[!-~]{1,32}")  # one printable ASCII word: "118.005", "RSSI", "C/N"
_MAX_BSS_METHODS = 8
_WG67_SEPARATORS = re.compile(r"[,;\s]+")
_MAX_WG67_VERSION = 256

# Attributes that make a media section an ED-137 one, and that add_radio_attributes rewrites.
_RADIO_ATTRIBUTES = frozenset(
    {
        "type",
        "txrxmode",
        "rtphe",
        "sigtime",
        "R2S-KeepAlivePeriod",
        "R2S-KeepAliveMultiplier",
        "ptt_rep",
        "ptt-id",
        "fid",
        "bss",
        "interval",
    }
)


class RadioSdpError(ValueError):
    """An ED-137 attribute with a malformed or out-of-range value, or a contradictory session."""


@dataclass(frozen=True, slots=True)
class RadioSession:
    """What one ED-137B radio session was negotiated to be (see the module docstring).

    The defaults are a plain Radio-TxRx session with ED-137B's keep-alive timing. Raises
    RadioSdpError when constructed with an unknown type or mode, a value out of range, or
    type Radio-Rxonly with txrxmode Tx."""

    radio_type: str = "Radio-TxRx"
    txrxmode: str = "TxRx"
    rtphe: int = 1
    sigtime: bool = True
    keepalive_period_ms: int = DEFAULT_KEEPALIVE_PERIOD_MS
    keepalive_multiplier: int = DEFAULT_KEEPALIVE_MULTIPLIER
    keepalive_pt: int = DEFAULT_KEEPALIVE_PT
    ptt_id: int | None = None
    ptt_rep: int | None = None
    fid: str | None = None
    bss_methods: tuple[str, ...] = ()
    interval_ms: int | None = None

    def __post_init__(self) -> None:
        if self.radio_type not in RADIO_TYPES:
            raise RadioSdpError(f"a=type:{self.radio_type} is none of {', '.join(RADIO_TYPES)}")
        if self.txrxmode not in TXRX_MODES:
            raise RadioSdpError(f"a=txrxmode:{self.txrxmode} is none of {', '.join(TXRX_MODES)}")
        if self.radio_type == "Radio-Rxonly" and self.txrxmode == "Tx":
            raise RadioSdpError("a=type:Radio-Rxonly cannot go with a=txrxmode:Tx")
        _check_range("a=R2S-KeepAlivePeriod", self.keepalive_period_ms, *KEEPALIVE_PERIOD_RANGE_MS)
        _check_range(
            "a=R2S-KeepAliveMultiplier", self.keepalive_multiplier, *KEEPALIVE_MULTIPLIER_RANGE
        )
        _check_range("a=rtphe", self.rtphe, 0, 255)
        _check_range("keep-alive payload type", self.keepalive_pt, 0, 127)
        if self.ptt_id is not None:
            _check_range("a=ptt-id", self.ptt_id, 1, 63)
        if self.ptt_rep is not None:
            _check_range("a=ptt_rep", self.ptt_rep, 0, PTT_REP_MAX)
        if self.interval_ms is not None:
            _check_range("a=interval", self.interval_ms, 1, 1000)
        if self.fid is not None and not _TOKEN.fullmatch(self.fid):
            raise RadioSdpError(f"a=fid:{self.fid!r} is not one printable token of 1-32 chars")
        if len(self.bss_methods) > _MAX_BSS_METHODS:
            raise RadioSdpError(f"{len(self.bss_methods)} a=bss lines, at most {_MAX_BSS_METHODS}")
        for method in self.bss_methods:
            if not _TOKEN.fullmatch(method):
                raise RadioSdpError(f"a=bss:{method!r} is not one printable token of 1-32 chars")

    @property
    def receives_from_gateway(self) -> bool:
        """Whether the radio sends us receiver audio and SQU (all but Radio-Idle and Tx)."""
        return self.radio_type in _HEARD_TYPES and self.txrxmode != "Tx"

    @property
    def sends_to_gateway(self) -> bool:
        """Whether we may key the radio (TxRx, Radio, Coupling, unless txrxmode is Rx)."""
        return self.radio_type in _KEYED_TYPES and self.txrxmode != "Rx"

    @property
    def lost_after_ms(self) -> int:
        """How long a silent peer (no audio, no keep-alive) stays connected."""
        return self.keepalive_period_ms * self.keepalive_multiplier


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise RadioSdpError(f"{name} {value} is outside {low}-{high}")


def is_radio_session(subject: str | None, wg67_version: str | None) -> bool:
    """Whether a SIP request or response sets up an ED-137 radio session: `Subject: radio`
    (any case), or a WG67-Version header naming a radio.* version ("radio.01;radio.02")."""
    if subject is not None and subject.strip().lower() == RADIO_SUBJECT:
        return True
    if wg67_version is None:
        return False
    versions = _WG67_SEPARATORS.split(wg67_version[:_MAX_WG67_VERSION].lower())
    return any(version.startswith("radio.") for version in versions)


def radio_session_from_sdp(media: MediaDescription) -> RadioSession | None:
    """The ED-137B session a media section describes; None if it has no ED-137 attribute
    (nor an R2S rtpmap). Absent attributes take RadioSession's defaults, except sigtime
    (absent: not asked for); type and txrxmode match in any case and come back canonical.

    Raises RadioSdpError for a malformed or out-of-range value or a contradictory session."""
    keepalive_pt = _r2s_payload_type(media)
    if keepalive_pt is None and not any(name in _RADIO_ATTRIBUTES for name, _ in media.attributes):
        return None
    ptt_id = _number(media, "ptt-id")
    period = _number(media, "R2S-KeepAlivePeriod")
    multiplier = _number(media, "R2S-KeepAliveMultiplier")
    rtphe = _number(media, "rtphe")
    sigtime = _value(media, "sigtime")
    if sigtime not in (None, "0", "1"):
        raise RadioSdpError(f"a=sigtime:{sigtime[:32]} is neither 0 nor 1")
    return RadioSession(
        radio_type=_canonical(media, "type", _CANONICAL_TYPES) or "Radio-TxRx",
        txrxmode=_canonical(media, "txrxmode", _CANONICAL_MODES) or "TxRx",
        rtphe=1 if rtphe is None else rtphe,
        sigtime=sigtime == "1",
        keepalive_period_ms=DEFAULT_KEEPALIVE_PERIOD_MS if period is None else period,
        keepalive_multiplier=DEFAULT_KEEPALIVE_MULTIPLIER if multiplier is None else multiplier,
        keepalive_pt=DEFAULT_KEEPALIVE_PT if keepalive_pt is None else keepalive_pt,
        ptt_id=ptt_id or None,  # 0 is RTP's "no PTT-id", not an id the radio gave us
        ptt_rep=_number(media, "ptt_rep"),
        fid=_value(media, "fid"),
        bss_methods=tuple(value.strip() for value in media.attribute_values("bss")),
        interval_ms=_number(media, "interval"),
    )


def radio_session_from_offer(
    description: SessionDescription, fallback: RadioSession | None = None
) -> RadioSession:
    """The session the first audio m= section of an offer (or answer) describes, or
    `fallback` (default: a plain RadioSession) when it carries no ED-137 attribute.

    Raises RadioSdpError as radio_session_from_sdp does."""
    media = next((m for m in description.media if m.kind == "audio"), None)
    session = radio_session_from_sdp(media) if media is not None else None
    if session is not None:
        return session
    return fallback if fallback is not None else RadioSession()


def radio_answer_attributes(session: RadioSession) -> list[tuple[str, str]]:
    """The ED-137 attributes our answer (or our offer, when we call the radio) carries, in
    order, as (name, value); the optional ones only when the session has them."""
    attributes = [
        ("type", session.radio_type),
        ("txrxmode", session.txrxmode),
        ("rtphe", str(session.rtphe)),
        ("sigtime", "1" if session.sigtime else "0"),
        ("R2S-KeepAlivePeriod", str(session.keepalive_period_ms)),
        ("R2S-KeepAliveMultiplier", str(session.keepalive_multiplier)),
    ]
    if session.ptt_rep is not None:
        attributes.append(("ptt_rep", str(session.ptt_rep)))
    if session.ptt_id is not None:
        attributes.append(("ptt-id", str(session.ptt_id)))
    if session.fid is not None:
        attributes.append(("fid", session.fid))
    attributes += [("bss", method) for method in session.bss_methods]
    if session.interval_ms is not None:
        attributes.append(("interval", str(session.interval_ms)))
    return attributes


def add_radio_attributes(description: SessionDescription, session: RadioSession) -> None:
    """Make the first audio m= section of our offer or answer an ED-137B one, in place: add
    the keep-alive payload type with its "R2S/8000" rtpmap, and replace any ED-137 attributes
    with radio_answer_attributes(session).

    Raises RadioSdpError if there is no audio section or the keep-alive payload type is
    already mapped to another encoding."""
    media = next((m for m in description.media if m.kind == "audio"), None)
    if media is None:
        raise RadioSdpError("no audio m= section to carry the ED-137 attributes")
    payload_type = str(session.keepalive_pt)
    rtpmap = RtpMap(session.keepalive_pt, R2S_ENCODING, R2S_CLOCK_RATE)
    mapped = _rtpmaps(media).get(session.keepalive_pt)
    if mapped is not None and mapped.encoding.upper() != R2S_ENCODING:
        raise RadioSdpError(
            f"keep-alive payload type {payload_type} is already {mapped.encoding} here"
        )
    attributes = [
        (name, value) for name, value in media.attributes if name not in _RADIO_ATTRIBUTES
    ]
    if payload_type not in media.formats:
        media.formats.append(payload_type)
    if mapped is None:
        # Beside the other rtpmap lines, where readers of the SDP look for it.
        last = max((i for i, (name, _) in enumerate(attributes) if name == "rtpmap"), default=-1)
        position = last + 1 if last >= 0 else len(attributes)
        attributes.insert(position, ("rtpmap", rtpmap.to_value()))
    attributes += radio_answer_attributes(session)
    media.attributes = attributes


def radio_offer_session(mode: str) -> RadioSession:
    """The session we offer when we call a configured radio: "txrx" to key it and hear it,
    "rx" to only hear it (Radio-Rxonly, Rx), "tx" to only key it (Radio-TxRx, Tx).

    Raises RadioSdpError for another mode."""
    try:
        radio_type, txrxmode = _OFFER_MODES[mode]
    except KeyError:
        raise RadioSdpError(f"radio mode {mode!r} is none of txrx, rx, tx") from None
    return RadioSession(radio_type=radio_type, txrxmode=txrxmode)


def _value(media: MediaDescription, name: str) -> str | None:
    """The first a=`name` value, stripped; None if absent. A present line without a value
    is malformed."""
    if not media.has_attribute(name):
        return None
    value = (media.attribute(name) or "").strip()
    if not value:
        raise RadioSdpError(f"a={name} has no value")
    return value


def _number(media: MediaDescription, name: str) -> int | None:
    value = _value(media, name)
    if value is None:
        return None
    if not _NUMBER.fullmatch(value):
        raise RadioSdpError(f"a={name}:{value[:32]} is not a decimal number")
    return int(value)


def _canonical(media: MediaDescription, name: str, known: dict[str, str]) -> str | None:
    value = _value(media, name)
    if value is None:
        return None
    try:
        return known[value.lower()]
    except KeyError:
        choices = ", ".join(known.values())
        raise RadioSdpError(f"a={name}:{value[:32]} is none of {choices}") from None


def _rtpmaps(media: MediaDescription) -> dict[int, RtpMap]:
    """The well-formed rtpmap lines; a malformed one is offer/answer's to refuse, not ours."""
    maps: dict[int, RtpMap] = {}
    for value in media.attribute_values("rtpmap"):
        try:
            rtpmap = RtpMap.parse(value)
        except SdpError:
            continue
        maps.setdefault(rtpmap.payload_type, rtpmap)
    return maps


def _r2s_payload_type(media: MediaDescription) -> int | None:
    return next(
        (pt for pt, rtpmap in _rtpmaps(media).items() if rtpmap.encoding.upper() == R2S_ENCODING),
        None,
    )
