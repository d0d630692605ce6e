"""A room: participants, their control state, and the one clock that mixes them.

Control (HTTP, WebSocket, SIP) changes state through the methods here and returns; the media
task reads a snapshot of the participants each tick. Every change is published on the bus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Protocol

from mediacore.clock import MONOTONIC, Clock
from mediacore.clockphase import first_deadline, phase_of
from mediacore.codecs.base import Pcm
from mediacore.endpoint import AudioInput
from mediacore.events import EventBus
from mediacore.floor import Floor, FloorResult, FloorSettings
from mediacore.floormirror import FloorMirror, Forward
from mediacore.holdmusic import HoldMusic, LoopingClip, default_melody
from mediacore.mixing import Audiences, MixerFactory, MixerSettings, TickResult
from mediacore.participant import PRIORITIES, Participant

log = logging.getLogger(__name__)

ROOM_RATES = (8000, 16000, 24000, 48000)
ROOM_PTIMES = (10, 20)
# A tick this much past its deadline counts as late (and shows in /metrics).
LATE_TICK_SECONDS = 0.005
# Further behind than this (after a stall), the clock skips ticks instead of running the backlog;
# anything shorter is worked off at once, so the legs' jitter buffers do not keep the backlog.
MAX_BACKLOG_TICKS = 50
MAX_PARTICIPANTS = 2000  # per room; a room may set a lower `max_participants`
MOVED = "moved"  # the reason a participant leaves a room with when it moves to another


class RoomError(ValueError):
    """A request that does not fit the room (unknown participant, bad setting)."""


class RoomClosed(RoomError):
    """The room was closed while the request was on its way."""


class RoomFull(RoomError):
    """The room already holds `max_participants`."""


@dataclass(frozen=True, slots=True)
class RoomSettings:
    name: str
    ptime: int = 20
    rate: int = 48000
    floor: Literal["deny", "queue"] = "deny"
    max_talkers: int = 4
    talk_on_dbfs: float = -45.0
    talk_off_dbfs: float = -55.0
    talk_hang_ms: int = 400
    pin: str = ""  # callers without a SIP account enter it as DTMF; empty: no PIN entry
    max_participants: int = MAX_PARTICIPANTS
    floor_hang_ms: int = 500  # squelch closed or VOX quiet this long releases the floor
    floor_timeout_s: int = 60  # talk time-out: the floor is taken back after this long; 0: never
    record: bool = False  # record from the moment the room opens
    retention_days: int = 0  # recordings older than this are deleted (legal holds kept); 0: keep
    retention_max_mb: int = 0  # oldest recordings go beyond this total; 0: no limit
    # the composed conference picture: {"layout", "width", "height", "fps"} (checked by the
    # server, which paints it: mixer.conferencevideo); None: the defaults
    video: dict[str, Any] | None = None

    @property
    def period(self) -> float:
        """The clock's tick, seconds."""
        return self.ptime / 1000

    def validate(self) -> RoomSettings:
        if not isinstance(self.name, str) or not _is_room_name(self.name):
            raise RoomError(
                "room names are 1-64 letters, digits, '-', '_' or '.', "
                "starting with a letter or digit"
            )
        for key in (
            "ptime",
            "rate",
            "max_talkers",
            "talk_hang_ms",
            "max_participants",
            "floor_hang_ms",
            "floor_timeout_s",
            "retention_days",
            "retention_max_mb",
        ):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool):
                raise RoomError(f"{key} must be a whole number")
        for key in ("talk_on_dbfs", "talk_off_dbfs"):
            value = getattr(self, key)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (-127.0 <= value <= 0.0)
            ):
                raise RoomError(f"{key} must be a level between -127 and 0 dBFS")
        if not 0 <= self.talk_hang_ms <= 10000:
            raise RoomError("talk_hang_ms must be 0-10000")
        if self.ptime not in ROOM_PTIMES:
            raise RoomError(f"room ptime must be one of {ROOM_PTIMES} ms")
        if self.rate not in ROOM_RATES:
            raise RoomError(f"room rate must be one of {ROOM_RATES} Hz")
        if self.floor not in ("deny", "queue"):
            raise RoomError("floor must be 'deny' or 'queue'")
        if not 1 <= self.max_talkers <= 32:
            raise RoomError("max_talkers must be 1-32")
        if not 0 <= self.floor_hang_ms <= 10000:
            raise RoomError("floor_hang_ms must be 0-10000")
        if not 0 <= self.floor_timeout_s <= 3600:
            raise RoomError("floor_timeout_s must be 0 (never) to 3600 seconds")
        if not isinstance(self.record, bool):
            raise RoomError("record must be true or false")
        if self.video is not None and not isinstance(self.video, dict):
            raise RoomError("video must be an object")
        if not 0 <= self.retention_days <= 36500:
            raise RoomError("retention_days must be 0 (keep) to 36500")
        if not 0 <= self.retention_max_mb <= 100_000_000:
            raise RoomError("retention_max_mb must be 0 (no limit) to 100000000")
        if not 1 <= self.max_participants <= MAX_PARTICIPANTS:
            raise RoomError(f"max_participants must be 1-{MAX_PARTICIPANTS}")
        if self.talk_off_dbfs > self.talk_on_dbfs:
            raise RoomError("talk_off_dbfs must not be above talk_on_dbfs")
        if not isinstance(self.pin, str) or not (
            self.pin == ""
            or (4 <= len(self.pin) <= 12 and self.pin.isascii() and self.pin.isdigit())
        ):
            raise RoomError("pin must be empty or 4-12 digits")
        return self

    def to_json(self) -> dict[str, Any]:
        """The settings as the API shows them; a PIN is a secret, so only whether one is set."""
        settings = asdict(self)
        settings["pin"] = bool(self.pin)
        return settings


