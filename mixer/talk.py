"""Talk detection with hysteresis: who is talking, decided once per tick from the frame level.

A talker starts on the first frame at or above `on_dbfs` (so a word's onset is mixed at once)
and stops only after `hang_frames` frames below `off_dbfs`; between the two thresholds the state
holds. This keeps the speaker set stable through the dips between syllables."""

from __future__ import annotations


class TalkDetector:
    def __init__(
        self, on_dbfs: float = -45.0, off_dbfs: float = -55.0, hang_frames: int = 20
    ) -> None:
        if off_dbfs > on_dbfs:
            raise ValueError("the off threshold must not be above the on threshold")
        self.on_dbfs = on_dbfs
        self.off_dbfs = off_dbfs
        self.hang_frames = hang_frames
        self.talking = False
        self._quiet_frames = 0

    def update(self, level_dbfs: float) -> bool:
        """Feed one frame's level; returns whether the participant is talking now."""
        if level_dbfs >= self.on_dbfs:
            self.talking = True
            self._quiet_frames = 0
        elif self.talking:
            if level_dbfs < self.off_dbfs:
                self._quiet_frames += 1
                if self._quiet_frames >= self.hang_frames:
                    self.talking = False
                    self._quiet_frames = 0
            else:
                self._quiet_frames = 0
        return self.talking
