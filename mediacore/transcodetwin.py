"""Names of the H.264 twins of sources WebRTC and H.264 terminals cannot take (H.265).

A twin is a hub source like any other, so subscribing to it, importing it into a media
worker or following it from a SIP leg needs nothing new: `<source>~h264` is the full tier,
`<source>~h264~t1`, `~t2` the lower ones (mediacore.qualitytiers). The server makes the twin
when its name is first asked for (mediacore.server.transcodes)."""

from __future__ import annotations

from mediacore.qualitytiers import encode_cap

# Codecs a WebRTC subscriber or an H.264 terminal is given a twin of.
TRANSCODED = frozenset({"H265"})
SUFFIX = "~h264"
CODEC = "H264"  # what a twin carries
FPS = 25.0  # the twin's frame rate
DEFAULT_SIZE = (640, 360)  # until the source's size is known
MAX_SIZE = (1920, 1088)


def twin_id(source_id: str, tier: int = 0) -> str:
    """The id of `source_id`'s H.264 twin at `tier`."""
    return f"{source_id}{SUFFIX}" if tier == 0 else f"{source_id}{SUFFIX}~t{tier}"


def parse_twin(twin: str) -> tuple[str, int] | None:
    """(the original source id, the tier) of a twin's id; None for any other id."""
    base, marker, tier = twin.rpartition("~t")
    if marker and tier.isdigit() and len(tier) == 1 and tier != "0" and base.endswith(SUFFIX):
        return (base[: -len(SUFFIX)], int(tier)) if len(base) > len(SUFFIX) else None
    if twin.endswith(SUFFIX) and len(twin) > len(SUFFIX):
        return twin[: -len(SUFFIX)], 0
    return None


def transcode_size(width: int | None, height: int | None) -> tuple[int, int]:
    """The twin's picture size: the source's, even, within 1920x1088 (kept in proportion)."""
    if not width or not height:
        return DEFAULT_SIZE
    scale = min(1.0, MAX_SIZE[0] / width, MAX_SIZE[1] / height)
    return max(2, int(width * scale) & ~1), max(2, int(height * scale) & ~1)


def full_bitrate(width: int | None, height: int | None) -> int:
    """The bit rate cap of a twin's full tier, for a source of that size (None: unknown)."""
    twin_width, twin_height = transcode_size(width, height)
    return encode_cap(twin_width, twin_height, FPS)
