"""EUROCAE ED-137B "radio" RTP header extension (profile 0x0167) and R2S keep-alives.

Follows ED-137B Volume 1 bit for bit as the Wireshark dissector
`epan/dissectors/packet-rtp-ed137.c` (ED-137, 137A, 137B and 137C) decodes it; the EUROCAE
text itself is not freely available. ED-137A introduced this layout and ED-137B and C keep it;
the first ED-137 used profile 0x0067 and another 32-bit word, which is not read here. Works on
the raw body `mediacore.rtp.RtpPacket` keeps in `extension_data`.

The body starts with one 16-bit word; with X = 1 additional-feature blocks follow it, with
X = 0 the next 16 bits are unused (zero). The body is zero-padded to a 32-bit boundary::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-----+-+-----------+-+-+-+---+-+-------+-------+---------------+
    | PTT |S|  PTT-id   |P|P|S|res|X| type  |length | value ...     |
    | type|Q|           |M|T|C|   | |  (first feature block, X = 1) |
    |     |U|           | |S|T|   | |                               |
    +-----+-+-----------+-+-+-+---+-+-------+-------+---------------+

    first 16 bits: PTT type 0xE000, SQU 0x1000, PTT-id 0x0FC0, PM 0x0020, PTTS 0x0010,
    SCT 0x0008, reserved 0x0006, X 0x0001

    one feature block, byte aligned, right after the previous one:

     0 1 2 3 4 5 6 7
    +-------+-------+-------- ... ---------+
    | type  |length | value: `length` bytes|
    +-------+-------+-------- ... ---------+

    a type-0 byte (padding) or the end of the body ends the list.

PTT type: 0 off, 1 normal, 2 coupling, 3 priority, 4 emergency; 5-7 reserved in ED-137B
(ED-137C made 5 "test PTT"). SQU: the radio's receiver squelch is open. PTT-id: the sender's
id, assigned per session by the radio (SDP a=ptt-id). PM: PTT mute, PTTS: PTT summation, SCT:
simultaneous call transmissions. Feature types (4 bits): 1 signal quality information (SQI,
ED-137A), 2 CLIMAX time delay, 3 radio remote control, 4 CLIMAX dynamic delay compensation
(ED-137B), 5-10 reserved, 11-15 vendor specific.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from mediacore.rtp import RtpPacket

__all__ = [
    "DEFAULT_KEEPALIVE_MULTIPLIER",
    "DEFAULT_KEEPALIVE_PERIOD_MS",
    "DEFAULT_KEEPALIVE_PT",
    "MAX_FEATURE_BLOCKS",
    "PROFILE",
    "Ed137Error",
    "FeatureBlock",
    "FeatureType",
    "PttType",
    "RadioHeader",
    "SignalQuality",
    "SqiMethod",
    "build_keepalive",
    "build_radio_header",
    "parse_radio_header",
    "sqi_block",
]

PROFILE = 0x0167
_ED137_FIRST_EDITION_PROFILE = 0x0067  # the pre-A layout; named in the error message only

# R2S keep-alives (ED-137B Volume 1; the numbers are also what CORESIP, an open-source
# VCS/GRS SIP core, uses and checks): an RTP packet with the R2S payload type, dynamic and
# negotiated by "a=rtpmap:<pt> R2S/8000", 123 by convention. It is sent whenever no audio
# packet went out for R2S-KeepAlivePeriod ms (audio carries the same extension, so it counts);
# a peer that sent nothing, audio or keep-alive, for period x R2S-KeepAliveMultiplier is lost.
DEFAULT_KEEPALIVE_PT = 123
DEFAULT_KEEPALIVE_PERIOD_MS = 200
DEFAULT_KEEPALIVE_MULTIPLIER = 10

# Every block is at most 16 bytes, so this caps parsing at 16 steps and 258 bytes.
MAX_FEATURE_BLOCKS = 16
_MAX_FEATURE_VALUE = 0x0F  # the length nibble

_PTT_TYPE_SHIFT = 13
_SQU = 0x1000
_PTT_ID_SHIFT = 6
_PTT_ID_MASK = 0x0FC0
_PM = 0x0020
_PTTS = 0x0010
_SCT = 0x0008
_X = 0x0001
_FIXED_WORD = struct.Struct("!H")


class Ed137Error(ValueError):
    """An extension body that is not ED-137B (wrong profile, empty, overrunning or too many
    feature blocks), or header fields that cannot be encoded."""


class PttType(IntEnum):
    """PTT type values of ED-137B; 5-7 are reserved, parsed and kept as plain ints."""

    OFF = 0
    NORMAL = 1
    COUPLING = 2  # a coupled radio retransmits what another one received
    PRIORITY = 3
    EMERGENCY = 4


class FeatureType(IntEnum):
    """The additional-feature block types ED-137A/B define; others are kept as raw bytes."""

    SQI = 1  # signal quality information: best-signal selection input (ED-137A)
    CLIMAX_TIME_DELAY = 2
    RADIO_REMOTE_CONTROL = 3  # ED-137B, single frequency
    CLIMAX_DYNAMIC_DELAY = 4  # ED-137B RMM (3 bytes) / MAM (12 bytes; 14 in ED-137C)


class SqiMethod(IntEnum):
    """How an SQI block's quality index was measured (its low 3 bits); 4-7 are vendor methods."""

    RSSI = 0
    AGC_LEVEL = 1
    CARRIER_TO_NOISE = 2
    STANDARDIZED_PSD = 3


