"""H.265 access units for walls and recorders: Annex B, VPS/SPS/PPS in front of every keyframe.

RTMP (enhanced FLV), MP4 and Matroska carry H.265 as HVCC: each NAL unit prefixed by its length,
the parameter sets in the stream's `hvcC` extradata (ISO/IEC 14496-15, 8.3.3). RTP, MPEG-TS and
GB/T 28181 PS carry Annex B. A decoder joining at a keyframe needs the VPS, SPS and PPS right
there, so every keyframe (an IRAP picture: BLA, IDR or CRA, NAL types 16..23) leaves here with
them in front, after the access unit delimiter if there is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.annexb import (
    START_CODE,
    BitstreamError,
    is_annexb,
    split_annexb,
    split_packet,
)

VPS, SPS, PPS, AUD = 32, 33, 34, 35
PARAMETER_SETS = (VPS, SPS, PPS)
IRAP = range(16, 24)
_HVCC_HEADER = 23  # bytes before the NAL unit arrays


def nal_type(unit: bytes) -> int:
    """The type of an H.265 NAL unit (its first two bytes are the header)."""
    return (unit[0] >> 1) & 0x3F


def _parse_hvcc(data: bytes) -> tuple[int, list[bytes]]:
    """(length size, NAL units of the arrays) from an hvcC record."""
    if len(data) < _HVCC_HEADER:
        raise BitstreamError("H.265 extradata is neither hvcC nor Annex B (too short)")
    length_size = (data[21] & 0x03) + 1
    if length_size == 3:
        raise BitstreamError("hvcC lengthSizeMinusOne of 2 is not allowed")
    units: list[bytes] = []
    pos = _HVCC_HEADER
    for _ in range(data[22]):
        if pos + 3 > len(data):
            raise BitstreamError("hvcC NAL unit array is truncated")
        count = int.from_bytes(data[pos + 1 : pos + 3], "big")
        pos += 3
        for _ in range(count):
            if pos + 2 > len(data):
                raise BitstreamError("hvcC NAL unit is truncated")
            size = int.from_bytes(data[pos : pos + 2], "big")
            pos += 2
            if size == 0 or pos + size > len(data):
                raise BitstreamError("hvcC NAL unit length runs past the extradata")
            units.append(data[pos : pos + size])
            pos += size
    return length_size, units


@dataclass(slots=True)
class HevcAnnexBWriter:
    """Converts one H.265 stream's packets; make it with `from_extradata` (may be empty).

    `length_size` is 0 for Annex B input, else 1, 2 or 4 (from hvcC)."""

    length_size: int
    parameter_sets: dict[int, list[bytes]] = field(default_factory=dict)

    @classmethod
    def from_extradata(cls, extradata: bytes | None) -> HevcAnnexBWriter:
        """Raises BitstreamError when the extradata is neither hvcC nor Annex B."""
        data = extradata or b""
        if not data or is_annexb(data):
            length_size, units = 0, split_annexb(data)
        else:
            length_size, units = _parse_hvcc(data)
        writer = cls(length_size)
        writer._remember([u for u in units if len(u) >= 2])
        return writer

    def convert(self, data: bytes) -> tuple[bytes, bool]:
        """One access unit in Annex B and whether it is a keyframe (holds an IRAP slice).

        In-band parameter sets replace the remembered ones of their type; a keyframe leaves
        with all of them (VPS, SPS, PPS in that order) ahead of its other NAL units. Raises
        BitstreamError for a malformed packet."""
        units = split_packet(data, self.length_size)
        if any(len(u) < 2 for u in units):
            raise BitstreamError("an H.265 NAL unit shorter than its two-byte header")
        types = [nal_type(u) for u in units]
        keyframe = any(t in IRAP for t in types)
        self._remember(units)
        if keyframe:
            delimiters = [u for u, t in zip(units, types, strict=True) if t == AUD]
            rest = [
                u for u, t in zip(units, types, strict=True) if t != AUD and t not in PARAMETER_SETS
            ]
            sets = [u for kind in PARAMETER_SETS for u in self.parameter_sets.get(kind, [])]
            units = delimiters + sets + rest
        return b"".join(START_CODE + u for u in units), keyframe

    def _remember(self, units: list[bytes]) -> None:
        found: dict[int, list[bytes]] = {}
        for unit in units:
            kind = nal_type(unit)
            if kind in PARAMETER_SETS:
                found.setdefault(kind, []).append(unit)
        self.parameter_sets.update(found)
