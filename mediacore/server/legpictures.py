"""The composed picture a SIP or plain RTP leg asks for (mediacore.composedpicture), as the
server's conferences give it: at the size of the leg's a=imageattr when a conference picture may
have that size (mixer.conferencevideo: even, 16x16 to 1920x1088), else at the room's."""

from __future__ import annotations

from mediacore.composedpicture import ComposeId
from mixer.conferencevideo import normalized, parse_conference_video
from mixer.layout import LayoutError

NoSize = tuple[None, None]


def leg_picture_size(width: int | None, height: int | None) -> tuple[int, int] | NoSize:
    """(width, height) when a conference picture may be that size, else (None, None)."""
    if width is None or height is None:
        return None, None
    try:
        parse_conference_video({**normalized({}), "width": width, "height": height})
    except LayoutError:
        return None, None
    return width, height


def leg_composer(composed: ComposeId) -> ComposeId:
    """`composed` (ConferenceService.composed) with a size it cannot take replaced by the
    room's."""

    async def compose(
        room: str, participant: str, width: int | None, height: int | None, bitrate: float | None
    ) -> str:
        fit_width, fit_height = leg_picture_size(width, height)
        return await composed(room, participant, fit_width, fit_height, bitrate)

    return compose
