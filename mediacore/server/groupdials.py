"""Group dial jobs (dialjob.py) over the SIP dialer: `POST /rooms/{room}/dial {"group"}`.

Calls go through the same dialer as `{"uri"}` dial-outs (sip/dialout.py), radio gateways
through the gateway keeper's `dial_gateway`, so routing (trunks, registrations, ED-137) is
theirs. Rooms are seen as SIP calls see them (`sip.roomport.CallRoom`), here or in a media
worker alike. Finished jobs are kept a while for `GET /rooms/{room}/dials/{job}`."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

from mediacore.events import EventBus
from mediacore.room import RoomClosed, RoomError
from mediacore.server.dialjob import AttemptRefused, DialJob, JobPorts, Presence
from mediacore.server.groups import GroupError, Groups
from mediacore.server.parties import DialTarget, PartyBook, PartyError, call_identities
from mediacore.server.radiogateways import dial_gateway
from sip.call import SipCall
from sip.dialout import Dialer, DialError, DialProgress
from sip.roomport import CallRoom

CALLS_AT_ONCE = 32  # group members ringing at once, over every job
KEPT_FINISHED = 100  # finished jobs still shown


class GroupDials:
    def __init__(
        self,
        groups: Groups,
        book: PartyBook,
        dialer: Dialer,
        rooms: Callable[[str], CallRoom | None],
        bus: EventBus,
    ) -> None:
        self.groups = groups
        self.book = book
        self.dialer = dialer
        self.rooms = rooms
        self.bus = bus
        self._jobs: dict[str, DialJob] = {}
        self._limit = asyncio.Semaphore(CALLS_AT_ONCE)

    def start(self, room: str, group_name: str, by: str = "") -> DialJob:
        """Dial every member of the group into `room`; the job runs on in tasks. Raises
        GroupError (404 unknown group) and KeyError (no such room)."""
        if self.rooms(room) is None:
            raise KeyError(room)
        group = self.groups.get(group_name)
        if group is None:
            raise GroupError(404, "group-not-found", f"no group named {group_name!r}")
        targets: list[DialTarget | PartyError] = []
        for party in group.members:
            try:
                targets.append(self.book.target(party))
            except PartyError as error:
                targets.append(error)
        ports = JobPorts(
            place=lambda target, ring, progress: self._place(room, target, ring, progress),
            present=lambda target: self._present(room, target),
            remove=lambda participant: self._remove(room, participant),
            publish=lambda kind, **data: self.bus.publish(kind, room, **data),
            limit=self._limit,
        )
        job = DialJob(f"dj-{secrets.token_hex(6)}", room, group, targets, ports, by)
        self._forget_old()
        self._jobs[job.id] = job
        job.start()
        return job

    def get(self, room: str, job_id: str) -> DialJob | None:
        job = self._jobs.get(job_id)
        return job if job is not None and job.room == room else None

    def in_room(self, room: str) -> list[DialJob]:
        return [job for job in self._jobs.values() if job.room == room]

    async def stop(self) -> None:
        """Cancel every running job (the server stops)."""
        for job in list(self._jobs.values()):
            if not job.finished:
                await job.cancel()

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self._jobs.items() if job.finished]
        for job_id in finished[: max(0, len(finished) - KEPT_FINISHED + 1)]:
            del self._jobs[job_id]

    async def _place(
        self, room_name: str, target: DialTarget, ring: float | None, progress: DialProgress
    ) -> str:
        room = self.rooms(room_name)
        try:
            if room is None:
                raise RoomClosed(f"room {room_name!r} is closed")
            room.check_capacity()
            if target.gateway is not None:
                return await dial_gateway(
                    self.dialer, target.gateway, room, ring_timeout=ring, progress=progress
                )
            return await self.dialer.dial(
                room, target.uri, target.name, target.trunk, ring_timeout=ring, progress=progress
            )
        except DialError as error:
            raise AttemptRefused(error.code, error.status) from None
        except RoomClosed:
            raise AttemptRefused("room-closed", None, final=True) from None
        except RoomError:
            raise AttemptRefused("room-full", None) from None

    def _present(self, room_name: str, target: DialTarget) -> Presence | None:
        room = self.rooms(room_name)
        if room is None:
            return None
        for participant in room.participants.values():
            call = participant.endpoint
            if not isinstance(call, SipCall) or call.ended or call.state == "failed":
                continue
            if call_identities(call.user, call.remote_uri) & target.keys:
                return Presence(participant.id, call.state == "confirmed")
        return None

    async def _remove(self, room_name: str, participant: str) -> None:
        room = self.rooms(room_name)
        if room is None:
            raise KeyError(participant)
        await room.remove(participant, "cancelled")
