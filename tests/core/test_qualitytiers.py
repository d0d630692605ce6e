"""Quality tiers: a receiver's estimate picks the best tier that fits; down at once, up only
past a margin held for a while (no flapping between encodes)."""

from __future__ import annotations

from mediacore.qualitytiers import (
    MIN_BITRATE,
    TierChooser,
    encode_cap,
    fitting_tier,
    lowest_estimate,
)

FULL = 1_000_000


def test_the_cap_is_a_tenth_of_a_bit_per_pixel_within_bounds() -> None:
    assert encode_cap(1280, 720, 25) == 2_304_000
    assert encode_cap(320, 180, 25) == MIN_BITRATE
    assert encode_cap(7680, 4320, 60) == 40_000_000


def test_the_best_tier_within_the_estimate_is_chosen() -> None:
    assert fitting_tier(FULL, None) == 0
    assert fitting_tier(FULL, 2_000_000) == 0
    assert fitting_tier(FULL, 1_000_000) == 0
    assert fitting_tier(FULL, 999_999) == 1
    assert fitting_tier(FULL, 500_000) == 1
    assert fitting_tier(FULL, 300_000) == 2
    assert fitting_tier(FULL, 10_000) == 2  # nothing fits: the lowest


def test_the_tightest_limit_counts_and_zero_means_none() -> None:
    assert lowest_estimate(None, None) is None
    assert lowest_estimate(2_000_000, 300_000) == 300_000
    assert lowest_estimate(0, 800_000) == 800_000


def test_the_first_choice_and_every_move_down_are_immediate() -> None:
    chooser = TierChooser()
    assert chooser.choose(FULL, 300_000, 0.0) == 2  # a low b=TIAS from the start
    chooser = TierChooser()
    assert chooser.choose(FULL, None, 0.0) == 0
    assert chooser.choose(FULL, 600_000, 0.1) == 1  # TMMBR: down now
    assert chooser.choose(FULL, 200_000, 0.2) == 2
    assert chooser.moves == 2  # (the first choice is no move)


def test_moving_up_waits_for_the_margin_and_the_hold() -> None:
    chooser = TierChooser(margin=1.2, hold_s=5.0)
    assert chooser.choose(FULL, 200_000, 0.0) == 2
    # half fits exactly, but not by the margin: stay
    for t in range(20):
        assert chooser.choose(FULL, 500_000, 1.0 + t) == 2
    # clears half by the margin: up after five seconds of it, not before
    assert chooser.choose(FULL, 650_000, 30.0) == 2
    assert chooser.choose(FULL, 650_000, 34.0) == 2
    assert chooser.choose(FULL, 650_000, 35.0) == 1
    # a dip restarts the wait
    assert chooser.choose(FULL, 2_000_000, 36.0) == 1
    assert chooser.choose(FULL, 900_000, 39.0) == 1  # fits full? no: stays, clock reset
    assert chooser.choose(FULL, 2_000_000, 40.0) == 1
    assert chooser.choose(FULL, 2_000_000, 45.0) == 0


def test_an_estimate_wobbling_at_a_boundary_does_not_flap() -> None:
    chooser = TierChooser()
    tiers = [chooser.choose(FULL, 480_000 if n % 2 else 520_000, n * 0.5) for n in range(40)]
    assert tiers[0] == 1 and set(tiers[1:]) == {2}
    assert chooser.moves == 1
