"""SIP settings: the `[sip]` section of the configuration, its users and trunks."""

from __future__ import annotations

from dataclasses import dataclass

from mediacore.legpolicy import LegPolicy
from mediacore.sdes import check_mode
from sip.address import SipUri
from sip.flowlimits import TcpLimits
from sip.pinguard import PinLimits


def parse_algorithms(text: str) -> tuple[str, ...]:
    """A comma list of digest algorithms ("SHA-256,MD5"), upper case, in challenge order."""
    return tuple(name.strip().upper() for name in text.split(",") if name.strip())


@dataclass(frozen=True, slots=True)
class SipUser:
    """A SIP account (`[[sip.users]]`): registers, dials rooms, is reachable by dial-out."""

    user: str
    password: str
    role: str = "operator"
    name: str = ""
    digest_algorithms: str = ""  # challenged for this account; empty: the realm's ([sip])
    srtp: str = ""  # off, optional or mandatory; empty: the server's ([sip] srtp)
    nat: bool = False  # behind NAT: its media leg may latch onto its real address

    @property
    def algorithms(self) -> tuple[str, ...]:
        return parse_algorithms(self.digest_algorithms)


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
    # How its calls to us are let in (sip.trunktrust): "address" (from the proxy's exact
    # transport, address and port), "digest" (challenged; answers with username/password), "off".
    inbound: str = "address"
    srtp: str = ""  # off, optional or mandatory; empty: the server's ([sip] srtp)
    nat: bool = False  # behind NAT: its media legs may latch onto their real addresses
    # Another MCU (级联): every dial through it offers video (its picture becomes a source).
    video: bool = False

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
    # The realm's digest algorithms, challenged in this order. MD5 alone by default: many
    # phones (baresip/libre, sipp) give up at a SHA-256 challenge even when MD5 follows.
    # Accounts may have their own list ([[sip.users]] digest_algorithms = "SHA-256,MD5").
    digest_algorithms: str = "MD5"
    auth_failure_limit: int = 10  # failures from one address within a minute before it is blocked
    # SIP proxies in front of this server (the cluster's Kamailio; addresses, comma-separated):
    # the failures of requests they relay count against the address the proxy received them
    # from, never the proxy's own, so one guesser cannot block everyone behind it.
    proxies: str = ""
    # In-dialog OPTIONS to every call this often; 408 or 481 ends the call. 0 turns it off.
    keepalive_interval: float = 30.0
    # Texts (SIP MESSAGE, sip.pager): the user part that reaches the dispatch consoles
    # (sip:dispatch@server), the longest text in characters, and how long a MESSAGE we send
    # may go unanswered before it has failed.
    message_console: str = "dispatch"
    message_max_chars: int = 1000
    message_timeout: float = 32.0
    tcp_max_connections: int = 2000  # SIP TCP connections open at once
    tcp_max_per_address: int = 10  # accepted from one address at once
    tcp_message_timeout: float = 10.0  # a message begun must be complete within this
    tcp_idle_timeout: float = 600.0  # closed after this long without a complete message
    # Room PIN guessing (sip.pinguard): wrong PINs per address and per room within pin_lockout
    # seconds before that address, or that room's PIN entry, is locked for pin_lockout.
    pin_failure_limit: int = 10
    pin_room_failure_limit: int = 30
    pin_lockout: float = 600.0
    pin_calls_per_source: int = 2  # callers entering a PIN at once from one address
    pin_calls: int = 50  # callers entering a PIN at once, in total
    # SRTP (SDES) for calls and plain RTP legs without an account, trunk or gateway setting:
    # "optional" answers RTP/SAVP when offered, "mandatory" refuses plain RTP, "off" never.
    srtp: str = "optional"
    # SIP over TLS (sips:): its port (0: no TLS listener); the certificate is the server's
    # HTTPS one unless tls_cert/tls_key name another pair. Connections we open (dial-out,
    # trunks, gateways with ;transport=tls or sips:) check the peer's certificate against the
    # system's CAs and tls_ca_file, unless tls_verify is false.
    tls_port: int = 5061
    tls_cert: str = ""
    tls_key: str = ""
    tls_verify: bool = True
    tls_ca_file: str = ""
    # Music on hold: an audio file (anything announcements play: WAV, MP3, OGG...) looped to
    # held participants; empty: a built-in soft melody.
    hold_music: str = ""
    users: tuple[SipUser, ...] = ()

    def policy(self, srtp: str = "", nat: bool = False) -> LegPolicy:
        """A leg's policy from an account's, trunk's or gateway's `srtp` (empty: ours) and
        `nat`; raises ValueError for an unknown SRTP mode."""
        return LegPolicy(check_mode(srtp or self.srtp), nat)

    @property
    def algorithms(self) -> tuple[str, ...]:
        return parse_algorithms(self.digest_algorithms)

    @property
    def proxy_addresses(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.proxies.split(",") if part.strip())

    @property
    def tcp_limits(self) -> TcpLimits:
        return TcpLimits(
            self.tcp_max_connections,
            self.tcp_max_per_address,
            self.tcp_message_timeout,
            self.tcp_idle_timeout,
        )

    @property
    def pin_limits(self) -> PinLimits:
        return PinLimits(
            self.pin_failure_limit,
            self.pin_room_failure_limit,
            self.pin_lockout,
            self.pin_lockout,
            self.pin_calls_per_source,
            self.pin_calls,
        )

    trunks: tuple[SipTrunk, ...] = ()
