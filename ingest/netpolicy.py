"""Which addresses the server may connect to when an API user names the host (field sources,
wall outputs): a guard against request forgery.

A source or output URL makes the server connect wherever it points, so whoever may add one
could otherwise reach the cloud's metadata service, the server's own loopback services or any
host and port behind the firewall. What FFmpeg itself follows from there (the segments an HLS
playlist names, an RTSP redirect) is not checked here.

`NetworkPolicy` decides by address, after resolving the host: every address a name resolves to
must lie in an allowed network and in no denied one (a name with one good and one bad address
is refused). Loopback and unspecified addresses (0.0.0.0 reaches the local host too) are
refused unless `allow_loopback`. IPv4-mapped IPv6 addresses are judged as the IPv4 address
they carry."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from mediacore.redact import redact_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Link-local (where clouds put their metadata services) and the metadata addresses outside it:
# Alibaba 100.100.100.200, Oracle 192.0.0.192, AWS over IPv6 fd00:ec2::254.
DEFAULT_DENIED_NETWORKS = (
    "169.254.0.0/16, fe80::/10, 100.100.100.200/32, 192.0.0.192/32, fd00:ec2::254/128"
)
_LOCAL = tuple(ipaddress.ip_network(n) for n in ("127.0.0.0/8", "0.0.0.0/8", "::1/128", "::/128"))
# Host names FFmpeg and Python split the same way: no userinfo tricks, no odd characters.
_HOST_NAME = re.compile(r"[A-Za-z0-9.-]{1,253}")
_ODD_AUTHORITY = re.compile(r"[\\\s\x00-\x1f\x7f]")


class AddressRefused(ValueError):
    """The URL's host is, or resolves to, an address the policy refuses."""


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs ("10.0.0.0/8, fd00::/8"). Raises ValueError naming a bad one."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not a network (CIDR, e.g. 10.0.0.0/8)") from None
    return tuple(networks)


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    allow: tuple[IPNetwork, ...]
    deny: tuple[IPNetwork, ...] = ()
    allow_loopback: bool = False

    @classmethod
    def parse(cls, allow: str, deny: str, *, allow_loopback: bool = False) -> NetworkPolicy:
        """From comma-separated CIDR lists. Raises ValueError."""
        return cls(parse_networks(allow), parse_networks(deny), allow_loopback)

    def allows(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in _LOCAL):
            return self.allow_loopback
        if any(address in network for network in self.deny):
            return False
        return any(address in network for network in self.allow)

    async def check(self, host: str, port: int | None = None) -> list[IPAddress]:
        """Resolve `host` and answer its addresses if the policy allows every one.

        Raises: AddressRefused (a refused address, or a host name that is not plain),
        OSError (the name does not resolve now)."""
        literal = _literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            if _HOST_NAME.fullmatch(host) is None:
                raise AddressRefused(f"{host!r} is not a plain host name")
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
            addresses = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
        refused = sorted({str(a) for a in addresses if not self.allows(a)})
        if refused or not addresses:
            raise AddressRefused(f"{host} ({', '.join(refused) or 'no address'}) is not allowed")
        return addresses

    async def check_url(self, url: str) -> list[IPAddress]:
        """`check` for the host (and port) of `url`. Raises AddressRefused, OSError."""
        parts = urlsplit(url)
        if _ODD_AUTHORITY.search(parts.netloc):  # parsers may split it differently
            raise AddressRefused(f"{redact_url(url)} has odd characters before its path")
        try:
            port = parts.port
        except ValueError:
            raise AddressRefused(f"{redact_url(url)} has no valid port") from None
        return await self.check(parts.hostname or "", port)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").partition("%")[0])
    except ValueError:
        return None
