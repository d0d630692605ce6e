"""SIP through Kamailio into a cluster of nodes, each a `mediacore serve` in a network namespace
of its own (its own address), with Redis, Kamailio, the phones and sipp in the root namespace.

n1 runs its rooms in its own process, n2 on a media worker. Calls to a room reach the node that
owns it (the tone it carries is heard there and nowhere else), over UDP and TCP; a name no node
owns goes to the least-loaded node, which answers as a node alone does; a phone registers
through Kamailio with one node and is dialled from a room on another, which finds its binding
in Redis and calls along its Path, and the in-dialog BYE flows back through Kamailio; a call to
a room with an intake node (a node holding a shard of it) goes there; a text
for a user finds it the same way; a REGISTER goes back to the node holding the binding; a node
may also name a user to Kamailio, which relays to its contact; Kamailio relays nothing for
strangers, and a password guesser behind it is blocked, not Kamailio.

Rooms are placed on a chosen node (`POST /api/v1/rooms {"node"}`), and a node is made the
least-loaded one by draining the others (`PATCH /api/v1/nodes/{name}`), as an admin would."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

pytest.importorskip("pjsua2", exc_type=ImportError)

from bench.rtppeer import RtpPeer  # noqa: E402
from bench.serverproc import ServerProcess  # noqa: E402
from bench.sipprun import run_sipp, sipp_available  # noqa: E402
from mediacore.audio import tone_level_dbfs  # noqa: E402
from mediacore.codecs import PCMU  # noqa: E402
from mediacore.server.clusterredis import LEAST, node_key, reg_key, room_key  # noqa: E402
from sip.authclient import with_credentials  # noqa: E402
from sip.message import Request, Response, parse_message  # noqa: E402
from tests.cluster.kamailio import Kamailio, kamailio, options  # noqa: E402
from tests.cluster.netns import Network  # noqa: E402
from tests.cluster.redisserver import redis_server  # noqa: E402
from tests.e2e.server import SIPP_PASSWORD, SIPP_USER  # noqa: E402
from tests.interop.phone import Phone  # noqa: E402
from tests.interop.test_sip_calls import (  # noqa: E402
    CONFIG,
    PASSWORDS,
    TONE_DBFS,
    assert_hears,
    assert_stopped_cleanly,
    record,
    wait_for,
    write_tone_wav,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sipp_available(), reason="sipp (Debian sip-tester) is not installed"),
]

# The phone tests' accounts, and sipp's; sipp answers only MD5 challenges, so MD5 comes first.
NODE_CONFIG = CONFIG.replace("[sip]\n", '[sip]\ndigest_algorithms = "MD5,SHA-256"\n', 1)
NODE_CONFIG += f'\n[[sip.users]]\nuser = "{SIPP_USER}"\npassword = "{SIPP_PASSWORD}"\n'
NODE_CONFIG += 'role = "operator"\n'
AUTH_FAILURE_LIMIT = 10  # [sip] auth_failure_limit's default


@dataclass
class Cluster:
    network: Network
    redis: redis.Redis
    kamailio: Kamailio
    nodes: dict[str, ServerProcess]
    addresses: dict[str, str]  # node name -> its address

    def sip(self, node: str) -> str:
        return f"{self.addresses[node]}:{self.nodes[node].sip_port}"

    def place(self, room: str, node: str) -> None:
        """Open `room` on `node` (asked of the other node: placed through the cluster)."""
        other = next(server for name, server in self.nodes.items() if name != node)
        response = other.client.post("/api/v1/rooms", json={"name": room, "node": node})
        assert response.status_code == 201, response.text
        placed = wait_for(lambda: self.redis.hgetall(room_key(room)), 5, f"{room} placed")
        assert placed["node"] == node and placed["sip"] == self.sip(node), placed

    def least(self, node: str) -> None:
        """Make `node` the least-loaded one: the other nodes drain, and every node's heartbeat
        then names it in mc:least."""
        server = self.nodes[node]
        for name in self.nodes:
            drain = {"draining": name != node}
            response = server.client.patch(f"/api/v1/nodes/{name}", json=drain)
            assert response.status_code == 200, response.text
        wait_for(lambda: self.redis.get(LEAST) == self.sip(node), 5, f"{node} least loaded")
        # Every node writes mc:least after its heartbeat (500 ms); one that read the directory
        # just before the drains may write another node once more: wait until all have beaten.
        held_since = time.monotonic()
        while time.monotonic() - held_since < 1.2:
            if self.redis.get(LEAST) != self.sip(node):
                wait_for(lambda: self.redis.get(LEAST) == self.sip(node), 5, f"{node} least")
                held_since = time.monotonic()
            time.sleep(0.05)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Redis and Kamailio on the bridge, n1 (rooms in its own process), n2 and n3 (one media
    worker each) each in a namespace of its own."""
    folder = tmp_path_factory.mktemp("cluster")
    with contextlib.ExitStack() as stack:
        net = stack.enter_context(Network())
        url = stack.enter_context(redis_server(folder, host=net.gateway))
        client = redis.Redis.from_url(url, decode_responses=True)
        stack.callback(client.close)
        # The nodes' addresses (.11-.13) only: the phones on the bridge address are strangers.
        nodes_net = f"{net.address(8)}/29"
        proxy = stack.enter_context(
            kamailio(folder, url, net.gateway, node_net=nodes_net, tls=True)
        )
        nodes: dict[str, ServerProcess] = {}
        addresses: dict[str, str] = {}
        for name, workers in (("n1", 0), ("n2", 1), ("n3", 1)):
            namespace = net.add(name)
            # Kamailio is the nodes' proxy: auth failures count against whom it relays.
            config = NODE_CONFIG.replace("[sip]\n", f'[sip]\nproxies = "{proxy.host}"\n', 1)
            config += f'\n[cluster]\nredis = "{url}"\nnode = "{name}"\n'
            config += f'advertise = "{namespace.address}"\n'
            server = ServerProcess(
                folder / name,
                host=namespace.address,
                config=config,
                workers=workers,
                launcher=namespace.prefix,
            )
            stack.callback(assert_stopped_cleanly, server)
            nodes[name], addresses[name] = server, namespace.address
        yield Cluster(net, client, proxy, nodes, addresses)


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("tones")
    return {
        frequency: write_tone_wav(
            folder / f"{frequency}.wav", float(frequency), 5.0, rate=8000, level_dbfs=TONE_DBFS
        )
        for frequency in (440, 1000)
    }


