"""Radio gateways are called by one node at a time: the claim's holder, until it stops renewing."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from mediacore.server.ownership import Ownership


async def test_one_node_holds_a_gateway_and_a_survivor_takes_it_when_the_claim_lapses(
    redis_url: str,
) -> None:
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        first = Ownership(client, "n1", "gateway", ["tower"], ttl_ms=300)
        second = Ownership(client, "n2", "gateway", ["tower"], ttl_ms=300)
        assert await first.refresh() == {"tower"}
        assert await second.refresh() == set()
        assert first.owns("tower") and not second.owns("tower")
        await asyncio.sleep(0.2)
        assert await first.refresh() == set()  # renewed: still its own, nothing new
        await asyncio.sleep(0.2)
        assert await second.refresh() == set()  # the renewal holds it past the first expiry
        await asyncio.sleep(0.4)  # the first node is dead: it renews no more
        assert await second.refresh() == {"tower"}
        assert await first.refresh() == set() and not first.owns("tower")
        await second.release()
        assert await first.refresh() == {"tower"}  # a clean stop hands it on at once
    finally:
        await client.aclose()


async def test_unreachable_redis_keeps_what_each_node_had() -> None:
    client = aioredis.from_url(
        "redis://127.0.0.1:1/0", socket_timeout=0.2, socket_connect_timeout=0.2
    )
    try:
        node = Ownership(client, "n1", "gateway", ["tower"], ttl_ms=300)
        node.owned = {"tower"}
        assert await node.refresh() == set()
        assert node.owns("tower")
    finally:
        await client.aclose()
