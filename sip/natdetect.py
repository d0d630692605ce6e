"""Whether a caller is behind NAT, from its INVITE: the addresses it says it has against the
address its INVITE came from.

A phone behind NAT writes its own private address in Via, Contact and the SDP's c= line, while
its packets reach us from the NAT's public one (or from another of its own addresses: a phone
on this very machine that names its LAN address in SDP sends to loopback from loopback). Such
a caller's media leg may latch onto where its RTP really comes from, early in the call
(mediacore/audiosession.py); every other leg sends only to the SDP's address. Accounts, trunks
and gateways can also say so (`nat = true`)."""

from __future__ import annotations

import ipaddress

from mediacore.sdp import SessionDescription
from sip.address import SipSyntaxError
from sip.message import Request, SipParseError


def behind_nat(request: Request, source_host: str, offer: SessionDescription) -> bool:
    """True when the top Via, a Contact or the offer's audio address is an address that is not
    globally reachable (RFC 1918 private, RFC 6598 shared, link-local, unique-local and the
    other special-purpose ranges of RFC 6890) other than `source_host`."""
    return any(_private_elsewhere(host, source_host) for host in _claimed_hosts(request, offer))


def _claimed_hosts(request: Request, offer: SessionDescription) -> list[str]:
    hosts: list[str] = []
    try:
        hosts.append(request.top_via.host)
        hosts += [contact.uri.host for contact in request.contacts]
    except (SipParseError, SipSyntaxError):
        pass
    if offer.connection is not None:
        hosts.append(offer.connection.address)
    hosts += [media.connection.address for media in offer.media if media.connection is not None]
    return hosts


def _private_elsewhere(host: str, source_host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
        source = ipaddress.ip_address(source_host.strip("[]"))
    except ValueError:
        return False  # a name, not an address: it says nothing about NAT
    return address != source and not address.is_global and not address.is_unspecified
