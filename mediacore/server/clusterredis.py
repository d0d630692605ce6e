"""The cluster's Redis: one client per node, and the names of every key the nodes share.

All of a cluster's state lives under the `mc:` prefix of one Redis database, so one Redis may
serve a cluster and nothing else of it is touched. Keys (owners in brackets):

    mc:nodes              set of node names ever seen                          [clusternode]
    mc:node:<name>        hash: the node's announcement (see clusternode)       [clusternode]
    mc:least              "ADDR:PORT" SIP address of the least-loaded live node  [clusternode]
    mc:rooms              set of room names placed in the cluster              [directory]
    mc:room:<room>        hash: node, sip ("ADDR:PORT"), http, created; while    [directory]
                          a shard is on another node: intake (its name),
                          intake_sip ("ADDR:PORT"), intake_http (base URL)
    mc:roomdef:<room>     JSON room definition (re-placed on a survivor)       [directory]
    mc:events             pub/sub channel: {"node", "event"} from every node    [events]
    mc:state              pub/sub channel: shared state changed ("accounts", …) [shared state]
    mc:accounts           hash: user -> JSON {"user", "role", "name", "password"}  [shared state]
    mc:accounts:seeded    the node whose accounts.json seeded mc:accounts (NX)  [shared state]
    mc:session:<digest>   JSON {"user", "role", "name", "expires"}; PEXPIREAT  [shared state]
    mc:sessions:<user>    sorted set: the user's session digests by expiry     [shared state]
    mc:secret:joinlinks   the join links' HMAC secret, made once (SET NX)      [shared state]
    mc:joinlinks:revoked  sorted set: revoked link ids by when they expire     [shared state]
    mc:admin-token        the admin token of a cluster without [[auth.tokens]] (NX) [shared state]
    mc:reg:<user>         hash: a SIP user's newest binding: contact, path,     [sipbindings]
                          expires (Unix s), node, source, received; expires
                          with the binding (Kamailio reads it too)
    mc:secret:forward     the secret nodes sign forwarded requests with         [clustertrust]
    mc:claim:<room>       a survivor's short claim on a dead node's room        [clusterfailover]
    mc:drain:<name>       set while an admin drains the node: it takes no new rooms [clusternode]
    mc:calls:<node>       set of the call ids of SIP calls the node carries      [calls]
    mc:call:<node>:<id>   hash: one call's room, party and dialog (callrecord)  [calls]
    mc:own:<kind>:<name>  the node calling a radio gateway ("gateway") or       [calls]
                          registering a trunk ("trunk"); expires (PX)

`mc:state` notices are JSON {"node", "kind", "key"}; kinds: "account" (key: user),
"session-ended" (key: digest), "user-sessions-ended" (key: user), "link-revoked" (key: id).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from mediacore.server.config import ClusterSection

PREFIX = "mc:"
NODES = PREFIX + "nodes"
LEAST = PREFIX + "least"
ROOMS = PREFIX + "rooms"
EVENTS = PREFIX + "events"
STATE = PREFIX + "state"
FORWARD_SECRET = PREFIX + "secret:forward"


ACCOUNTS = PREFIX + "accounts"
ACCOUNTS_SEEDED = PREFIX + "accounts:seeded"
JOINLINK_SECRET = PREFIX + "secret:joinlinks"
JOINLINKS_REVOKED = PREFIX + "joinlinks:revoked"
ADMIN_TOKEN = PREFIX + "admin-token"


def session_key(digest: str) -> str:
    return f"{PREFIX}session:{digest}"


def user_sessions_key(user: str) -> str:
    return f"{PREFIX}sessions:{user}"


def node_key(name: str) -> str:
    return f"{PREFIX}node:{name}"


def room_key(room: str) -> str:
    return f"{PREFIX}room:{room}"


def roomdef_key(room: str) -> str:
    return f"{PREFIX}roomdef:{room}"


def reg_key(user: str) -> str:
    return f"{PREFIX}reg:{user}"


def drain_key(name: str) -> str:
    return f"{PREFIX}drain:{name}"


def claim_key(room: str) -> str:
    return f"{PREFIX}claim:{room}"


def calls_key(node: str) -> str:
    return f"{PREFIX}calls:{node}"


def call_key(node: str, call_id: str) -> str:
    return f"{PREFIX}call:{node}:{call_id}"


def own_key(kind: str, name: str) -> str:
    return f"{PREFIX}own:{kind}:{name}"


def connect(cluster: ClusterSection) -> aioredis.Redis:
    """A client for the cluster's Redis (it connects on first use, and again after a loss).

    Replies are str, not bytes; every command gives up after a second rather than stall the
    control loop while Redis is unreachable."""
    return aioredis.from_url(
        cluster.redis,
        decode_responses=True,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        health_check_interval=5,
    )
