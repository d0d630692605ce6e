"""VOX: attack keeps clicks from keying, hang keeps pauses between words from releasing."""

from __future__ import annotations

import pytest

from radio.vox import Vox, VoxSettings


def levels(vox: Vox, *values: float) -> list[bool]:
    return [vox.update(value) for value in values]


def test_opens_after_the_attack_and_closes_after_the_hang() -> None:
    vox = Vox(VoxSettings(threshold_dbfs=-40, attack_ms=40, hang_ms=60), frame_ms=20)
    assert levels(vox, -20, -20) == [False, True]
    assert levels(vox, -60, -60, -60, -60) == [True, True, True, False]


def test_a_click_shorter_than_the_attack_does_not_open() -> None:
    vox = Vox(VoxSettings(attack_ms=60), frame_ms=20)
    assert levels(vox, -10, -10, -70, -10, -10, -70) == [False] * 6


def test_a_pause_shorter_than_the_hang_keeps_it_open() -> None:
    vox = Vox(VoxSettings(attack_ms=0, hang_ms=200), frame_ms=20)
    assert levels(vox, -10) == [True]
    assert all(levels(vox, *([-70] * 10)))  # 200 ms of pause: still open
    assert levels(vox, -10) == [True]


@pytest.mark.parametrize(
    "settings",
    [VoxSettings(threshold_dbfs=5), VoxSettings(attack_ms=-1), VoxSettings(hang_ms=20000)],
)
def test_out_of_range_settings_are_refused(settings: VoxSettings) -> None:
    with pytest.raises(ValueError, match="vox_"):
        settings.validate()
