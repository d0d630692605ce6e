"""H.264 access units as the WebRTC packetizer wants them: Annex B, parameter sets on keyframes.

RTMP, MP4 and HLS-fMP4 carry H.264 as AVCC (each NAL unit prefixed by its length, the SPS and PPS
in the stream's `avcC` extradata); RTSP and MPEG-TS carry Annex B (start codes), often with the
parameter sets only in the SDP. A subscriber joining at a keyframe needs the SPS and PPS right
there, so every keyframe leaves here with them in front.
"""

from __future__ import annotations

from dataclasses import dataclass

START_CODE = b"\x00\x00\x00\x01"
_SPS, _PPS, _IDR = 7, 8, 5


class BitstreamError(ValueError):
    """The extradata or a packet is not H.264 (or H.265) in a form we understand."""


def split_annexb(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B buffer, without their start codes."""
    units = []
    for unit in data.split(b"\x00\x00\x01"):
        unit = unit.rstrip(b"\x00")  # a 4-byte start code leaves a zero on the previous unit
        if unit:
            units.append(unit)
    return units


def split_length_prefixed(data: bytes, length_size: int) -> list[bytes]:
    """The NAL units of an AVCC/HVCC packet (each prefixed by its big-endian length).
    Raises BitstreamError when a length runs past the packet."""
    units = []
    pos = 0
    while pos + length_size <= len(data):
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > len(data):
            raise BitstreamError("a length-prefixed NAL unit runs past the packet")
        units.append(data[pos : pos + size])
        pos += size
    if pos != len(data):
        raise BitstreamError("trailing bytes after the last length-prefixed NAL unit")
    return units


def is_annexb(data: bytes) -> bool:
    """Whether `data` starts with a start code."""
    return data.startswith(b"\x00\x00\x01") or data.startswith(START_CODE)


def split_packet(data: bytes, length_size: int) -> list[bytes]:
    """The NAL units of one packet of a stream whose extradata set `length_size` (0: Annex B).

    A length-prefixed packet is read by its lengths first: a 4-byte length of 1 or of 256..511
    begins with a start code's bytes, so sniffing the first bytes would misread it. Only when the
    lengths do not add up is a packet that begins with a start code read as Annex B (encoders
    that send Annex B under an avcC/hvcC header). Raises BitstreamError when neither fits."""
    if not length_size:
        return split_annexb(data)
    try:
        return split_length_prefixed(data, length_size)
    except BitstreamError:
        if is_annexb(data):
            return split_annexb(data)
        raise


@dataclass(slots=True)
class AnnexBWriter:
    """Converts one stream's packets; make it from the stream's extradata (may be empty).

    `length_size` is 0 for Annex B input, else 1, 2 or 4 (from avcC). Raises BitstreamError
    from the constructor when the extradata is neither avcC nor Annex B."""

    length_size: int
    parameter_sets: list[bytes]

    @classmethod
    def from_extradata(cls, extradata: bytes | None) -> AnnexBWriter:
        data = extradata or b""
        if not data or is_annexb(data):
            return cls(0, [u for u in split_annexb(data) if u[0] & 0x1F in (_SPS, _PPS)])
        if data[0] != 1 or len(data) < 7:
            raise BitstreamError("H.264 extradata is neither avcC nor Annex B")
        length_size = (data[4] & 0x03) + 1
        sets: list[bytes] = []
        pos = 6
        count = data[5] & 0x1F
        for table in range(2):
            for _ in range(count):
                if pos + 2 > len(data):
                    raise BitstreamError("avcC parameter set table is truncated")
                size = int.from_bytes(data[pos : pos + 2], "big")
                sets.append(data[pos + 2 : pos + 2 + size])
                pos += 2 + size
            if table == 0:
                if pos >= len(data):
                    raise BitstreamError("avcC has no PPS table")
                count = data[pos]
                pos += 1
        return cls(length_size, sets)

    def convert(self, data: bytes) -> tuple[bytes, bool]:
        """One access unit in Annex B and whether it holds an IDR slice. In-band SPS/PPS
        replace the remembered ones; a keyframe without them gets them prepended."""
        units = split_packet(data, self.length_size)
        types = [u[0] & 0x1F for u in units]
        keyframe = _IDR in types
        if _SPS in types:
            self.parameter_sets = [
                u for u, t in zip(units, types, strict=True) if t in (_SPS, _PPS)
            ]
        elif keyframe:
            units = self.parameter_sets + units
        return b"".join(START_CODE + u for u in units), keyframe
