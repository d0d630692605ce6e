"""Quality tiers: which share of an encode's full bit rate a receiver gets, from its estimate.

An encode the server makes (a room's composed picture, an H.265 source's H.264 twin) runs at a
few tiers: the full bit rate, half and a quarter of it, each one encode shared by every
receiver at that tier. A receiver's estimate (b=TIAS or b=AS, TMMBR, REMB) picks the best tier
that fits it. Down is at once (the link is full now); up only once the estimate has cleared the
better tier by UP_MARGIN for UP_HOLD_S, so an estimate wobbling around a boundary does not make
the picture flap between encodes (each move waits for a keyframe). Pure: the caller passes the
time."""

from __future__ import annotations

from collections.abc import Sequence

# Each tier's share of the full bit rate, best first.
TIERS: tuple[float, ...] = (1.0, 0.5, 0.25)
TIER_NAMES: tuple[str, ...] = ("full", "half", "quarter")
UP_MARGIN = 1.2
UP_HOLD_S = 5.0
# The encoders' bit rate cap: about a tenth of a bit per pixel per frame, bounded so a small
# picture stays sharp and an 8K canvas stays within a LAN link (mixer.walltransport uses it).
BITS_PER_PIXEL = 0.1
MIN_BITRATE = 500_000
MAX_BITRATE = 40_000_000


def encode_cap(width: int, height: int, fps: float) -> int:
    """The full-tier bit rate cap, in bit/s, of an encode of that size and rate."""
    return int(min(MAX_BITRATE, max(MIN_BITRATE, width * height * fps * BITS_PER_PIXEL)))


def fitting_tier(full: int, estimate: float | None, tiers: Sequence[float] = TIERS) -> int:
    """The best tier whose bit rate is within `estimate` (the last when none is); 0 with no
    estimate."""
    if estimate is None:
        return 0
    for tier, share in enumerate(tiers):
        if full * share <= estimate:
            return tier
    return len(tiers) - 1


def lowest_estimate(*estimates: float | None) -> float | None:
    """The tightest of the limits a receiver gave (None: it gave none)."""
    known = [e for e in estimates if e is not None and e > 0]
    return min(known) if known else None


class TierChooser:
    """One receiver's tier, with hysteresis; `tier` is where it is now."""

    def __init__(self, *, margin: float = UP_MARGIN, hold_s: float = UP_HOLD_S) -> None:
        self.tier = 0
        self.moves = 0
        self._margin = margin
        self._hold_s = hold_s
        self._better_since: float | None = None
        self._chosen = False

    def choose(self, full: int, estimate: float | None, now: float) -> int:
        """The tier for an encode of `full` bit/s and a receiver that can take `estimate`
        (None: no limit known) at time `now` (seconds)."""
        fits = fitting_tier(full, estimate)
        if not self._chosen:
            self.tier, self._chosen = fits, True
            return self.tier
        if fits >= self.tier:  # down (or the same): at once
            self._move(fits)
            return self.tier
        clears = fitting_tier(full, None if estimate is None else estimate / self._margin)
        if clears >= self.tier:
            self._better_since = None  # better fits, but not by the margin
            return self.tier
        if self._better_since is None:
            self._better_since = now
        elif now - self._better_since >= self._hold_s:
            self._move(clears)
        return self.tier

    def _move(self, tier: int) -> None:
        if tier != self.tier:
            self.moves += 1
        self.tier = tier
        self._better_since = None