@pytest.fixture
def phones(cluster: Cluster) -> Iterator[Callable[..., Phone]]:
    """Phones on the bridge address, each with an account whose registrar is Kamailio."""
    with contextlib.ExitStack() as stack:

        def make(user: str, register: bool = True, transport: str = "udp") -> Phone:
            proxy, tls = cluster.kamailio, transport == "tls"
            phone = stack.enter_context(
                Phone(
                    host=cluster.network.gateway,
                    user=user,
                    transport=transport,
                    ca_file=proxy.ca_file if tls else None,
                )
            )
            phone.cmd("codecs", order=["PCMU"], only=True)
            since = phone.mark()
            registrar = f"sip:{proxy.tls_address};transport=tls" if tls else f"sip:{proxy.address}"
            phone.cmd(
                "account",
                user=user,
                password=PASSWORDS[user],
                registrar=registrar if register else "",
                register=register,
            )
            if register:
                reg = phone.wait_event(lambda e: e["event"] == "reg", 10, since)
                assert reg["code"] == 200 and reg["active"], reg
            return phone

        yield make


def call_room(cluster: Cluster, room: str, workdir: Path, transport: str = "u1") -> Any:
    """sipp calls `room` through Kamailio (digest as sipp) and streams its 440 Hz tone; over
    UDP, or TCP with `transport` "t1"."""
    workdir.mkdir(parents=True, exist_ok=True)
    return run_sipp(
        "uac_auth_call",
        cluster.kamailio.address,
        service=room,
        user=SIPP_USER,
        password=SIPP_PASSWORD,
        workdir=workdir,
        local_ip=cluster.network.gateway,
        duration_ms=2500,
        timeout=30.0,
        transport=transport,
    )


async def listener(cluster: Cluster, node: str, room: str) -> RtpPeer:
    """A plain RTP leg in `room` on `node`, on the bridge: it hears the room."""
    peer = RtpPeer(PCMU, host=cluster.network.gateway)
    await peer.open()
    _, answer = cluster.nodes[node].join(room, peer.make_offer(), name="listener")
    peer.accept(answer)
    return peer


