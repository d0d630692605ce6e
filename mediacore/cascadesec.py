"""SRTP on the cascade links between room shards, which may be on other nodes.

Every link socket has a master key of its own, fresh and random, for what it receives
(AES_CM_128_HMAC_SHA1_80, the 30-byte key and salt of an SDES inline key, RFC 4568): `bind`
hands it out as base64, and each peer shard protects what it sends to that socket with it.
A socket protects what it sends to each peer with that peer's key, given by `connect`.

`LinkPeers` is a socket's table of peer shards: their addresses and one SRTP transform each
(through mediacore/srtp.py, libsrtp). A datagram from an address that is no peer, or that fails
authentication or the replay check, is refused with `LinkRejected` and counted. Each peer has
its own replay window, and each sender masks its talkers' SSRCs with a random number of its own
(see `CascadeSender`), so two senders protecting with one receiver's key do not share a key
stream (short of two random 32-bit SSRCs meeting).
Pure: no sockets here (mediacore/cascadeio.py sends and receives)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from mediacore.sdes import KEY_LENGTH, SrtpKeys, new_key
from mediacore.srtp import SrtpError, SrtpTransform

LINK_SUITE = "AES_CM_128_HMAC_SHA1_80"
PACKET_SIZE = 8192  # a tick of 48 kHz L16 (20 ms: 1920 bytes), its extensions and SRTP tag

Address = tuple[Any, Any]  # (host, port)
Rejection = Literal["stranger", "unauthenticated"]


class LinkRejected(ValueError):
    """A datagram a link does not take: `reason` is "stranger" (not from a connected peer) or
    "unauthenticated" (failed SRTP authentication or the replay check)."""

    def __init__(self, reason: Rejection) -> None:
        super().__init__(reason)
        self.reason: Rejection = reason


def encode_key(key: bytes) -> str:
    """A link key as `bind` answers it: base64 of the 30-byte master key and salt."""
    return base64.b64encode(key).decode("ascii")


def decode_key(text: object) -> bytes:
    """A link key from `connect`; raises ValueError unless it is base64 of 30 bytes."""
    if not isinstance(text, str):
        raise ValueError("a cascade link key is a base64 string")
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a cascade link key is not base64") from None
    if len(key) != KEY_LENGTH:
        raise ValueError(f"a cascade link key is {KEY_LENGTH} bytes of master key and salt")
    return key


@dataclass(slots=True)
class _Peer:
    address: Address
    transform: SrtpTransform = field(repr=False)
    key: bytes = field(repr=False)


class LinkPeers:
    """The peer shards of one link socket and the SRTP of each link."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = new_key() if key is None else key  # what this socket receives with
        self._peers: dict[str, _Peer] = {}  # link name -> peer
        self._by_address: dict[Address, _Peer] = {}
        self.rejected: dict[Rejection, int] = {"stranger": 0, "unauthenticated": 0}

    @property
    def key(self) -> str:
        """This socket's receiving key, as `bind` answers it."""
        return encode_key(self._key)

    def connect(self, link: str, address: Address, key: str) -> None:
        """Send to, and accept from, `address` under the name `link`; what goes there is
        protected with `key` (the peer's own, from its `bind`). Raises ValueError for a bad key.
        Connecting a link again to the same address and key keeps its SRTP state."""
        peer_key = decode_key(key)
        address = (address[0], address[1])
        known = self._peers.get(link)
        if known is None or known.address != address or known.key != peer_key:
            keys = SrtpKeys(LINK_SUITE, local_key=peer_key, remote_key=self._key)
            self._peers[link] = _Peer(address, SrtpTransform(keys, PACKET_SIZE), peer_key)
            self._index()

    def disconnect(self, link: str) -> None:
        if self._peers.pop(link, None) is not None:
            self._index()

    def clear(self) -> None:
        self._peers.clear()
        self._index()

    def __len__(self) -> int:
        return len(self._peers)

    def protect(self, packet: bytes) -> Iterator[tuple[Address, bytes]]:
        """`packet` protected for each peer, with where to send it."""
        for peer in self._peers.values():
            yield peer.address, peer.transform.protect(packet)

    def unprotect(self, data: bytes, address: Address) -> bytes:
        """The plain packet a peer sent; raises LinkRejected (and counts it) for anything else."""
        peer = self._by_address.get((address[0], address[1]))
        if peer is None:
            self.rejected["stranger"] += 1
            raise LinkRejected("stranger")
        try:
            return peer.transform.unprotect(data)
        except SrtpError:
            self.rejected["unauthenticated"] += 1
            raise LinkRejected("unauthenticated") from None

    def _index(self) -> None:
        self._by_address = {peer.address: peer for peer in self._peers.values()}
