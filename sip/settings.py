"""SIP settings: the `[sip]` section of the configuration, its users and trunks."""

from __future__ import annotations

from dataclasses import dataclass

from sip.address import SipUri


@dataclass(frozen=True, slots=True)
class SipUser:
    """A SIP account (`[[sip.users]]`): registers, dials rooms, is reachable by dial-out."""

    user: str
    password: str
    role: str = "operator"
    name: str = ""


@dataclass(frozen=True, slots=True)
class SipTrunk:
    """An upstream PBX or carrier (`[[sip.trunks]]`) that dial-out can go through."""

    name: str
    proxy: str  # sip:host[:port][;transport=tcp], where requests are sent
    domain: str = ""  # the host part of From/To and of dialled numbers; default the proxy host
    username: str = ""
    password: str = ""
    register: bool = False
    expires: int = 3600

    @property
    def proxy_uri(self) -> SipUri:
        return SipUri.parse(self.proxy)

    @property
    def proxy_host(self) -> str:
        return self.proxy_uri.host

    @property
    def host_domain(self) -> str:
        return self.domain or self.proxy_host


@dataclass(frozen=True, slots=True)
class SipSettings:
    port: int = 5060
    realm: str = "mediacore"
    session_expires: int = 1800  # RFC 4028 interval we ask for; 0 turns session timers off
    min_se: int = 90
    ring_timeout: float = 60.0  # dial-out gives up ("no-answer") after this long
    answer_delay: float = 0.0  # dial-in rings (180) this long before answering
    nonce_lifetime: float = 300.0
    # Challenged in this order; put MD5 first for clients that stop at a SHA-256 challenge.
    digest_algorithms: str = "SHA-256,MD5"
    auth_failure_limit: int = 10  # failures from one address within a minute before it is blocked
    # In-dialog OPTIONS to every call this often; 408 or 481 ends the call. 0 turns it off.
    keepalive_interval: float = 30.0
    users: tuple[SipUser, ...] = ()

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(name.strip().upper() for name in self.digest_algorithms.split(",") if name)

    trunks: tuple[SipTrunk, ...] = ()