_SQI_RSSI_MAX = 15  # with the RSSI method the index is a 16-step scale, see SignalQuality


@dataclass(frozen=True, slots=True)
class FeatureBlock:
    """One additional-feature block: a 4-bit `type` (1-15) and up to 15 value bytes.

    Raises Ed137Error when constructed with a type or value that cannot be encoded."""

    type: int
    value: bytes

    def __post_init__(self) -> None:
        if not 1 <= self.type <= 0x0F:
            raise Ed137Error(f"feature type {self.type} outside 1-15 (0 ends the block list)")
        if len(self.value) > _MAX_FEATURE_VALUE:
            raise Ed137Error(
                f"feature type {self.type} value of {len(self.value)} bytes, at most 15 fit"
            )


@dataclass(frozen=True, slots=True)
class SignalQuality:
    """An SQI block read out: a 5-bit quality `index` and the `method` that measured it.

    With SqiMethod.RSSI the index runs 0-15: 0 is below -100 dBm, n = 1..14 is at most
    -100 + n * 30/14 dBm (2.14 dB steps), and 15 is above -70 dBm."""

    index: int
    method: int


@dataclass(frozen=True, slots=True)
class RadioHeader:
    """The ED-137B extension of one RTP packet (audio or R2S keep-alive).

    Raises Ed137Error when constructed with a field out of range or too many feature blocks."""

    ptt_type: int = PttType.OFF
    squelch: bool = False
    ptt_id: int = 0
    pm: bool = False  # PTT mute: key the transmitter without our audio
    ptts: bool = False  # PTT summation
    sct: bool = False  # simultaneous call transmissions
    features: tuple[FeatureBlock, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.ptt_type <= 7:
            raise Ed137Error(f"PTT type {self.ptt_type} outside 0-7")
        if not 0 <= self.ptt_id <= 63:
            raise Ed137Error(f"PTT-id {self.ptt_id} outside 0-63")
        if len(self.features) > MAX_FEATURE_BLOCKS:
            raise Ed137Error(
                f"{len(self.features)} feature blocks, at most {MAX_FEATURE_BLOCKS} are allowed"
            )

    @property
    def ptt(self) -> bool:
        """Whether the transmitter is keyed (any PTT type but off)."""
        return self.ptt_type != PttType.OFF

    def feature(self, feature_type: int) -> FeatureBlock | None:
        """The first feature block of `feature_type`, or None."""
        return next((block for block in self.features if block.type == feature_type), None)

    @property
    def quality(self) -> SignalQuality | None:
        """The SQI block's quality index and method; None without a 1-byte SQI block."""
        block = self.feature(FeatureType.SQI)
        if block is None or len(block.value) != 1:
            return None
        return SignalQuality(block.value[0] >> 3, block.value[0] & 0x07)

    @property
    def rssi(self) -> int | None:
        """The RSSI index 0-15 (see SignalQuality); None unless the SQI block measured RSSI
        within that range."""
        quality = self.quality
        if quality is None or quality.method != SqiMethod.RSSI or quality.index > _SQI_RSSI_MAX:
            return None
        return quality.index


def sqi_block(index: int, method: int = SqiMethod.RSSI) -> FeatureBlock:
    """An SQI feature block for quality `index` (0-31; 0-15 for RSSI) measured by `method`.

    Raises Ed137Error for an index or method out of range."""
    limit = _SQI_RSSI_MAX if method == SqiMethod.RSSI else 0x1F
    if not 0 <= index <= limit:
        raise Ed137Error(f"SQI index {index} outside 0-{limit}")
    if not 0 <= method <= 7:
        raise Ed137Error(f"SQI method {method} outside 0-7")
    return FeatureBlock(int(FeatureType.SQI), bytes((index << 3 | method,)))


def parse_radio_header(profile: int, data: bytes) -> RadioHeader:
    """Read the ED-137B extension from an RTP packet's extension profile and raw body.

    Reserved bits and the padding after the feature blocks are ignored. Raises Ed137Error for
    a profile other than 0x0167, an empty body or one not a multiple of 4 bytes, a feature
    block that runs past the end, or more than MAX_FEATURE_BLOCKS blocks."""
    if profile != PROFILE:
        if profile == _ED137_FIRST_EDITION_PROFILE:
            raise Ed137Error("profile 0x0067 is the first ED-137 edition; only 0x0167 is read")
        raise Ed137Error(f"profile 0x{profile:04X} is not the ED-137B profile 0x{PROFILE:04X}")
    size = len(data)
    if size == 0:
        raise Ed137Error("ED-137B extension body is empty")
    if size % 4:
        raise Ed137Error(f"ED-137B extension body of {size} bytes is not whole 32-bit words")
    (word,) = _FIXED_WORD.unpack_from(data)
    features = _parse_features(data) if word & _X else ()
    return RadioHeader(
        ptt_type=word >> _PTT_TYPE_SHIFT,
        squelch=bool(word & _SQU),
        ptt_id=(word & _PTT_ID_MASK) >> _PTT_ID_SHIFT,
        pm=bool(word & _PM),
        ptts=bool(word & _PTTS),
        sct=bool(word & _SCT),
        features=features,
    )


def _parse_features(data: bytes) -> tuple[FeatureBlock, ...]:
    blocks: list[FeatureBlock] = []
    end = len(data)
    offset = _FIXED_WORD.size
    # One more round than blocks allowed, so a block past the cap is seen and refused.
    for _ in range(MAX_FEATURE_BLOCKS + 1):
        if offset >= end or data[offset] >> 4 == 0:
            break  # type 0 is padding: the list is over
        if len(blocks) == MAX_FEATURE_BLOCKS:
            raise Ed137Error(f"more than {MAX_FEATURE_BLOCKS} feature blocks")
        feature_type, length = data[offset] >> 4, data[offset] & 0x0F
        start = offset + 1
        offset = start + length
        if offset > end:
            raise Ed137Error(
                f"feature type {feature_type} of {length} bytes runs past the {end}-byte body"
            )
        blocks.append(FeatureBlock(feature_type, bytes(data[start:offset])))
    return tuple(blocks)


def build_radio_header(header: RadioHeader) -> tuple[int, bytes]:
    """Encode `header` as (profile, body) for RtpPacket's extension_profile/extension_data.

    The X bit is set exactly when there are feature blocks; reserved bits and padding are
    zero and the body is padded to whole 32-bit words (4 bytes at least)."""
    word = (
        header.ptt_type << _PTT_TYPE_SHIFT
        | header.ptt_id << _PTT_ID_SHIFT
        | (_SQU if header.squelch else 0)
        | (_PM if header.pm else 0)
        | (_PTTS if header.ptts else 0)
        | (_SCT if header.sct else 0)
        | (_X if header.features else 0)
    )
    parts = [_FIXED_WORD.pack(word)]
    for block in header.features:
        parts.append(bytes((block.type << 4 | len(block.value),)))
        parts.append(block.value)
    body = b"".join(parts)
    return PROFILE, body + bytes(-len(body) % 4)


def build_keepalive(
    sequence: int,
    timestamp: int,
    ssrc: int,
    header: RadioHeader,
    payload_type: int = DEFAULT_KEEPALIVE_PT,
) -> bytes:
    """One R2S keep-alive datagram carrying `header` (the sender's current PTT/SQU state).

    The payload is empty and the marker clear, as the ED-137B implementations we checked send
    it: 12 bytes of RTP header and the extension, nothing else. `sequence` and `ssrc` continue
    the audio stream's. ED-137 Part 1 asks for timestamp 0 (so CORESIP's notes), but senders
    commonly keep running the audio clock, so receivers must not read it; pass either.
    Raises mediacore.rtp.RtpError for a field out of range."""
    profile, body = build_radio_header(header)
    packet = RtpPacket(
        payload_type=payload_type,
        sequence_number=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        extension_profile=profile,
        extension_data=body,
    )
    return packet.serialize()
