"""Accounts, login sessions, join links and the admin token of a cluster, kept in a real Redis:
two nodes' stores in one process, each with its own Redis client and data directory."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from mediacore.server.accounts import API, Account, Accounts
from mediacore.server.auth import ADMIN_TOKEN_FILE, TokenStore, build_token_store
from mediacore.server.clusterredis import ACCOUNTS, ADMIN_TOKEN, JOINLINK_SECRET, connect
from mediacore.server.config import ClusterSection, Config, ServerSection, TokenEntry
from mediacore.server.joinlinks import SECRET_FILE, JoinLinks
from mediacore.server.passwords import hash_password
from mediacore.server.sharedcluster import SharedState

# Cheap hashes: the tests are about where accounts are kept, not about scrypt.
CHEAP = {"n": 2, "r": 1, "p": 1}
WITHIN = 2.0  # seconds a change made on one node may take to hold on the other


class Node:
    """What a node's MediaServer builds of the shared state: its tokens, accounts, state."""

    def __init__(self, url: str, data_dir: Path, name: str, tokens: tuple[TokenEntry, ...] = ()):
        self.config = Config(
            server=replace(ServerSection(), data_dir=str(data_dir)),
            cluster=ClusterSection(redis=url, node=name),
            tokens=tokens,
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        self.tokens = build_token_store(self.config, announce=False)
        self.redis = connect(self.config.cluster)  # the node's one client (MediaServer's)
        self.shared = SharedState(self.config, self.tokens, self.redis)
        self.accounts = Accounts(data_dir, (), self.shared.accounts)

    @property
    def links(self) -> JoinLinks:
        assert self.tokens.links is not None
        return self.tokens.links

    async def settle(self) -> None:
        await self.shared.channel.settle()


Start = Callable[..., Awaitable[Node]]


@pytest.fixture
async def nodes(redis_url: str, tmp_path: Path) -> AsyncIterator[Start]:
    started: list[Node] = []

    async def start(name: str, **options: object) -> Node:
        node = Node(redis_url, tmp_path / name, name, **options)  # type: ignore[arg-type]
        await node.shared.start()
        assert node.shared.channel.synced.is_set()
        started.append(node)
        return node

    yield start
    for node in started:
        await node.shared.stop()
        await node.redis.aclose()


async def eventually(check: Callable[[], bool], within: float = WITHIN) -> float:
    """Seconds until `check()` holds (AssertionError after `within`)."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < within, "did not happen in time"
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def account(user: str, role: str = "operator") -> Account:
    return Account(user, role, user.title(), API)


async def test_a_session_opened_on_one_node_is_good_on_the_other(nodes: Start) -> None:
    one, two = await nodes("one"), await nodes("two")
    assert one.tokens.sessions is not None and two.tokens.sessions is not None
    token, session = one.tokens.sessions.open("alice", "operator", "Alice")
    await one.settle()
    assert two.tokens.authenticate(token) is None  # not fetched yet: no Redis on this path
    await two.tokens.fetch(token)
    principal = two.tokens.authenticate(token)
    assert principal is not None and (principal.name, principal.role) == ("alice", "operator")
    assert principal.expires == int(session.expires)


async def test_a_session_ended_on_one_node_is_refused_on_the_other_at_once(nodes: Start) -> None:
    one, two = await nodes("one"), await nodes("two")
    assert one.tokens.sessions is not None and two.tokens.sessions is not None
    token, _ = one.tokens.sessions.open("alice", "operator")
    other, _ = one.tokens.sessions.open("bob", "expert")
    await one.settle()
    await two.tokens.fetch(token)
    await two.tokens.fetch(other)
    assert two.tokens.sessions.revoke(token)  # logout on node two
    await two.tokens.fetch(token)  # a request racing the logout does not bring it back
    assert two.tokens.authenticate(token) is None
    await two.settle()
    waited = await eventually(lambda: one.tokens.authenticate(token) is None)
    assert waited < 1.0
    assert one.tokens.authenticate(other) is not None
    one.tokens.sessions.revoke_user("bob")  # bob's account changed on node one
    await one.settle()
    await eventually(lambda: two.tokens.authenticate(other) is None)
    await two.tokens.fetch(other)  # gone from Redis too
    assert two.tokens.authenticate(other) is None


async def test_a_user_keeps_at_most_32_sessions_across_the_cluster(nodes: Start) -> None:
    one, two = await nodes("one"), await nodes("two")
    assert one.tokens.sessions is not None and two.tokens.sessions is not None
    first, _ = one.tokens.sessions.open("alice", "operator")
    await one.settle()
    for _ in range(32):
        two.tokens.sessions.open("alice", "operator")
    await two.settle()
    await eventually(lambda: one.tokens.authenticate(first) is None)
    await one.tokens.fetch(first)
    assert one.tokens.authenticate(first) is None


async def test_an_account_added_on_one_node_logs_in_on_the_other(nodes: Start) -> None:
    one, two = await nodes("one"), await nodes("two")
    assert one.accounts.put(account("carol"), hash_password("carol-secret", **CHEAP))
    await one.settle()
    await eventually(lambda: two.accounts.get("carol") is not None)
    checked = await asyncio.to_thread(two.accounts.check, "carol", "carol-secret")
    assert checked == account("carol")
    two.accounts.put(account("carol", "commander"), None)  # a role change keeps the password
    await two.settle()
    await one.accounts.refresh("carol")  # what a login does first
    assert one.accounts.get("carol") == account("carol", "commander")
    two.accounts.delete("carol")
    await two.settle()
    await eventually(lambda: one.accounts.get("carol") is None)
    assert [a.user for a in one.accounts.all()] == []


async def test_the_first_node_seeds_the_accounts_and_a_later_one_warns_and_uses_them(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name, user in (("one", "dora"), ("two", "eve")):
        local = Accounts(tmp_path / name)
        local.put(account(user), hash_password(f"{user}-secret", **CHEAP))
    first = Node(redis_url, tmp_path / "one", "one")
    second = Node(redis_url, tmp_path / "two", "two")
    file_before = (tmp_path / "two" / "accounts.json").read_bytes()
    try:
        await first.shared.start()
        with caplog.at_level(logging.WARNING):
            await second.shared.start()
        assert [a.user for a in second.accounts.all()] == ["dora"]
        assert [a.user for a in first.accounts.all()] == ["dora"]
        warned = [r.getMessage() for r in caplog.records if "differs" in r.getMessage()]
        assert warned and str(tmp_path / "two" / "accounts.json") in warned[0]
        assert (tmp_path / "two" / "accounts.json").read_bytes() == file_before
        client = aioredis.from_url(redis_url, decode_responses=True)
        assert list(await client.hkeys(ACCOUNTS)) == ["dora"]  # type: ignore[misc]
        await client.aclose()
    finally:
        await first.shared.stop()
        await second.shared.stop()


async def test_a_link_minted_on_one_node_admits_on_the_other_until_revoked_there(
    nodes: Start,
) -> None:
    one, two = await nodes("one"), await nodes("two")
    link = one.links.mint("command", "Dr. Lin", "expert", 30)
    principal = two.tokens.authenticate(link.token)
    assert principal is not None and principal.room == "command"
    two.links.revoke(link.id)
    await two.settle()
    waited = await eventually(lambda: one.tokens.authenticate(link.token) is None)
    assert waited < 1.0 and one.links.revoked(link.id)
    late = await nodes("three")  # a node that joins later knows the revocation too
    assert late.tokens.authenticate(link.token) is None
    assert not (one.config.data_dir / SECRET_FILE).exists()  # the secret is the cluster's only


async def test_links_a_node_minted_alone_stay_good_when_it_seeds_the_cluster(
    nodes: Start, tmp_path: Path
) -> None:
    alone = JoinLinks(tmp_path / "one").mint("command", "Dr. Lin", "expert", 30)
    one, two = await nodes("one"), await nodes("two")
    assert one.tokens.authenticate(alone.token) is not None
    assert two.tokens.authenticate(alone.token) is not None
    client = aioredis.from_url(one.config.cluster.redis, decode_responses=True)
    secret = (tmp_path / "one" / SECRET_FILE).read_text().strip()
    assert await client.get(JOINLINK_SECRET) == secret
    await client.aclose()


async def test_every_node_adopts_the_admin_token_of_the_first(nodes: Start) -> None:
    one = await nodes("one")
    two = await nodes("two")
    token = (one.config.data_dir / ADMIN_TOKEN_FILE).read_text().strip()
    assert (two.config.data_dir / ADMIN_TOKEN_FILE).read_text().strip() == token
    for node in (one, two):
        principal = node.tokens.authenticate(token)
        assert principal is not None and principal.role == "admin"
    assert len(two.tokens) == 1  # its own made one is gone
    configured = await nodes("three", tokens=(TokenEntry("a-configured-token-1234", "admin"),))
    assert configured.tokens.authenticate(token) is None  # a node with tokens keeps its own
    client = aioredis.from_url(one.config.cluster.redis, decode_responses=True)
    assert await client.get(ADMIN_TOKEN) == token
    await client.aclose()


async def test_notices_on_the_state_channel_name_the_node_the_kind_and_the_key(
    nodes: Start,
) -> None:
    one = await nodes("one")
    client = aioredis.from_url(one.config.cluster.redis, decode_responses=True)
    pubsub = client.pubsub()
    await pubsub.subscribe("mc:state")
    await pubsub.get_message(timeout=1.0)  # the subscription itself
    one.links.revoke("abc")
    await one.settle()
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2.0)
    assert message is not None
    assert json.loads(message["data"]) == {"node": "one", "kind": "link-revoked", "key": "abc"}
    await pubsub.aclose()
    await client.aclose()


@pytest.mark.slow  # waits out the start's and the answers' time-outs: about 9 s
async def test_a_node_whose_redis_is_away_starts_and_answers_from_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.cluster.redisserver import free_port

    node = Node(f"redis://127.0.0.1:{free_port()}/0", tmp_path / "one", "one")
    node.shared.channel.synced.clear()
    with caplog.at_level(logging.WARNING):
        started = time.monotonic()
        await asyncio.wait_for(node.shared.start(), 10)
        assert node.tokens.sessions is not None
        token, _ = node.tokens.sessions.open("alice", "operator")
        await asyncio.wait_for(node.settle(), 5)
        assert time.monotonic() - started < 10
    assert node.tokens.authenticate(token) is not None  # this node still knows it
    with pytest.raises(RuntimeError):  # no cluster secret: no links (the API answers 503)
        node.links.mint("command", "Dr. Lin")
    unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(unreachable) == 1  # said once, not once a second
    await asyncio.wait_for(node.shared.stop(), 10)


async def test_tokens_are_checked_without_redis_once_known(nodes: Start) -> None:
    one = await nodes("one")
    assert one.tokens.sessions is not None
    token, _ = one.tokens.sessions.open("alice", "operator")
    await one.settle()
    calls = 0
    original = one.shared.channel.redis.execute_command

    async def counted(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        return await original(*args, **kwargs)

    one.shared.channel.redis.execute_command = counted  # type: ignore[method-assign]
    for _ in range(1000):
        assert one.tokens.authenticate(token) is not None
    await one.tokens.fetch(token)
    assert calls == 0
    one.shared.channel.redis.execute_command = original  # type: ignore[method-assign]


def test_a_store_without_a_cluster_keeps_files_as_before(tmp_path: Path) -> None:
    config = Config(server=replace(ServerSection(), data_dir=str(tmp_path)))
    tokens: TokenStore = build_token_store(config, announce=False)
    assert tokens.links is not None
    link = tokens.links.mint("command", "Dr. Lin")
    tokens.links.revoke(link.id)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "admin-token",
        "join-link-secret",
        "join-links-revoked",
    ]


async def test_after_losing_its_subscription_a_node_drops_sessions_that_ended_meanwhile(
    nodes: Start,
) -> None:
    one, two = await nodes("one"), await nodes("two")
    assert one.tokens.sessions is not None and two.tokens.sessions is not None
    ended, _ = one.tokens.sessions.open("alice", "operator")
    kept, _ = one.tokens.sessions.open("bob", "operator")
    own, _ = two.tokens.sessions.open("carol", "operator")
    await one.settle()
    await two.settle()
    for token in (ended, kept):
        await two.tokens.fetch(token)
    client = aioredis.from_url(one.config.cluster.redis, decode_responses=True)
    await client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # every node's notices
    await client.delete(f"mc:session:{hashlib.sha256(ended.encode()).hexdigest()}")  # unheard
    await client.aclose()
    await eventually(lambda: two.tokens.authenticate(ended) is None, within=5.0)
    assert two.tokens.authenticate(kept) is not None
    assert two.tokens.authenticate(own) is not None
