"""One group dialled into a room (一键拉会): every member called at once, its progress told.

Each member goes `dialling` → `ringing` → `answered`, or ends `busy`, `no-answer` or `failed`;
those three are tried again (`retrying`, then `dialling`) up to the group's `retries`, after
`retry_delay_s`. A member already in the room (a call from or to the same party) is not called
again: it is `answered` at once with `already: true`. Cancelling the job hangs up the calls
still ringing and ends every unfinished member `cancelled`; answered ones stay in the room.

Every change is a `dial.progress` event in the room, and the end one `dial.finished`. The job
does no I/O itself: the assembly (groupdials.py) gives it how to place a call, how to find a
party in the room, how to take a ringing call out of it, and where events go."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mediacore.server.groups import Group
from mediacore.server.parties import DialTarget, PartyError
from sip.dialout import DialProgress

log = logging.getLogger(__name__)

FINAL = frozenset({"answered", "busy", "no-answer", "failed", "cancelled"})
RETRIED = frozenset({"busy", "no-answer", "failed"})
CALLING = frozenset({"dialling", "ringing"})
PRESENCE_POLL = 0.5  # seconds between looks at a member someone else is calling
# The dialer's outcomes (sip.dialout.DialProgress) as member states; the rest is "failed".
OUTCOMES = {
    "answered": "answered",
    "busy": "busy",
    "no-answer": "no-answer",
    "cancelled": "cancelled",
}


class AttemptRefused(Exception):
    """A call that could not start; `reason` is told, `final` stops the retries."""

    def __init__(self, reason: str, status: int | None, final: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.final = final


# place(target, ring_timeout or None, progress) -> participant id; raises AttemptRefused.
Place = Callable[[DialTarget, float | None, DialProgress], Awaitable[str]]
Present = Callable[[DialTarget], "Presence | None"]  # this party's call in the room, if any
Remove = Callable[[str], Awaitable[None]]  # take a ringing call out of the room
Publish = Callable[..., object]  # publish(event type, **data) into the job's room


@dataclass(frozen=True, slots=True)
class Presence:
    participant: str
    answered: bool  # False: still being called (by another job or a plain dial-out)


@dataclass(slots=True)
class MemberProgress:
    party: str
    state: str = "dialling"
    attempt: int = 0
    participant: str | None = None
    reason: str | None = None  # why the last attempt failed: busy, no-answer, not-registered...
    status: int | None = None  # the SIP or HTTP status that said so
    already: bool = False  # was in the room before the job: not called

    def to_json(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "state": self.state,
            "attempt": self.attempt,
            "participant": self.participant,
            "reason": self.reason,
            "status": self.status,
            "already": self.already,
        }


@dataclass(frozen=True, slots=True)
class JobPorts:
    place: Place
    present: Present
    remove: Remove
    publish: Publish
    limit: asyncio.Semaphore  # calls ringing at once, over every job


@dataclass(slots=True)
class _Member:
    progress: MemberProgress
    target: DialTarget | None
    refused: PartyError | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class DialJob:
    def __init__(
        self,
        job_id: str,
        room: str,
        group: Group,
        targets: list[DialTarget | PartyError],
        ports: JobPorts,
        by: str = "",
    ) -> None:
        """`targets`: one per member of `group`, in order (a PartyError for a member that no
        longer names anything: it fails at once). `by` names who started it."""
        self.id = job_id
        self.room = room
        self.group = group
        self.by = by
        self.ports = ports
        self.cancelled = False
        self.finished = False
        self._members = [
            _Member(
                MemberProgress(party),
                None if isinstance(t, PartyError) else t,
                t if isinstance(t, PartyError) else None,
            )
            for party, t in zip(group.members, targets, strict=True)
        ]
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Check who is in the room already, then call everyone else (in tasks)."""
        already: set[str] = set()
        for member in self._members:
            found = self.ports.present(member.target) if member.target is not None else None
            if found is not None and found.answered:
                already.add(member.progress.party)
                member.progress.participant = found.participant
                member.progress.already = True
                member.progress.state = "answered"
        loop = asyncio.get_running_loop()
        self._publish(
            "dial.started",
            group=self.group.name,
            by=self.by,
            members=[m.progress.to_json() for m in self._members],
        )
        for member in self._members:
            if member.progress.party in already:
                self._set(member.progress, "answered")
            else:
                member.task = loop.create_task(self._member(member))
        self._task = loop.create_task(self._run())

    def to_json(self) -> dict[str, Any]:
        members = [member.progress.to_json() for member in self._members]
        return {
            "id": self.id,
            "room": self.room,
            "group": self.group.name,
            "by": self.by,
            "state": "cancelled" if self.cancelled else "finished" if self.finished else "running",
            "members": members,
            "summary": self._summary(),
        }

    async def cancel(self) -> None:
        """Hang up what still rings, stop the retries; answered members stay. A finished job
        stays as it finished."""
        if self.finished:
            return
        self.cancelled = True
        for member in self._members:
            if member.task is not None:
                member.task.cancel()
        await self.wait()

    async def wait(self) -> None:
        """Until every member has its final state and `dial.finished` is out."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        tasks = [member.task for member in self._members if member.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        self.finished = True
        self._publish(
            "dial.finished",
            group=self.group.name,
            cancelled=self.cancelled,
            summary=self._summary(),
            members=[m.progress.to_json() for m in self._members],
        )

    def _summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for member in self._members:
            counts[member.progress.state] = counts.get(member.progress.state, 0) + 1
        return counts

    async def _member(self, member: _Member) -> None:
        progress = member.progress
        try:
            if member.refused is not None:
                self._set(progress, "failed", reason=member.refused.code)
                return
            for attempt in range(1, self.group.retries + 2):
                if attempt > 1:
                    self._set(progress, "retrying")
                    await asyncio.sleep(self.group.retry_delay_s)
                if await self._attempt(member, attempt):
                    return
        except asyncio.CancelledError:
            if progress.state in CALLING and progress.participant is not None:
                try:
                    await self.ports.remove(progress.participant)  # CANCELs its INVITE
                except KeyError:
                    pass  # it left already
            self._set(progress, "cancelled")
        except Exception:  # one member's bug must not stall the job
            log.exception("group dial member failed", extra={"job": self.id})
            self._set(progress, "failed", reason="error")

    async def _attempt(self, member: _Member, attempt: int) -> bool:
        """One call of the member; True when no more attempts are to be made."""
        progress, target = member.progress, member.target
        assert target is not None
        present = self.ports.present(target)
        while present is not None and not present.answered:  # someone else calls it now
            await asyncio.sleep(PRESENCE_POLL)
            present = self.ports.present(target)
        if present is not None:  # in the room already (called in, or dialled otherwise)
            progress.already = True
            self._set(
                progress, "answered", participant=present.participant, reason=None, status=None
            )
            return True
        async with self.ports.limit:
            progress.attempt = attempt
            self._set(progress, "dialling", participant=None, reason=None, status=None)
            outcome: asyncio.Future[tuple[str, int | None]] = (
                asyncio.get_running_loop().create_future()
            )

            def told(state: str, status: int | None) -> None:
                if state == "ringing":
                    if progress.state == "dialling":
                        self._set(progress, "ringing", status=status)
                elif not outcome.done():
                    outcome.set_result((state, status))

            try:
                participant = await self.ports.place(target, self.group.ring_timeout_s, told)
            except AttemptRefused as refused:
                self._set(progress, "failed", reason=refused.reason, status=refused.status)
                return refused.final
            progress.participant = participant
            reason, status = await outcome
        state = OUTCOMES.get(reason, "failed")
        self._set(progress, state, reason=None if state == "answered" else reason, status=status)
        return state not in RETRIED

    def _set(self, progress: MemberProgress, state: str, **changes: Any) -> None:
        progress.state = state
        for key, value in changes.items():
            setattr(progress, key, value)
        self._publish("dial.progress", **progress.to_json())

    def _publish(self, kind: str, **data: Any) -> None:
        self.ports.publish(kind, job=self.id, **data)
