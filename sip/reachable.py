"""Peers that proved they receive what we send them: the guard against reflection over UDP.

A UDP request's source address can be forged, so everything we send back to it may land on a
stranger. A peer proves it is really there when it echoes something only a receiver could know:
the To tag of our final response in its ACK, or a fresh nonce of ours in valid digest
credentials. Until then the transaction layer sends it no more than it must (RFC 3261 §17.2.1
retransmissions are cut short, see `sip.transaction`). TCP peers finished a handshake: always
reachable."""

from __future__ import annotations

from collections import OrderedDict

from sip.peer import Peer

MAX_REACHABLE = 10_000  # remembered at once; the least recently proved are forgotten first


class ReachablePeers:
    """A bounded set of (transport, address, port) that proved they receive our messages."""

    def __init__(self, limit: int = MAX_REACHABLE) -> None:
        self.limit = limit
        self._peers: OrderedDict[Peer, None] = OrderedDict()

    def proved(self, peer: Peer) -> None:
        """`peer` showed it received something of ours: remember it (most recent last)."""
        if peer.reliable:
            return
        self._peers[peer] = None
        self._peers.move_to_end(peer)
        while len(self._peers) > self.limit:
            self._peers.popitem(last=False)

    def __contains__(self, peer: Peer) -> bool:
        return peer.reliable or peer in self._peers

    def __len__(self) -> int:
        return len(self._peers)
