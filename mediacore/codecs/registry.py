"""The codec registry: each codec registers its description and factories once, at import.

The media path and SDP negotiation ask the registry instead of switching on encoding names."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mediacore.codecs.base import CodecError, CodecInfo, Decoder, Encoder


@dataclass(frozen=True, slots=True)
class _Entry:
    info: CodecInfo
    new_decoder: Callable[[], Decoder]
    new_encoder: Callable[[int], Encoder]
    ptimes_ms: tuple[int, ...]


# Insertion order is preference order; mediacore.codecs registers the built-ins in that order.
_entries: dict[CodecInfo, _Entry] = {}

DEFAULT_PTIMES_MS = (10, 20, 30, 40, 50, 60)


def register(
    info: CodecInfo,
    new_decoder: Callable[[], Decoder],
    new_encoder: Callable[[int], Encoder],
    *,
    ptimes_ms: Sequence[int] = DEFAULT_PTIMES_MS,
) -> None:
    """Add a codec after those already registered (so it is preferred less).

    Takes: its description, a decoder factory, an encoder factory taking ptime in ms, and the
    ptimes that encoder accepts (for negotiation). Raises: ValueError if a codec with the same
    name (case-insensitive), clock rate and channels is already registered."""
    if lookup(info.name, info.clock_rate, info.channels) is not None:
        raise ValueError(f"codec {info.key}/{info.channels} is already registered")
    _entries[info] = _Entry(info, new_decoder, new_encoder, tuple(ptimes_ms))


def lookup(name: str, clock_rate: int, channels: int | None = None) -> CodecInfo | None:
    """Find a registered codec as SDP names it (a=rtpmap:<pt> name/clock_rate[/channels]).

    Takes: encoding name (any case), clock rate, channel count or None for any. Returns: the
    codec, or None if none is registered."""
    folded = name.casefold()
    for info in _entries:
        if info.name.casefold() != folded or info.clock_rate != clock_rate:
            continue
        if channels is None or channels == info.channels:
            return info
    return None


def supported() -> list[CodecInfo]:
    """All registered codecs, most preferred first."""
    return list(_entries)


def supported_ptimes(info: CodecInfo) -> tuple[int, ...]:
    """The packet times the codec's encoder accepts, in ms. Raises: CodecError if unregistered."""
    return _entry(info).ptimes_ms


def new_decoder(info: CodecInfo) -> Decoder:
    """A fresh decoder for one stream. Raises: CodecError if the codec is not registered."""
    return _entry(info).new_decoder()


def new_encoder(info: CodecInfo, ptime_ms: int) -> Encoder:
    """A fresh encoder for one stream. Raises: CodecError if the codec is not registered or
    cannot packetise at `ptime_ms`."""
    entry = _entry(info)
    if ptime_ms not in entry.ptimes_ms:
        raise CodecError(f"{info.key} cannot do ptime {ptime_ms} ms (only {entry.ptimes_ms})")
    return entry.new_encoder(ptime_ms)


def _entry(info: CodecInfo) -> _Entry:
    try:
        return _entries[info]
    except KeyError:
        raise CodecError(f"codec {info.key} is not registered") from None
