"""Voice-operated switching for radio gateways that send no squelch signal.

A plain-RTP gateway sends audio (or near-silence) all the time; the level decides when its radio
channel is "talking". Attack keeps clicks and noise bursts from grabbing the floor; hang keeps a
pause between words from releasing it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VoxSettings:
    threshold_dbfs: float = -40.0
    attack_ms: int = 40  # this long above the threshold opens
    hang_ms: int = 600  # this long below it closes

    def validate(self) -> VoxSettings:
        if not -90.0 <= self.threshold_dbfs <= 0.0:
            raise ValueError("vox_threshold_dbfs must be between -90 and 0")
        if not 0 <= self.attack_ms <= 2000:
            raise ValueError("vox_attack_ms must be 0-2000")
        if not 0 <= self.hang_ms <= 10000:
            raise ValueError("vox_hang_ms must be 0-10000")
        return self


class Vox:
    """Feed one level per frame; `update` says whether the channel is open after it."""

    def __init__(self, settings: VoxSettings, frame_ms: int) -> None:
        self.settings = settings
        self.frame_ms = frame_ms
        self.open = False
        self._above_ms = 0
        self._below_ms = 0

    def update(self, level_dbfs: float) -> bool:
        if level_dbfs >= self.settings.threshold_dbfs:
            self._above_ms += self.frame_ms
            self._below_ms = 0
            # A zero attack opens on the first loud frame.
            if not self.open and self._above_ms >= max(self.settings.attack_ms, 1):
                self.open = True
        else:
            self._above_ms = 0
            self._below_ms += self.frame_ms
            if self.open and self._below_ms > self.settings.hang_ms:
                self.open = False
        return self.open
