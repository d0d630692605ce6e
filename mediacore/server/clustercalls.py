"""SIP calls that outlive their node: recorded in Redis, carried on by the survivor.

Every `every` seconds the node writes a record (callrecord.py) of each confirmed SIP call it
carries into `mc:call:<node>:<call-id>` (listed in `mc:calls:<node>`), rewriting only those
that changed and deleting those that ended. When a survivor reopens a dead node's room (the
failover publishes `room.moved` with `from` and `to`), it takes each of that room's records
(one Lua step: read and delete, so only one node ever carries a call on) and:

- re-INVITEs a phone in the same dialog (same Call-ID and tags, a later CSeq, through the
  route set, so through Kamailio when it record-routes), with an offer from a new leg here:
  the phone keeps its call and sends its media here (`call.resumed`);
- when the phone refuses (481) or does not answer, dials a dial-out's party again
  (`call.redialled`) or gives an inbound call up (`call.lost`);
- leaves a configured radio gateway to the node that claims it (ownership.py), which calls
  it again.

Redis unreachable never stops a call: the write is tried again at the next round."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mediacore.events import Event, EventBus
from mediacore.legpolicy import LegPolicy
from mediacore.participant import Participant
from mediacore.room import RoomError
from mediacore.rtpsession import RtpLeg
from mediacore.server import clusterredis as keys
from mediacore.server.callrecord import (
    GIVE_UP,
    REDIAL,
    REINVITE,
    CallRecord,
    RecordError,
    after_refusal,
    next_hop,
    parse_peer,
    takeover_plan,
)
from mediacore.server.callstanding import CallStanding
from mediacore.server.radiogateways import GatewayKeeper
from sip.call import SipCall
from sip.dialout import Dialer, DialError
from sip.stack import resolve
from sip.useragent import SipUserAgent

log = logging.getLogger(__name__)

REINVITE_TIMEOUT = 8.0  # seconds a phone has to answer the survivor's re-INVITE
TAKEN_OVER = "node-lost"  # the reason of a call that could not be carried on

# KEYS: the record, the node's set. ARGV: the call id. Read and delete in one step.
_TAKE = """
local fields = redis.call('HGETALL', KEYS[1])
if #fields > 0 then
  redis.call('DEL', KEYS[1])
