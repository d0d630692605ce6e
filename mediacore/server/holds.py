"""Hold with music, for phones that hold and for dispatchers who hold a participant.

A held participant stays in its room but leaves the mix and hears music on hold
(mediacore/holdmusic.py): the `[sip] hold_music` file, decoded at the room's rate into the
announcements' clip cache (the room's process maps it), or the built-in melody.

- A phone that re-INVITEs with sendonly, inactive or c=0.0.0.0 holds the call: its room holds it
  (nothing it sends is mixed; by RFC 3264 our answer is recvonly or inactive, so we send it
  nothing either: the phone plays its own tone). Its re-INVITE back to sendrecv resumes it.
- A dispatcher's hold (`hold`) of a SIP participant also re-INVITEs the phone with our session
  `sendonly`: the phone knows it is held (its display says so) and it hears the music, which
  we keep sending; `resume` re-INVITEs it back to sendrecv. Other legs (WebRTC, RTP, radio)
  have no signalling for it: they just hear the music instead of the room."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from mediacore.server.clips import ClipCache, ClipError
from mediacore.server.rooms import Rooms
from sip.useragent import SipUserAgent

log = logging.getLogger(__name__)


class HoldRefused(Exception):
    """The phone refused the re-INVITE that holds or resumes it."""


class Holds:
    def __init__(self, rooms: Rooms, agent: SipUserAgent, clips: ClipCache, music: str) -> None:
        self.rooms = rooms
        self.agent = agent
        self.clips = clips
        self.music_file = music
        self._tasks: set[asyncio.Task[Any]] = set()
        agent.on_hold_changed = self.phone_hold_changed

    async def music_for(self, room: str) -> str | None:
        """The hold music's clip file at `room`'s rate, or None for the built-in melody (also
        when the configured file cannot be played: the melody is better than silence)."""
        if not self.music_file:
            return None
        rate = int((await self.rooms.summary(room))["rate"])
        try:
            clip = await asyncio.to_thread(self.clips.prepare, Path(self.music_file), rate)
        except (ClipError, OSError) as error:
            log.warning("hold music unusable", extra={"file": self.music_file, "error": str(error)})
            return None
        return str(clip.path)

    async def hold(self, room: str, participant: str, by: str) -> dict[str, Any]:
        """Hold a participant (a SIP one is re-INVITEd sendonly first). Raises the room calls'
        errors, or HoldRefused."""
        await self.rooms.participant(room, participant)  # NoSuchRoom / NoSuchParticipant
        call = self.agent.call_in(room, participant)
        if call is not None and not await call.set_local_hold(True):
            raise HoldRefused("the phone refused the re-INVITE that holds it")
        return await self.rooms.hold(room, participant, by, await self.music_for(room))

    async def resume(self, room: str, participant: str, by: str) -> dict[str, Any]:
        """Take a participant off hold (a SIP one is re-INVITEd sendrecv). A phone that holds
        the call itself stays held until it resumes. Raises like `hold`."""
        await self.rooms.participant(room, participant)
        call = self.agent.call_in(room, participant)
        if call is not None:
            if not await call.set_local_hold(False):
                raise HoldRefused("the phone refused the re-INVITE that resumes it")
            if call.remote_hold:
                return await self.rooms.participant(room, participant)
        return await self.rooms.resume(room, participant, by)

    def phone_hold_changed(self, room: str, participant: str, held: bool) -> None:
        """A phone held or resumed the call with a re-INVITE."""
        self._spawn(self._phone_hold(room, participant, held))

    async def _phone_hold(self, room: str, participant: str, held: bool) -> None:
        try:
            if held:
                await self.rooms.hold(room, participant, "phone", await self.music_for(room))
            else:
                await self.rooms.resume(room, participant, "phone")
        except LookupError:
            pass  # it left meanwhile

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
