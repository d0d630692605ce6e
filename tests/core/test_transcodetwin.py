"""Names of H.264 twins: `<source>~h264` and `~t1`, `~t2` for the lower tiers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediacore.transcodetwin import full_bitrate, parse_twin, transcode_size, twin_id


@pytest.mark.parametrize("source", ["cam", "p-1f3a/2", "a~h264"])
@pytest.mark.parametrize("tier", [0, 1, 2])
def test_a_twin_name_reads_back(source: str, tier: int) -> None:
    assert parse_twin(twin_id(source, tier)) == (source, tier)


@pytest.mark.parametrize(
    "name", ["cam", "~h264", "cam~h264~t0", "cam~h264~tx", "cam~h264~t12", "cam~t1", "~h264~t1"]
)
def test_other_names_are_no_twins(name: str) -> None:
    assert parse_twin(name) is None


def test_the_twin_keeps_the_source_size_even_and_bounded() -> None:
    assert transcode_size(320, 180) == (320, 180)
    assert transcode_size(321, 241) == (320, 240)
    assert transcode_size(3840, 2160) == (1920, 1080)
    assert transcode_size(None, None) == (640, 360)
    assert full_bitrate(1920, 1080) == 5_184_000


@given(st.text(max_size=80))
def test_any_name_either_reads_as_a_twin_that_names_itself_or_as_none(name: str) -> None:
    """Source names come from clients (subscribe, WHEP ?video=, legs' imports)."""
    parsed = parse_twin(name)
    if parsed is not None:
        source, tier = parsed
        assert source and 0 <= tier <= 9 and twin_id(source, tier) == name
