"""Which incoming requests come from a configured trunk, and how the trunk proves it.

Each `[[sip.trunks]]` entry says how its calls are let in (`inbound`):
- "address" (the default): without digest, but only from the proxy's own transport, address and
  port, as its URI names them (`sip:10.1.1.5:5060;transport=udp`). Over UDP all three must match,
  so a forged INVITE needs the PBX's exact address and port; over TCP a connection cannot be
  forged, and its source port is the PBX's ephemeral one, so transport and address must match.
- "digest": the trunk is challenged like a phone and answers with its `username` and
  `password` (the same credentials the server uses towards it).
- "off": nothing is trusted; callers through this trunk need accounts (or a room PIN).

Proxy names are resolved (A/AAAA) by `resolve()`; until then only literal addresses match."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence

from sip.peer import Peer
from sip.settings import SipTrunk, SipUser
from sip.stack import resolve

log = logging.getLogger(__name__)

INBOUND_MODES = ("address", "digest", "off")


class TrunkTrust:
    def __init__(self, trunks: Sequence[SipTrunk]) -> None:
        self._by_address = [trunk for trunk in trunks if trunk.inbound == "address"]
        self._peers: dict[Peer, SipTrunk] = {}
        for trunk in self._by_address:
            uri = trunk.proxy_uri
            if _is_address(uri.host):
                self._peers[_proxy_peer(trunk, uri.host)] = trunk
        digest = [trunk for trunk in trunks if trunk.inbound == "digest"]
        self._accounts = {
            trunk.username: SipUser(
                trunk.username,
                trunk.password,
                "operator",
                trunk.name,
                srtp=trunk.srtp,
                nat=trunk.nat,
            )
            for trunk in digest
        }
        self._digest_hosts = {trunk.proxy_host for trunk in digest}

    async def resolve(self) -> None:
        """Look up the trunks whose proxy is a name; one that does not resolve matches nothing."""
        for trunk in self._by_address:
            if _is_address(trunk.proxy_host):
                continue
            try:
                peer = await resolve(trunk.proxy_uri)
            except OSError as error:
                log.warning("trunk proxy does not resolve", extra={"trunk": trunk.name,
                            "error": str(error)})  # fmt: skip
                continue
            self._peers[_proxy_peer(trunk, peer.host)] = trunk

    def trusted(self, source: Peer) -> SipTrunk | None:
        """The "address" trunk `source` is, or None: its calls need no digest."""
        if source.reliable:
            for peer, trunk in self._peers.items():
                if (peer.transport, peer.host) == (source.transport, source.host):
                    return trunk
            return None
        return self._peers.get(source)

    def account(self, username: str) -> SipUser | None:
        """The credentials a "digest" trunk answers challenges with, as an account."""
        return self._accounts.get(username)

    def may_be_trunk(self, source: Peer) -> bool:
        """Whether `source` is a "digest" trunk's proxy host: challenge it rather than asking
        its callers for a room PIN."""
        return source.host in self._digest_hosts


def _proxy_peer(trunk: SipTrunk, host: str) -> Peer:
    uri = trunk.proxy_uri
    return Peer(uri.transport, host, uri.port or uri.default_port)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
