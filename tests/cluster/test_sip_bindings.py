"""SIP bindings shared through the cluster's Redis (mc:reg:<user>), against a real Redis: what a
node writes after a REGISTER, what another node reads back, that an unregistration removes
only the node's own binding, and that an unreachable Redis costs a lookup a second at most and
never an exception."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from mediacore.server.clusterredis import reg_key
from mediacore.server.sipbindings import RedisBindings, binding_fields, shared_binding
from sip.registrar import Binding
from sip.sharedbindings import SharedBinding
from sip.transaction import Peer

KAMAILIO = Peer("udp", "10.77.0.1", 5060)
PATH = ("<sip:10.77.0.1:5060;lr;received=sip:10.77.0.1:40000%3btransport%3dudp>",)
CONTACT = "sip:bob@10.77.0.1:40000;ob"


def binding(expires_at: float, now: float = 0.0, path: tuple[str, ...] = PATH) -> Binding:
    return Binding("bob", CONTACT, KAMAILIO, expires_at, now, "reg-1", 1, "phone", path)


def client(url: str) -> aioredis.Redis:
    return aioredis.from_url(url, decode_responses=True, socket_timeout=1.0)


def test_the_hash_holds_contact_path_expiry_holder_source_and_the_phone_s_address() -> None:
    fields = binding_fields(binding(300.0), "n1", now=0.0, wall_now=1_000.0)
    assert fields == {
        "contact": CONTACT,
        "path": PATH[0],
        "expires": "1300",
        "node": "n1",
        "source": "udp:10.77.0.1:5060",
        "received": "sip:10.77.0.1:40000;transport=udp",
    }
    assert shared_binding(fields, 1_000.0) == SharedBinding(CONTACT, PATH, KAMAILIO)
    assert shared_binding(fields, 1_300.0) is None  # expired
    assert shared_binding({"contact": CONTACT}, 0.0) is None  # malformed
    assert "received" not in binding_fields(binding(300.0, path=()), "n1", 0.0, 0.0)


async def wait_for_key(redis: aioredis.Redis, key: str, present: bool) -> None:
    for _ in range(100):
        if bool(await redis.exists(key)) == present:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{key} {'never appeared' if present else 'stayed'}")


async def test_one_node_registers_another_finds_and_unregistering_removes(redis_url: str) -> None:
    n1, n2 = RedisBindings(client(redis_url), "n1"), RedisBindings(client(redis_url), "n2")
    probe = client(redis_url)
    try:
        n1.registered("bob", [binding(300.0)], now=0.0)
        await wait_for_key(probe, reg_key("bob"), True)
        assert await n2.find("bob") == SharedBinding(CONTACT, PATH, KAMAILIO)
        assert 290_000 < await probe.pttl(reg_key("bob")) <= 300_000  # expires with the binding
        assert await n2.find("carol") is None
        n2.registered("bob", [], now=0.0)  # n2 never held bob's binding: it stays
        await asyncio.sleep(0.2)
        assert await probe.exists(reg_key("bob"))
        n1.registered("bob", [], now=0.0)
        await wait_for_key(probe, reg_key("bob"), False)
    finally:
        await n1.close()
        await n2.close()
        await probe.aclose()


async def test_an_unreachable_redis_answers_not_registered_within_a_second() -> None:
    away = RedisBindings(client("redis://127.0.0.1:9/0"), "n1")  # port 9: nothing listens
    try:
        away.registered("bob", [binding(300.0)], now=0.0)  # a write that fails in the background
        started = time.monotonic()
        assert await away.find("bob") is None
        assert time.monotonic() - started < 2.5
    finally:
        await away.close()