end
redis.call('SREM', KEYS[2], ARGV[1])
return fields
"""


class ClusterCalls:
    def __init__(
        self,
        node: str,
        redis: aioredis.Redis,
        agent: SipUserAgent,
        dialer: Dialer,
        gateways: GatewayKeeper,
        bus: EventBus,
        standing: CallStanding | None = None,
    ) -> None:
        """`standing`: what was set on the calls' participants (carried with them)."""
        self.standing = standing
        self.node = node
        self.redis = redis
        self.agent = agent
        self.dialer = dialer
        self.gateways = gateways
        self.bus = bus
        self.written: dict[str, CallRecord] = {}  # by Call-ID: what Redis holds of ours
        self._failing = False
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- our calls, written down ----------------------------------------------------------

    def records(self) -> dict[str, CallRecord]:
        """The record of every confirmed call in a room this node carries, by Call-ID."""
        found: dict[str, CallRecord] = {}
        for call in list(self.agent.calls.values()):
            room = self.agent.rooms(call.room_name or "")
            participant = room.participants.get(call.participant_id or "") if room else None
            if participant is None:
                continue
            standing = (
                self.standing.fields(call.room_name or "", participant.id) if self.standing else {}
            )
            record = CallRecord.of(
                call,
                node=self.node,
                name=participant.name,
                priority=participant.priority,
                gateway=self.gateways.gateway_of(participant.id),
                **standing,
            )
            if record is not None:
                found[record.call_id] = record
        return found

    async def sync(self) -> None:
        """Write what changed since the last round; never raises (Redis unreachable: the
        next round tries again)."""
        current = self.records()
        changed = {cid: r for cid, r in current.items() if self.written.get(cid) != r}
        gone = [cid for cid in self.written if cid not in current]
        if not changed and not gone:
            return
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for call_id, record in changed.items():
                    key = keys.call_key(self.node, call_id)
                    pipe.delete(key)
                    fields: dict[Any, Any] = record.to_hash()
                    pipe.hset(key, mapping=fields)
                    pipe.sadd(keys.calls_key(self.node), call_id)
                for call_id in gone:
                    pipe.delete(keys.call_key(self.node, call_id))
                    pipe.srem(keys.calls_key(self.node), call_id)
                await pipe.execute()
        except (RedisError, OSError) as error:
            if not self._failing:
                log.warning("call records not written: %s", error)
            self._failing = True
            return
        self._failing = False
        self.written = current

    async def resume_own(self, rooms: Iterable[str]) -> list[dict[str, Any]]:
        """At start: the calls this node's previous process left in `rooms` (open here again)
        are carried on as a survivor carries a dead node's; the rest are forgotten (their
        rooms are another node's now, or gone). Answers what became of each. Never raises."""
        outcomes: list[dict[str, Any]] = []
        for room in sorted(rooms):
            outcomes += await self.take_over(room, self.node)
        await self.withdraw()
        return outcomes

    async def withdraw(self) -> None:
        """Forget every record under this node's name: at start, those of its previous
        process left for no room here, and at a clean stop (its calls are over)."""
        try:
            call_ids = [str(c) for c in await self.redis.smembers(keys.calls_key(self.node))]
            async with self.redis.pipeline(transaction=True) as pipe:
                for call_id in call_ids:
                    pipe.delete(keys.call_key(self.node, call_id))
                pipe.delete(keys.calls_key(self.node))
                await pipe.execute()
        except (RedisError, OSError) as error:
            log.warning("call records not withdrawn: %s", error)
        self.written = {}

    # -- a dead node's calls, carried on ---------------------------------------------------

    def follow(self) -> None:
        """Carry on the calls of the rooms this node takes over (bus listener)."""
        self.bus.listen(self._event)

    def unfollow(self) -> None:
        self.bus.unlisten(self._event)

    def _event(self, event: Event) -> None:
        if event.type != "room.moved" or event.room is None or event.data.get("to") != self.node:
            return
        dead = event.data.get("from")
        if isinstance(dead, str) and dead:
            self._spawn(self.take_over(event.room, dead))

    async def take_over(self, room: str, dead: str) -> list[dict[str, Any]]:
        """Carry on the calls `dead` had in `room` (now open here); answers what became of
        each ({"participant", "outcome"}). Never raises."""
        try:
            records = await self._take(room, dead)
        except (RedisError, OSError) as error:
            log.warning("calls not taken over: %s", error, extra={"room": room, "from": dead})
            return []
        outcomes = await asyncio.gather(*(self._carry(record) for record in records))
        if self.standing is not None:  # once all are back: a whisper needs its listeners
            carried = zip(records, outcomes, strict=True)
            whispers = [(r.participant, r.whispers) for r, o in carried if o == REINVITE]
            await self.standing.rewhisper(room, whispers)
        return [
            {"participant": record.participant, "outcome": outcome}
            for record, outcome in zip(records, outcomes, strict=True)
        ]

    async def _take(self, room: str, dead: str) -> list[CallRecord]:
        """The records of `dead`'s calls in `room`, removed from Redis as they are read."""
        taken: list[CallRecord] = []
        for call_id in sorted(str(c) for c in await self.redis.smembers(keys.calls_key(dead))):
            key = keys.call_key(dead, call_id)
            if await self.redis.hget(key, "room") != room:
                continue
            flat = await self.redis.eval(_TAKE, 2, key, keys.calls_key(dead), call_id)
            if not flat:
                continue  # another node took it, or its call ended
            try:
                taken.append(CallRecord.from_hash(dict(zip(flat[::2], flat[1::2], strict=True))))
            except RecordError as error:
                log.warning("call record skipped: %s", error, extra={"room": room})
        return taken

    async def _carry(self, record: CallRecord) -> str:
        plan = takeover_plan(record)
        if plan == REINVITE:
            try:
                if await self._reinvite(record):
                    if self.standing is not None:  # muted, monitors...: as it was set
                        await self.standing.reapply(record.room, record.participant, record.changes)
                    self._publish("call.resumed", record)
                    return REINVITE
            except Exception as error:  # no leg, no route: this call only, never the others
                log.info("call not re-INVITEd: %s", error, extra={"room": record.room})
            plan = after_refusal(record)
        if plan == REDIAL:
            return await self._redial(record)
        if plan == GIVE_UP:
            self._publish("call.lost", record, reason=TAKEN_OVER)
        return plan

    async def _reinvite(self, record: CallRecord) -> bool:
        """The call's dialog carried on here: a new leg in the room, a re-INVITE with its
        offer, and the participant (same id, name and priority) back in the room."""
        agent = self.agent
        room = agent.rooms(record.room)
        if room is None:
            return False
        hop = next_hop(record)
        peer = await resolve(hop) if hop is not None else parse_peer(record.peer)
        policy = LegPolicy.from_json(json.loads(record.policy))
        local_address = agent.stack.local_host(peer.host)
        leg, offer = await agent.legs.offer(room, local_address, RtpLeg, None, policy)
        call = SipCall(leg, clock=agent.clock, policy=policy)
        call.dialog = record.dialog(f"<{agent.stack.contact_uri(record.room, peer)}>", peer)
        call.direction = record.direction
        call.remote_uri = record.remote_uri
        call.local_address = local_address
        call.trunk = record.trunk or None
        call.room_name = record.room
        call.participant_id = record.participant
        agent.carry(call)
        try:
            carried = await asyncio.wait_for(call.reinvite(offer, leg), REINVITE_TIMEOUT)
        except OSError:  # no answer in time (TimeoutError), or the phone cannot be reached
            carried = False
        if not carried:
            call.ended = True
            agent.call_finished(call)
            await leg.close("refused")
            return False
        participant = Participant(
            name=record.name,
            endpoint=call,
            id=record.participant,
            duplex="half" if call.floor_listener else "full",
            priority=record.priority,
        )
        agent.seat(call, participant)
        room.add(participant)
        return True

    async def _redial(self, record: CallRecord) -> str:
        room = self.agent.rooms(record.room)
        try:
            if room is None:
                raise DialError(404, "no-room", f"room {record.room!r} is not open here")
            participant = await self.dialer.dial(
                room, record.remote_uri, record.name, record.trunk or None,
                priority=record.priority,
            )  # fmt: skip
        except (DialError, RoomError) as error:
            log.info("dial-out not redialled: %s", error, extra={"room": record.room})
            self._publish("call.lost", record, reason=TAKEN_OVER)
            return GIVE_UP
        self._publish("call.redialled", record, now=participant)
        return REDIAL

    def _publish(self, kind: str, record: CallRecord, **data: Any) -> None:
        self.bus.publish(
            kind,
            record.room,
            participant=record.participant,
            call_id=record.call_id,
            uri=record.remote_uri,
            from_node=record.node,
            to_node=self.node,
            **data,
        )

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        self.unfollow()
        for task in list(self._tasks):
            task.cancel()