_HEARING = {"hear_not", "hear_only"}
# What reaches other rooms (mediacore/relays.py keeps it); "broadcast" is set by broadcasts.
RELAYED_CHANGES = frozenset({"monitor", "transmit", "broadcast"})
MAX_RELATIONS = 256


def _participant_ids(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(item, str) and 0 < len(item) <= 64 for item in value
    ):
        raise RoomError(f"{key} must be a list of participant ids")
    if len(value) > MAX_RELATIONS:
        raise RoomError(f"{key} lists at most {MAX_RELATIONS} participants")
    return tuple(sorted(set(value)))


def _is_room_name(name: str) -> bool:
    # The first character rules out "." and "..", which URL normalisation would swallow.
    return (
        0 < len(name) <= 64
        and name[0].isascii()
        and name[0].isalnum()
        and all(c.isascii() and (c.isalnum() or c in "-_.") for c in name)
    )


@dataclass(slots=True)
class ClockStatistics:
    ticks: int = 0
    late_ticks: int = 0
    skipped_ticks: int = 0
    max_lateness: float = 0.0
    last_mix_seconds: float = 0.0


TickObserver = Callable[["Room", float, float], None]  # (room, lateness, mix seconds)


class ShardLinks(Protocol):
    """The cascade links of a room shard (see mediacore/cascade.py): remote talkers in, local
    talkers out."""

    def sources(self, now: float) -> list[Participant]:
        """Talkers on other shards, as source-only participants of this tick's mix."""
        ...

    def after_tick(
        self, tick: int, frames: dict[str, Pcm], local: dict[str, Participant], holder: str | None
    ) -> None:
        """Send this tick's local talkers (and a local floor holder) to the other shards."""
        ...