async def test_sipp_calls_through_kamailio_are_heard_on_the_node_that_owns_each_room(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.place("east", "n1")
    cluster.place("west", "n2")
    cluster.least("n1")
    east, west = await listener(cluster, "n1", "east"), await listener(cluster, "n2", "west")
    started = time.monotonic()
    result = await asyncio.to_thread(call_room, cluster, "west", tmp_path / "west")
    assert result.ok, result.describe()
    heard_west, heard_east = west.decoded(started + 1.0), east.decoded(started + 1.0)
    assert len(heard_west) > 8000
    assert tone_level_dbfs(heard_west, 440.0, 8000) > -30.0  # sipp's tone, in west on n2
    assert len(heard_east) > 8000  # east plays its room (silence) all along
    assert tone_level_dbfs(heard_east, 440.0, 8000) < -60.0
    started = time.monotonic()
    result = await asyncio.to_thread(call_room, cluster, "east", tmp_path / "east", "t1")
    assert result.ok, result.describe()  # over TCP to Kamailio this time
    assert tone_level_dbfs(east.decoded(started + 1.0), 440.0, 8000) > -30.0
    east.close()
    west.close()


def test_a_name_no_node_owns_goes_to_the_least_loaded_node(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.least("n2")
    result = run_sipp(
        "uac_noauth_call",
        cluster.kamailio.address,
        service="nowhere",
        workdir=tmp_path,
        local_ip=cluster.network.gateway,
        timeout=20.0,
    )
    # The node answers an unknown room as it does alone: sipp's scenario takes the refusal.
    assert result.ok, result.describe()
    assert any("refused 404" in line for line in result.log_lines), result.log_lines
    assert cluster.kamailio.routed(f"INVITE nowhere -> least-loaded sip:{cluster.sip('n2')}")


def test_a_call_to_a_room_with_an_intake_node_goes_there_and_the_rest_to_its_owner(
    cluster: Cluster, tmp_path: Path
) -> None:
    """A room owned by n1 whose new legs n2 takes (n2 holds a shard of it: the owner writes the
    intake fields then; this test writes them as it would). Kamailio sends a call for the room
    to n2 (which refuses sipp: it holds no shard here) and anything else to n1; once the fields go,
    calls go to n1 again."""
    cluster.place("harbour", "n1")
    intake = {  # as the owner writes them
        "intake": "n2",
        "intake_sip": cluster.sip("n2"),
        "intake_http": cluster.nodes["n2"].url,
    }
    cluster.redis.hset(room_key("harbour"), mapping=intake)

    def call(name: str) -> None:
        result = run_sipp(
            "uac_noauth_call",
            cluster.kamailio.address,
            service="harbour",
            workdir=tmp_path / name,
            local_ip=cluster.network.gateway,
            timeout=20.0,
        )
        assert result.ok, result.describe()  # the node's refusal: no credentials, or no room

    (tmp_path / "intake").mkdir()
    call("intake")
    assert cluster.kamailio.routed(f"INVITE room harbour -> intake sip:{cluster.sip('n2')}")
    gateway, proxy = cluster.network.gateway, cluster.kamailio
    options(gateway, proxy, f"sip:harbour@{proxy.address}")  # not a new leg: the owner's
    assert cluster.kamailio.routed(f"OPTIONS room harbour -> sip:{cluster.sip('n1')}")
    cluster.redis.hdel(room_key("harbour"), *intake)
    (tmp_path / "owner").mkdir()
    call("owner")
    assert cluster.kamailio.routed(f"INVITE room harbour -> sip:{cluster.sip('n1')}")


async def test_a_room_grown_onto_another_node_takes_a_call_through_kamailio_there(
    cluster: Cluster, phones: Callable[..., Phone], tones: dict[int, Path]
) -> None:
    """A room on n2 grown onto n3 (`POST /rooms/{room}/shards`): Kamailio sends a phone's
    call to the room to n3, the room's new intake, where it joins n3's shard; a listener on n2
    hears the phone across the cascade link between the nodes, and the roster asked of n2 shows
    the phone's leg on n3."""
    cluster.place("wide", "n2")
    n2 = cluster.nodes["n2"]
    grown = n2.client.post("/api/v1/rooms/wide/shards", json={"node": "n3"})
    assert grown.status_code == 201, grown.text
    assert {s["node"] for s in grown.json()["shards"]} == {"n2", "n3"}
    intake = wait_for(lambda: cluster.redis.hget(room_key("wide"), "intake_sip"), 5, "intake")
    assert intake == cluster.sip("n3")
    listening = await listener(cluster, "n2", "wide")
    alice = await asyncio.to_thread(phones, "alice", register=False)
    try:
        since = alice.mark()
        call = alice.cmd("call", uri=f"sip:wide@{cluster.kamailio.address}")["call"]
        await asyncio.to_thread(alice.wait_call_state, call, "CONFIRMED", 10, since)
        started = time.monotonic()
        alice.cmd("play", call=call, wav=str(tones[1000]))
        await asyncio.sleep(2.0)
        assert tone_level_dbfs(listening.decoded(started + 0.5), 1000.0, 8000) > -30.0
        roster = n2.client.get("/api/v1/rooms/wide/participants").json()
        assert {p["node"] for p in roster if p["kind"] == "sip"} == {"n3"}, roster
        assert {p["node"] for p in roster if p["name"] == "listener"} == {"n2"}, roster
        assert cluster.kamailio.routed(f"INVITE room wide -> intake sip:{cluster.sip('n3')}")
        since = alice.mark()
        alice.cmd("hangup", call=call)
        await asyncio.to_thread(alice.wait_call_state, call, "DISCONNECTED", 10, since)
    finally:
        listening.close()


def test_a_phone_registered_through_kamailio_is_dialled_from_a_room_on_another_node(
    cluster: Cluster, phones: Callable[..., Phone], tones: dict[int, Path], tmp_path: Path
) -> None:
    cluster.least("n1")
    bob = phones("bob")  # registers through Kamailio with n1
    binding = wait_for(lambda: cluster.redis.hgetall(reg_key("bob")), 5, "bob's binding")
    assert binding["node"] == "n1" and binding["path"], binding
    assert cluster.kamailio.address in binding["path"]
    assert int(binding["expires"]) > time.time() + 60
    # Where Kamailio saw the phone (its Path's received=), for relaying a node's sip:bob@.
    assert binding["received"].startswith(f"sip:{cluster.network.gateway}:{bob.sip_port}")
    bob.cmd("auto_answer", code=200, delay_ms=200)

    cluster.place("south", "n2")
    alice = phones("alice", register=False)  # calls the room through Kamailio
    since = alice.mark()
    a_call = alice.cmd("call", uri=f"sip:south@{cluster.kamailio.address}")["call"]
    alice.wait_call_state(a_call, "CONFIRMED", 10, since)
    alice.cmd("play", call=a_call, wav=str(tones[1000]))

    n2 = cluster.nodes["n2"]
    response = n2.client.post(
        "/api/v1/rooms/south/dial", json={"uri": f"sip:bob@{cluster.kamailio.host}", "name": "Bob"}
    )
    assert response.status_code == 201, response.text
    participant = response.json()["id"]
    b_call = bob.wait_event(lambda e: e["event"] == "incoming", 10)["call"]
    bob.wait_call_state(b_call, "CONFIRMED", 10)
    bob.wait_media(b_call, "ACTIVE", 5)
    pcm, rate = record(bob, b_call, tmp_path / "bob.wav", 2.0)
    assert_hears(pcm, rate, 1000.0)  # alice's tone, mixed by the room on n2

    since = bob.mark()
    kicked = n2.client.delete(f"/api/v1/rooms/south/participants/{participant}")
    assert kicked.status_code == 204, kicked.text
    bob.wait_call_state(b_call, "DISCONNECTED", 10, since)
    n2_address = cluster.addresses["n2"]
    assert cluster.kamailio.routed(f"INVITE from node {n2_address} along a Path")
    assert cluster.kamailio.routed(f"in-dialog BYE from {n2_address}")  # the BYE too


async def test_a_phone_over_tls_registers_through_kamailio_calls_a_room_and_is_dialled_back(
    cluster: Cluster, phones: Callable[..., Phone], tones: dict[int, Path]
) -> None:
    """TLS from the phone to Kamailio (its certificate checked by the phone), plain SIP from
    Kamailio to the nodes: the phone registers, calls a room and is heard there, and a room on
    another node dials it back along its Path over the same TLS connection."""
    cluster.least("n1")
    carol = await asyncio.to_thread(phones, "carol", transport="tls")  # with n1, over TLS
    binding = wait_for(lambda: cluster.redis.hgetall(reg_key("carol")), 5, "carol's binding")
    assert binding["node"] == "n1", binding
    assert binding["received"].endswith(";transport=tls"), binding  # the phone's connection
    cluster.place("tls-room", "n2")
    listening = await listener(cluster, "n2", "tls-room")
    try:
        since = carol.mark()
        uri = f"sip:tls-room@{cluster.kamailio.tls_address};transport=tls"
        c_call = carol.cmd("call", uri=uri)["call"]
        await asyncio.to_thread(carol.wait_call_state, c_call, "CONFIRMED", 10, since)
        started = time.monotonic()
        carol.cmd("play", call=c_call, wav=str(tones[1000]))
        await asyncio.sleep(2.0)
        heard = listening.decoded(started + 0.5)
        assert tone_level_dbfs(heard, 1000.0, 8000) > -30.0  # carol's tone, in the room on n2
        since = carol.mark()
        carol.cmd("hangup", call=c_call)
        await asyncio.to_thread(carol.wait_call_state, c_call, "DISCONNECTED", 10, since)
    finally:
        listening.close()

    carol.cmd("auto_answer", code=200, delay_ms=200)
    n2 = cluster.nodes["n2"]
    response = n2.client.post(
        "/api/v1/rooms/tls-room/dial", json={"uri": f"sip:carol@{cluster.kamailio.host}"}
    )
    assert response.status_code == 201, response.text
    incoming = await asyncio.to_thread(carol.wait_event, lambda e: e["event"] == "incoming", 10)
    await asyncio.to_thread(carol.wait_call_state, incoming["call"], "CONFIRMED", 10)
    since = carol.mark()
    kicked = n2.client.delete(f"/api/v1/rooms/tls-room/participants/{response.json()['id']}")
    assert kicked.status_code == 204, kicked.text
    await asyncio.to_thread(carol.wait_call_state, incoming["call"], "DISCONNECTED", 10, since)


def test_kamailio_refuses_foreign_domains_and_strangers_routing_through_it(
    cluster: Cluster,
) -> None:
    gateway, proxy = cluster.network.gateway, cluster.kamailio
    foreign = options(gateway, proxy, "sip:someone@example.org")
    assert foreign.startswith("SIP/2.0 403"), foreign
    route = f"<sip:{proxy.address};lr>"  # a stranger's preloaded route to a node's phone
    routed = options(gateway, proxy, f"sip:bob@{cluster.sip('n1')}", route=route)
    assert routed.startswith("SIP/2.0 403"), routed


def test_a_phone_re_registers_with_the_node_holding_its_binding_and_unregisters_there(
    cluster: Cluster, phones: Callable[..., Phone]
) -> None:
    cluster.least("n2")
    carol = phones("carol")
    holder = wait_for(lambda: cluster.redis.hget(reg_key("carol"), "node"), 5, "the binding")
    assert holder == "n2"
    # n1 takes rooms again and may be the least loaded now: Kamailio still sends carol's
    # REGISTER to n2, which holds her binding while it is up.
    response = cluster.nodes["n1"].client.patch("/api/v1/nodes/n1", json={"draining": False})
    assert response.status_code == 200, response.text
    wait_for(lambda: cluster.redis.hget(node_key("n1"), "state") == "up", 5, "n1 up")
    since = carol.mark()
    carol.cmd("register", on=True)
    reg = carol.wait_event(lambda e: e["event"] == "reg", 10, since)
    assert reg["code"] == 200, reg
    assert cluster.kamailio.routed(f"REGISTER carol -> its node n2 at sip:{cluster.sip('n2')}")
    assert cluster.redis.hget(reg_key("carol"), "node") == "n2"

    since = carol.mark()
    carol.cmd("register", on=False)
    carol.wait_event(lambda e: e["event"] == "reg", 10, since)
    wait_for(lambda: not cluster.redis.exists(reg_key("carol")), 5, "the binding to go")


def test_a_node_calling_a_user_by_name_through_kamailio_reaches_the_registered_contact(
    cluster: Cluster, phones: Callable[..., Phone]
) -> None:
    """A user the node has no account for (another node's) is dialled as sip:<user>@Kamailio:
    Kamailio finds the binding (contact, received) in mc:reg:<user> and relays there."""
    dave = phones("dave", register=False)
    dave.cmd("auto_answer", code=200, delay_ms=100)
    gateway = cluster.network.gateway
    fields = {
        "contact": f"sip:dave@{gateway}:{dave.sip_port}",
        "path": "",
        "expires": str(int(time.time()) + 300),
        "node": "n2",
        "source": f"udp:{gateway}:{dave.sip_port}",
        "received": f"sip:{gateway}:{dave.sip_port}",
    }
    cluster.redis.hset(reg_key("zed"), mapping=fields)  # as n2 writes a binding it accepted
    cluster.place("north", "n1")
    n1 = cluster.nodes["n1"]
    response = n1.client.post(
        "/api/v1/rooms/north/dial", json={"uri": f"sip:zed@{cluster.kamailio.address}"}
    )
    assert response.status_code == 201, response.text
    call = dave.wait_event(lambda e: e["event"] == "incoming", 10)["call"]
    dave.wait_call_state(call, "CONFIRMED", 10)
    assert cluster.kamailio.routed(f"INVITE user -> sip:dave@{gateway}:{dave.sip_port}")
    participant = response.json()["id"]
    since = dave.mark()
    assert n1.client.delete(f"/api/v1/rooms/north/participants/{participant}").status_code == 204
    dave.wait_call_state(call, "DISCONNECTED", 10, since)


def test_password_guessing_through_kamailio_blocks_the_guesser_and_nobody_else(
    cluster: Cluster, phones: Callable[..., Phone]
) -> None:
    """Every request reaches the node from Kamailio's address; the node ([sip] proxies) counts
    failures against the address Kamailio received them from."""
    cluster.least("n1")
    guesser = cluster.network.add_address(3)
    refusals = [register_as(cluster, guesser, "wrong") for _ in range(AUTH_FAILURE_LIMIT)]
    assert refusals == [(403, "Forbidden (bad credentials)")] * AUTH_FAILURE_LIMIT
    assert register_as(cluster, guesser, SIPP_PASSWORD) == (403, "Forbidden")  # blocked now
    phones("alice")  # registers through the same Kamailio from another address


def register_as(cluster: Cluster, local: str, password: str) -> tuple[int, str]:
    """REGISTER sipp from `local` through Kamailio, answering the challenge with `password`;
    the final (status, reason)."""
    kamailio = cluster.kamailio
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((local, 0))
        udp.settimeout(5.0)
        port = udp.getsockname()[1]
        aor = f"sip:{SIPP_USER}@{kamailio.address}"
        lines = [
            f"REGISTER sip:{kamailio.address} SIP/2.0",
            f"Via: SIP/2.0/UDP {local}:{port};branch=z9hG4bK{time.monotonic_ns()};rport",
            "Max-Forwards: 70",
            f"From: <{aor}>;tag={port}",
            f"To: <{aor}>",
            f"Call-ID: {time.monotonic_ns()}@{local}",
            "CSeq: 1 REGISTER",
            f"Contact: <sip:{SIPP_USER}@{local}:{port}>",
            "Content-Length: 0",
        ]
        register = parse_message(("\r\n".join([*lines, "", ""])).encode())
        assert isinstance(register, Request)
        challenge = _final(udp, register, kamailio.host, kamailio.port)
        if challenge.status != 401:
            return challenge.status, challenge.reason
        via = f"SIP/2.0/UDP {local}:{port};branch=z9hG4bK{time.monotonic_ns()};rport"
        answer = with_credentials(
            register, challenge, username=SIPP_USER, password=password, via=via
        )
        assert answer is not None
        final = _final(udp, answer, kamailio.host, kamailio.port)
        return final.status, final.reason


def _final(udp: socket.socket, request: Request, host: str, port: int) -> Response:
    udp.sendto(request.serialize(), (host, port))
    while True:
        response = parse_message(udp.recv(8000))
        if isinstance(response, Response) and response.status >= 200:
            return response


def test_a_text_reaches_a_user_registered_on_another_node(
    cluster: Cluster, phones: Callable[..., Phone]
) -> None:
    """alice's MESSAGE for bob reaches n1 (the least loaded); bob registered with n2, so n1
    finds his binding in Redis and sends the text along his Path, through Kamailio."""
    cluster.least("n2")
    bob = phones("bob")  # with n2
    wait_for(lambda: cluster.redis.hget(reg_key("bob"), "node") == "n2", 5, "bob on n2")
    cluster.least("n1")
    alice = phones("alice")  # with n1
    since = alice.mark()
    alice.cmd("message", uri=f"sip:bob@{cluster.kamailio.address}", text="东门集合 gate east")
    status = alice.wait_event(lambda e: e["event"] == "im_status", 10, since)
    assert status["code"] == 202, status
    text = bob.wait_event(lambda e: e["event"] == "im", 10)
    assert text["body"] == "东门集合 gate east"
    n1_address = cluster.addresses["n1"]
    assert cluster.kamailio.routed(f"MESSAGE from node {n1_address} along a Path")
