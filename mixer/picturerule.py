"""Rules that change what a conference picture shows beyond its layout: a tour's slot, a roll
call's focus, content sharing. Each rule is small and pure to the server: it may rewrite the
layout before it is resolved (a roll call binds the focus region) and the tiles after (a tour
swaps a slot's source); the server applies every rule, in the order they were added, to each
room's picture (mediacore.server.conferences)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from mixer.layout import Layout
from mixer.variants import Picture
from mixer.wall import Scene


class PictureRule(Protocol):
    def layout(self, room: str, layout: Layout) -> Layout:
        """The layout `room` resolves now (the given one when the rule does not apply)."""
        ...

    def picture(self, room: str, tiles: Picture, scene: Scene) -> Picture:
        """The tiles `room` shows now (the given ones when the rule does not apply)."""
        ...


def ruled_layout(rules: Iterable[PictureRule], room: str, layout: Layout) -> Layout:
    for rule in rules:
        layout = rule.layout(room, layout)
    return layout


def ruled_picture(rules: Iterable[PictureRule], room: str, tiles: Picture, scene: Scene) -> Picture:
    for rule in rules:
        tiles = rule.picture(room, tiles, scene)
    return tiles