class Room:
    def __init__(
        self,
        settings: RoomSettings,
        bus: EventBus,
        *,
        make_mixer: MixerFactory,
        clock: Clock = MONOTONIC,
    ) -> None:
        """A room with `settings` (raises RoomError when they are invalid) that publishes on
        `bus`, mixes with the mixer `make_mixer` makes (the assembly's `AudioMixer`) and ticks
        on `clock`."""
        self.settings = settings.validate()
        self.media_clock = clock
        self.name = settings.name
        self.bus = bus
        self.participants: dict[str, Participant] = {}
        self.clock = ClockStatistics()
        self.tick_observers: list[TickObserver] = []
        self.mixer = make_mixer(self._mixer_settings(), self._talking_changed)
        self.hold_music = HoldMusic(make_mixer, self._mixer_settings())
        self.floor: Floor | FloorMirror = Floor(
            self._floor_settings(), self._publish_floor, self._floor_changed
        )
        self.links: ShardLinks | None = None  # set on a shard of a room that spans workers
        self._task: asyncio.Task[None] | None = None
        self._epoch = clock.now()  # the clock ticks at _epoch + n * ptime (set by start)
        self._closed = False

    def _mixer_settings(self) -> MixerSettings:
        s = self.settings
        return MixerSettings(
            rate=s.rate,
            ptime=s.ptime,
            max_talkers=s.max_talkers,
            talk_on_dbfs=s.talk_on_dbfs,
            talk_off_dbfs=s.talk_off_dbfs,
            talk_hang_ms=s.talk_hang_ms,
        )

    def _floor_settings(self) -> FloorSettings:
        s = self.settings
        return FloorSettings(
            mode=s.floor, hang_ms=s.floor_hang_ms, talk_timeout_s=float(s.floor_timeout_s)
        )

    def mirror_floor(self, forward: Forward) -> FloorMirror:
        """Make this shard follow the floor of the room's home shard instead of keeping one."""
        mirror = FloorMirror(self._floor_settings(), forward, self._floor_changed)
        self.floor = mirror
        return mirror

    # -- life cycle -----------------------------------------------------------------------

    def start(self, phase: float | None = None) -> None:
        """Start the clock: its first tick one ptime from now, or, given `phase` (seconds into
        the ptime on the media clock; mediacore/clockphase.py), at the first moment after now
        that lies at that phase."""
        period = self.period
        now = self.media_clock.now()
        first = now + period if phase is None else first_deadline(now, phase, period)
        self._epoch = first - period
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"room:{self.name}")

    @property
    def period(self) -> float:
        """The clock's tick, seconds."""
        return self.settings.period

    @property
    def phase(self) -> float:
        """Where in the ptime the clock ticks, seconds on the media clock."""
        return phase_of(self._epoch, self.period)

    async def close(self, reason: str = "room-closed") -> None:
        self._closed = True
        for participant_id in list(self.participants):
            if participant_id in self.participants:  # one leg's close may end another's
                await self.remove(participant_id, reason)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self.bus.publish("room.closed", self.name, reason=reason)

    def change(self, **changes: Any) -> RoomSettings:
        """Change settings that may change live (talk detection, max talkers, floor mode)."""
        fixed = {"name", "ptime", "rate"} & {
            k for k, v in changes.items() if v != getattr(self.settings, k)
        }
        if fixed:
            raise RoomError(f"{', '.join(sorted(fixed))} cannot change while the room is open")
        self.settings = replace(self.settings, **changes).validate()
        self.mixer.reconfigure(self._mixer_settings())
        self.floor.reconfigure(self._floor_settings())
        self.bus.publish("room.updated", self.name, settings=self.settings.to_json())
        return self.settings

    # -- participants ---------------------------------------------------------------------

    def check_capacity(self) -> None:
        """Raise RoomClosed or RoomFull when a new participant could not join now."""
        if self._closed:
            raise RoomClosed(f"room {self.name!r} is closed")
        limit = self.settings.max_participants
        if len(self.participants) >= limit:
            raise RoomFull(f"room {self.name!r} is full ({limit} participants)")

    def add(self, participant: Participant) -> Participant:
        return self._join(participant, {})

    def attach(self, participant: Participant, moved_from: str) -> Participant:
        """Join a participant `detach`ed from room `moved_from`: its endpoint stays open and
        is told its new room through `joined`. Raises RoomClosed, RoomFull or RoomError."""
        joined = self._join(participant, {"from": moved_from})
        if joined.held:  # it stays on hold, hearing this room's melody
            self.hold_music.hold(joined, self._melody())
        return joined

    def _join(self, participant: Participant, details: dict[str, Any]) -> Participant:
        self.check_capacity()
        if participant.priority not in PRIORITIES:
            raise RoomError("priority must be 0-3")
        self.participants[participant.id] = participant
        self.bus.publish(
            "participant.joined", self.name, participant=participant.roster_entry(), **details
        )
        participant.endpoint.joined(self, participant)
        log.info("participant joined", extra={"room": self.name, "participant": participant.id})
        return participant

    def get(self, participant_id: str) -> Participant:
        participant = self.participants.get(participant_id)
        if participant is None:
            raise KeyError(participant_id)
        return participant

    async def remove(self, participant_id: str, reason: str) -> None:
        participant = self._take_out(participant_id)
        try:
            await participant.endpoint.close(reason)
        except Exception:  # a leg that fails to close must still leave the room
            log.exception("closing a leg failed", extra={"participant": participant_id})
        self._say_left(participant, reason)
        log.info(
            "participant left",
            extra={"room": self.name, "participant": participant_id, "reason": reason},
        )

    def detach(self, participant_id: str, moved_to: str) -> Participant:
        """Take a participant out without closing its endpoint, as it moves to room
        `moved_to`: a floor it holds or waits for is released. Raises KeyError."""
        participant = self._take_out(participant_id)
        participant.has_floor = participant.talking = False
        self._say_left(participant, MOVED, to=moved_to)
        return participant

    def _take_out(self, participant_id: str) -> Participant:
        participant = self.participants.pop(participant_id, None)
        if participant is None:
            raise KeyError(participant_id)
        self.floor.remove(participant_id, self.media_clock.now())
        self.hold_music.resume(participant_id)  # this room's music is no longer its to hear
        return participant

    def _say_left(self, participant: Participant, reason: str, **details: Any) -> None:
        self.bus.publish(
            "participant.left",
            self.name,
            participant=participant.id,
            name=participant.name,
            reason=reason,
            **details,
        )

    def update(self, participant_id: str, **changes: Any) -> Participant:
        """Change muted, deaf, priority, gain_db, duplex, name, or whom it hears (`hear_not`,
        `hear_only`: ids of this room's participants) of one participant. The relays
        (mediacore/relays.py) write `monitor`, `transmit` and `broadcast` here too."""
        participant = self.get(participant_id)
        allowed = (
            {"muted", "deaf", "priority", "gain_db", "duplex", "name"} | _HEARING | RELAYED_CHANGES
        )
        unknown = set(changes) - allowed
        if unknown:
            raise RoomError(f"cannot change {', '.join(sorted(unknown))}")
        for key in _HEARING & set(changes):
            changes[key] = _participant_ids(key, changes[key])
        if "priority" in changes and changes["priority"] not in PRIORITIES:
            raise RoomError("priority must be 0-3")
        if "duplex" in changes and changes["duplex"] not in ("full", "half"):
            raise RoomError("duplex must be 'full' or 'half'")
        if "gain_db" in changes and not -40.0 <= float(changes["gain_db"]) <= 20.0:
            raise RoomError("gain_db must be between -40 and 20")
        changed = {k: v for k, v in changes.items() if getattr(participant, k) != v}
        for key, value in changed.items():
            setattr(participant, key, value)
        if changed:
            self.bus.publish(
                "participant.updated", self.name, participant=participant.id, changes=changed
            )
        return participant

    def hold(self, participant_id: str, by: str, music: AudioInput | None = None) -> Participant:
        """Put a participant on hold: it leaves the mix and hears `music` (the room's default
        melody when None). Publishes `participant.held`; raises KeyError."""
        participant = self.get(participant_id)
        if participant.held:
            return participant
        if music is None:
            music = self._melody()
        if self.floor.holder == participant_id:
            self.release_floor(participant_id, "hold")
        participant.held = True
        self.hold_music.hold(participant, music)
        self.bus.publish("participant.held", self.name, participant=participant_id, by=by)
        return participant

    def _melody(self) -> LoopingClip:
        rate, ptime = self.settings.rate, self.settings.ptime
        return LoopingClip(default_melody(rate), rate, ptime)

    def resume(self, participant_id: str, by: str) -> Participant:
        """Take a participant off hold: mixed again. Publishes `participant.resumed`."""
        participant = self.get(participant_id)
        if not participant.held:
            return participant
        participant.held = False
        self.hold_music.resume(participant_id)
        self.bus.publish("participant.resumed", self.name, participant=participant_id, by=by)
        return participant

    def set_whispers(self, audiences: Audiences) -> None:
        """Whispering talkers and who may hear each (mediacore/whispers.py)."""
        self.mixer.audiences = audiences

    def roster(self) -> list[dict[str, Any]]:
        return [p.roster_entry() for p in self.participants.values()]

    # -- the floor ------------------------------------------------------------------------

    def request_floor(
        self, participant_id: str, source: str, priority: int | None = None
    ) -> FloorResult:
        """A push-to-talk press; `priority` defaults to the participant's own."""
        participant = self.get(participant_id)
        if priority is None:
            priority = participant.priority
        if priority not in PRIORITIES:
            raise RoomError("priority must be 0-3")
        holding_at = self.floor.holder_priority if self.floor.holder == participant_id else None
        result = self.floor.request(participant_id, priority, source, self.media_clock.now())
        if holding_at is not None and self.floor.holder_priority != holding_at:
            # The holder pressed again at a higher priority: radios re-key with its PTT type.
            self._floor_changed(participant_id, participant_id)
        return result

    def release_floor(self, participant_id: str, source: str, hang: bool = False) -> FloorResult:
        """A push-to-talk release; with `hang` (squelch or VOX) it waits out the hang time."""
        self.get(participant_id)
        return self.floor.release(participant_id, source, self.media_clock.now(), hang=hang)

    def revoke_floor(self, participant_id: str, by: str, reason: str = "admin") -> bool:
        """Take the floor (or a queued request) away; True when there was one."""
        return self.floor.revoke(participant_id, reason, self.media_clock.now(), by=by)

    def dtmf_pressed(self, participant: Participant, digit: str) -> None:
        """Phones in PTT mode (half duplex) talk with `*` and stop with `#`."""
        if participant.duplex != "half" or participant.id not in self.participants:
            return
        if digit == "*":
            self.request_floor(participant.id, "dtmf")
        elif digit == "#":
            self.release_floor(participant.id, "dtmf")

    def floor_holder(self, sources: list[Participant] | None = None) -> Participant | None:
        """The floor holder among this room's participants, or among `sources` (talkers on
        other shards) when it holds the floor there."""
        holder = self.floor.holder
        if holder is None:
            return None
        found = self.participants.get(holder)
        if found is None and sources:
            found = next((p for p in sources if p.id == holder), None)
        return found

    def _publish_floor(self, type: str, **data: Any) -> None:
        self.bus.publish(type, self.name, **data)

    def _floor_changed(self, old: str | None, new: str | None) -> None:
        previous = self.participants.get(old) if old is not None else None
        if previous is not None:
            previous.has_floor = False
        holder = self.participants.get(new) if new is not None else None
        if holder is not None:
            holder.has_floor = True
        # The grant's priority, not the participant's: an emergency PTT (priority 3 in the
        # request) keys the radios as emergency even for a participant joined at priority 0.
        priority = self.floor.holder_priority if new is not None else None
        for participant in list(self.participants.values()):
            if self.floor.holder != new:
                return  # a leg took the floor in its callback (late entry): that call told all
            participant.endpoint.floor_changed(new, priority or 0)

    def _talking_changed(self, participant: Participant, talking: bool) -> None:
        if participant.id not in self.participants:
            return  # a talker on another shard: its own shard tells
        self.bus.publish(
            "talking",
            self.name,
            participant=participant.id,
            talking=talking,
            level_db=round(participant.level_db, 1),
        )

    # -- the clock ------------------------------------------------------------------------

    async def _run(self) -> None:
        """Tick every ptime on absolute deadlines (t0 + n * ptime), never sleep(ptime)."""
        period = self.period
        start = self._epoch
        tick = 0
        housekeeping_every = max(1, int(1.0 / period))
        while True:
            tick += 1
            deadline = start + tick * period
            delay = deadline - self.media_clock.now()
            if delay > 0:
                await asyncio.sleep(delay)
            now = self.media_clock.now()
            lateness = now - deadline
            if lateness > MAX_BACKLOG_TICKS * period:
                skipped = int(lateness / period)
                tick += skipped
                self.clock.skipped_ticks += skipped
            self.clock.ticks += 1
            if lateness > LATE_TICK_SECONDS:
                self.clock.late_ticks += 1
            self.clock.max_lateness = max(self.clock.max_lateness, lateness)
            try:
                self.floor.tick(now)
                result = self._mix(tick, now)
                self.clock.last_mix_seconds = result.seconds
            except Exception:  # one bad frame must not stop the room's clock
                log.exception("mixer tick failed", extra={"room": self.name})
                continue
            for observer in self.tick_observers:
                observer(self, lateness, result.seconds)
            if tick % housekeeping_every == 0:
                await self._housekeeping(now)

    def _mix(self, tick: int, now: float) -> TickResult:
        participants = list(self.participants.values())
        if self.hold_music.held:
            participants = self.hold_music.play(tick, now, participants)
        if self.links is None:
            return self.mixer.tick(tick, now, participants, self.floor_holder())
        remote = self.links.sources(now)
        holder = self.floor_holder(remote)
        result = self.mixer.tick(tick, now, participants + remote, holder, convert_holder=True)
        self.links.after_tick(tick, result.frames, self.participants, self.floor.holder)
        return result

    async def _housekeeping(self, now: float) -> None:
        for participant in list(self.participants.values()):
            reason = participant.endpoint.check(now)
            if reason is not None and participant.id in self.participants:
                await self.remove(participant.id, reason)
