"""Moving one viewer's stream from one encoded variant to another without a broken picture.

A viewer receives one H.264 stream; which variant feeds it changes when its camera enters or
leaves the picture. Predicted frames of the new variant mean nothing to a decoder that has
the old one's pictures, so the old variant keeps feeding the viewer until the new one sends a
keyframe (asked for when the switch is chosen), and from that keyframe on only the new one
does. Pure: the caller feeds every packet's variant and keyframe flag and forwards when told."""

from __future__ import annotations


class VariantSwitch:
    def __init__(self) -> None:
        self.current: str | None = None
        self.pending: str | None = None
        self.switches = 0

    @property
    def target(self) -> str | None:
        """The variant the viewer is (or will be) on."""
        return self.pending if self.pending is not None else self.current

    def choose(self, variant: str) -> bool:
        """The viewer should see `variant`. True when a keyframe of it must be asked for."""
        if variant == self.current:
            self.pending = None
            return False
        if variant == self.pending:
            return False
        self.pending = variant
        return True

    def accept(self, variant: str, keyframe: bool) -> bool:
        """Whether a packet of `variant` goes to the viewer."""
        if variant == self.pending and keyframe:
            self.current, self.pending = variant, None
            self.switches += 1
            return True
        return variant == self.current
