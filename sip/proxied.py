"""Who sent a request a proxy relayed: the address the proxy received it from.

A proxy in front of us (the cluster's Kamailio) relays every phone's requests from its one
address; counting authentication failures against that address would let one guesser block
everyone. For a request from a configured proxy, the sender is the Via below the proxy's own:
its `received` parameter (which the proxy adds when the address differs, RFC 3261 §18.2.1)
or its host."""

from __future__ import annotations

from collections.abc import Collection

from sip.address import SipSyntaxError, Via
from sip.message import Request
from sip.transaction import Peer


def client_address(request: Request, source: Peer, proxies: Collection[str]) -> str:
    """The address `request`'s failures count against: `source`'s, unless `source` is one of
    `proxies` and the request carries the Via of the hop before it."""
    if source.host not in proxies:
        return source.host
    vias = request.headers.get_all("Via")
    if len(vias) < 2:
        return source.host  # the proxy's own request
    try:
        via = Via.parse(vias[1])
    except SipSyntaxError:
        return source.host
    return via.params.get("received") or via.host
