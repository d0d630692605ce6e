"""Roll calls (点名) as the server runs them: a named participant in the focus of the room's
conference picture, asked to speak, until the roll call ends.

Starting one (mediacore.rollcall keeps the book: one per room) does three things:
- the room's composed picture focuses on the participant whoever talks (a picture rule,
  mixer.focus.focus_on, applied by the conference service);
- an announcement asks it to speak, in speech (espeak-ng through mediacore.server.
  announcements): "请<name>发言" in Chinese, "<name>, please speak" in English;
- a half-duplex participant (a radio, a phone in PTT mode) is granted the floor once the
  announcement has been heard (the announcement holds the floor while it plays), at the
  caller's floor priority, so that it is heard when it answers.
It ends by DELETE, by the room's next roll call, after its timeout, or when the participant
leaves or the room closes; the floor it granted is released then (if still held), and an
announcement still playing is stopped. Events: `conference.rollcall` with `state` "started"
(participant, name, by, timeout_s, announce) and "ended" (reason); the announcement has its
own (`announcement.started` and so on), its id in the roll call's description."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from typing import Any

from mediacore.clock import MONOTONIC, Clock
from mediacore.events import Event, EventBus
from mediacore.rollcall import LEFT, ROOM_CLOSED, Ended, RollCall, RollCalls
from mediacore.room import RoomError
from mediacore.server.announcements import KIND, AnnouncementRequest, Announcements
from mediacore.server.clips import ClipError
from mediacore.server.rooms import Rooms
from mediacore.server.speech import SpeechError, guess_lang
from mixer.focus import focus_on
from mixer.layout import Layout
from mixer.variants import Picture
from mixer.wall import Scene

log = logging.getLogger(__name__)

EVENT = "conference.rollcall"
FLOOR_SOURCE = "rollcall"
ANNOUNCEMENT_PRIORITY = 2  # as announcements play by default
DEFAULT_TIMEOUT_S = 60.0


class RollCallRefused(Exception):
    """The participant cannot be called on (an announcement, say): a 409."""


def ask_to_speak(name: str, lang: str) -> str:
    """What the announcement says."""
    return f"请{name}发言" if lang == "zh" else f"{name}, please speak"


@dataclass(slots=True)
class _Asked:
    """How the participant was asked: the announcement playing, the floor it is to get."""

    call: RollCall
    half_duplex: bool
    priority: int
    announcement: str | None = None
    floor: str | None = None  # None: not needed; "pending", or the floor request's result


class RollCallService:
    def __init__(
        self,
        rooms: Rooms,
        announcements: Announcements,
        bus: EventBus,
        clock: Clock = MONOTONIC,
    ) -> None:
        self._rooms = rooms
        self._announcements = announcements
        self._bus = bus
        self._clock = clock
        self.book = RollCalls()
        self._asked: dict[str, _Asked] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        bus.listen(self._event)

    # -- the picture rule -----------------------------------------------------------------

    def layout(self, room: str, layout: Layout) -> Layout:
        participant = self.book.focus(room)
        return layout if participant is None else focus_on(layout, participant)

    def picture(self, room: str, tiles: Picture, scene: Scene) -> Picture:
        call = self.book.get(room)
        if call is None:
            return tiles
        # a participant without a camera (a radio) is not among the scene's names: its slate
        # says who is called on all the same
        return tuple(
            replace(t, label=call.name)
            if t.source_id == call.participant and t.label == call.participant
            else t
            for t in tiles
        )

    # -- what the API calls ---------------------------------------------------------------

    async def start(
        self,
        room: str,
        participant: str,
        by: str,
        *,
        priority: int,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        announce: bool = True,
        lang: str | None = None,
    ) -> dict[str, Any]:
        """Call on `participant` of `room` (ending the room's roll call before, if any) and
        answer the roll call's description. Raises NoSuchRoom, NoSuchParticipant or
        RollCallRefused."""
        entry = await self._rooms.participant(room, participant)
        if entry.get("kind") == KIND:
            raise RollCallRefused(f"{participant!r} is an announcement: it cannot be called on")
        name = str(entry.get("name") or participant)
        call, replaced = self.book.start(room, participant, name, by, timeout_s, self._clock.now())
        if replaced is not None:
            self._finish(replaced)
        asked = self._asked[room] = _Asked(call, entry.get("duplex") == "half", priority)
        self._arm()
        # first the picture (this event repaints it), then the speech, which takes a moment
        self._bus.publish(
            EVENT,
            room,
            state="started",
            participant=participant,
            name=name,
            by=by,
            timeout_s=timeout_s,
            announce=announce,
        )
        answer: dict[str, Any] = {}
        if announce:
            answer = await self._announce(asked, lang or guess_lang(name))
        if asked.half_duplex:
            if asked.announcement is None:
                await self._grant(asked)
            else:
                asked.floor = "pending"  # once the announcement has played
        return {**self.describe(room), **answer}

    def describe(self, room: str) -> dict[str, Any]:
        """The room's roll call: {room, participant, name, by, timeout_s, remaining_s,
        announcement, floor}. Raises KeyError when none runs."""
        asked = self._asked.get(room)
        if asked is None or self.book.get(room) is not asked.call:
            raise KeyError(room)
        call = asked.call
        return {
            "room": room,
            "participant": call.participant,
            "name": call.name,
            "by": call.by,
            "timeout_s": call.timeout_s,
            "remaining_s": round(max(0.0, call.deadline - self._clock.now()), 1),
            "announcement": asked.announcement,
            "floor": asked.floor,
        }

    def end(self, room: str) -> None:
        """End the room's roll call (reason "ended"). Raises KeyError when none runs."""
        ended = self.book.end(room)
        if ended is None:
            raise KeyError(room)
        self._finish(ended)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        running = list(self._tasks)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    # -- asking to speak ------------------------------------------------------------------

    async def _announce(self, asked: _Asked, lang: str) -> dict[str, Any]:
        call = asked.call
        request = AnnouncementRequest(
            text=ask_to_speak(call.name, lang),
            lang=lang,
            priority=min(asked.priority, ANNOUNCEMENT_PRIORITY),
            name="roll call / 点名",
        )
        try:
            started = await self._announcements.start(call.room, request)
        except (
            SpeechError,
            ClipError,
            RoomError,
            ValueError,
            LookupError,
            ConnectionError,
        ) as error:
            # the roll call goes on in the picture (and the floor): say why nobody heard it
            log.warning("roll call in %s not announced: %s", call.room, error)
            return {"announcement_error": str(error)}
        asked.announcement = str(started["id"])
        if self._asked.get(call.room) is not asked:  # replaced meanwhile
            self._stop_announcement(call.room, asked.announcement)
        return {}

    async def _grant(self, asked: _Asked) -> None:
        call = asked.call
        if self.book.get(call.room) is not call:
            return
        try:
            result = await self._rooms.floor_action(
                call.room, call.participant, "request", asked.priority, call.by, FLOOR_SOURCE
            )
        except (LookupError, RoomError, ConnectionError) as error:
            asked.floor = "failed"
            log.warning("roll call in %s: floor not granted: %s", call.room, error)
            return
        asked.floor = str(result.get("result"))

    def _finish(self, ended: Ended) -> None:
        call = ended.roll_call
        asked = self._asked.get(call.room)
        if asked is not None and asked.call is call:
            del self._asked[call.room]
            if asked.announcement is not None and ended.reason != ROOM_CLOSED:
                self._stop_announcement(call.room, asked.announcement)
            if asked.floor == "granted" and ended.reason not in (LEFT, ROOM_CLOSED):
                self._spawn(self._release(call))
        self._bus.publish(
            EVENT,
            call.room,
            state="ended",
            participant=call.participant,
            name=call.name,
            reason=ended.reason,
        )
        self._arm()

    async def _release(self, call: RollCall) -> None:
        with contextlib.suppress(LookupError, RoomError, ConnectionError):
            await self._rooms.floor_action(
                call.room, call.participant, "release", None, call.by, FLOOR_SOURCE
            )

    def _stop_announcement(self, room: str, announcement: str) -> None:
        async def stop() -> None:
            with contextlib.suppress(LookupError, RoomError, ConnectionError):
                await self._announcements.stop(room, announcement)

        self._spawn(stop())

    # -- time and the rooms' events -------------------------------------------------------

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = self.book.timer()
        if due is not None:
            delay = max(0.0, due - self._clock.now())
            self._timer = asyncio.get_running_loop().call_later(delay, self._expire)

    def _expire(self) -> None:
        self._timer = None
        for ended in self.book.handle_timer(self._clock.now()):
            self._finish(ended)
        self._arm()

    def _event(self, event: Event) -> None:
        room, data = event.room, event.data
        if room is None or room not in self._asked:
            return
        ended: Ended | None = None
        if event.type == "participant.left" or (
            event.type == "participant.moved" and data.get("from") == room
        ):
            ended = self.book.left(room, str(data.get("participant")))
        elif event.type == "room.closed":
            ended = self.book.end(room, ROOM_CLOSED)
        elif event.type == "announcement.finished":
            asked = self._asked[room]
            if asked.announcement == data.get("id") and asked.floor == "pending":
                self._spawn(self._grant(asked))
        if ended is not None:
            self._finish(ended)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
