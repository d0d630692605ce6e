"""SIP digest authentication: RFC 3261 section 22, RFC 7616 (qop=auth) and RFC 8760 (SHA-256).

Sans-I/O: header values in, dataclasses out, and back; `DigestServer` issues self-checking
nonces (no per-nonce storage) and keeps only a bounded record of nonce counts to stop replays.
`now` is always supplied by the caller, so tests drive time with plain floats.

Replays: with qop=auth every request must carry a higher nonce count than the last; without
qop (RFC 2069 clients, many GB/T 28181 devices) a nonce is good for one request only. Either
replay gets a fresh challenge (STALE), never a success. The credentials' `uri` must name the
request's own Request-URI, so credentials captured for one room cannot open another.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
import struct
from dataclasses import dataclass

from sip.address import SipSyntaxError, SipUri

ALGORITHMS = ("SHA-256", "MD5")  # RFC 8760 section 2.4: strongest first, one challenge each

MAX_HEADER_LENGTH = 4096
MAX_VALUE_LENGTH = 1024
MAX_TRACKED_NONCES = 10_000
MAX_CLOCK_SKEW = 5.0  # seconds a nonce may appear to come from the future (clock steps)

_HASHLIB_NAMES = {"MD5": "md5", "SHA-256": "sha256"}
_MAX_NC = 0xFFFFFFFF

_FOLD = re.compile(r"\r?\n[ \t]+")  # RFC 3261 section 7.3.1: a fold is equivalent to one space
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # controls left after unfolding (tab is LWS)
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")  # RFC 3261 section 25.1 `token`
# Unquoted values are read up to the next separator: a superset of token, because some devices
# send URIs and base64 nonces unquoted.
_BARE_VALUE = re.compile(r'[^\s,"]+')
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_NONCE_COUNT = re.compile(r"[0-9a-fA-F]{8}")  # ASCII-only: int(x, 16) alone accepts "0x1", "1_0"
_NONCE = re.compile(r"[A-Za-z0-9_-]{32}")  # 24 bytes of urlsafe base64, no padding needed
_NONCE_MAC_LENGTH = 16


class DigestError(ValueError):
    """A malformed digest header value, or a value that cannot be written or computed."""


def _parse_params(value: str) -> dict[str, str]:
    """Split `Digest name=value, ...` into lower-cased names and unquoted values."""
    if len(value) > MAX_HEADER_LENGTH:
        raise DigestError(f"header value is {len(value)} characters, over {MAX_HEADER_LENGTH}")
    text = _FOLD.sub(" ", value)
    if _FORBIDDEN.search(text):
        raise DigestError("header value contains a control character outside a line fold")
    pos = _skip(text, 0, " \t")
    scheme = _TOKEN.match(text, pos)
    if scheme is None or scheme.group().lower() != "digest":
        raise DigestError("authentication scheme is not Digest")
    pos = scheme.end()
    if pos < len(text) and text[pos] not in " \t":
        raise DigestError("expected whitespace after the Digest scheme")
    params: dict[str, str] = {}
    while True:
        pos = _skip(text, pos, " \t,")  # RFC 7230 #rule: empty list elements are allowed
        if pos == len(text):
            return params
        name = _TOKEN.match(text, pos)
        if name is None:
            raise DigestError(f"expected a parameter name at offset {pos}")
        pos = _skip(text, name.end(), " \t")
        if pos == len(text) or text[pos] != "=":
            raise DigestError(f"expected '=' after parameter {name.group()!r}")
        pos = _skip(text, pos + 1, " \t")
        param_value, pos = _read_value(text, pos, name.group())
        key = name.group().lower()
        if key in params:
            raise DigestError(f"parameter {key!r} appears twice")
        params[key] = param_value
        pos = _skip(text, pos, " \t")
        if pos < len(text) and text[pos] != ",":
            raise DigestError(f"expected ',' after parameter {key!r}")


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _read_value(text: str, pos: int, name: str) -> tuple[str, int]:
    """Read a quoted-string or bare value at `pos`; return it unescaped and the end offset."""
    quoted = _QUOTED.match(text, pos)
    if quoted is not None:
        value = _ESCAPE.sub(r"\1", quoted.group(1))
        end = quoted.end()
    elif pos < len(text) and text[pos] == '"':
        raise DigestError(f"unterminated quoted value for parameter {name!r}")
    else:
        bare = _BARE_VALUE.match(text, pos)
        if bare is None:
            raise DigestError(f"parameter {name!r} has no value")
        value = bare.group()
        end = bare.end()
    if len(value) > MAX_VALUE_LENGTH:
        raise DigestError(f"parameter {name!r} is {len(value)} characters, over {MAX_VALUE_LENGTH}")
    return value, end


def _required(params: dict[str, str], name: str) -> str:
    try:
        return params[name]
    except KeyError:
        raise DigestError(f"missing mandatory parameter {name!r}") from None


def _quote(name: str, value: str) -> str:
    if _FORBIDDEN.search(value):
        raise DigestError(f"parameter {name!r} contains a control character")  # header injection
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}="{escaped}"'


def _bare(name: str, value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise DigestError(f"parameter {name!r} value {value!r} is not a token")
    return f"{name}={value}"


def _canonical_algorithm(algorithm: str) -> str | None:
    """The ALGORITHMS spelling of `algorithm` (names are case-insensitive), or None if unknown."""
    upper = algorithm.upper()
    return upper if upper in _HASHLIB_NAMES else None


@dataclass(frozen=True, slots=True)
class Challenge:
    """One WWW-Authenticate or Proxy-Authenticate value. `qop` keeps the offered list as sent."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: str | None = "auth"
    opaque: str | None = None
    stale: bool = False

    @classmethod
    def parse(cls, value: str) -> Challenge:
        """Parse a header value such as 'Digest realm="x", nonce="y", qop="auth"'.

        Takes the value without the header name. Returns the challenge; an absent algorithm
        means MD5 and an absent qop means RFC 2069 style. Raises DigestError if malformed.
        """
        params = _parse_params(value)
        return cls(
            realm=_required(params, "realm"),
            nonce=_required(params, "nonce"),
            algorithm=params.get("algorithm", "MD5"),
            qop=params.get("qop"),
            opaque=params.get("opaque"),
            # RFC 7616 section 3.3: anything other than "true" (any case) means false
            stale=params.get("stale", "").lower() == "true",
        )

    def header_value(self) -> str:
        """Serialize to a header value. Raises DigestError for unsendable values (CR, LF...)."""
        parts = [_quote("realm", self.realm), _quote("nonce", self.nonce)]
        if self.opaque is not None:
            parts.append(_quote("opaque", self.opaque))
        parts.append(_bare("algorithm", self.algorithm))
        if self.qop is not None:
            parts.append(_quote("qop", self.qop))
        if self.stale:
            parts.append("stale=TRUE")
        return "Digest " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Credentials:
    """One Authorization or Proxy-Authorization value."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    cnonce: str | None = None
    nc: str | None = None
    qop: str | None = None
    opaque: str | None = None

    @classmethod
    def parse(cls, value: str) -> Credentials:
        """Parse a header value such as 'Digest username="a", realm="r", nonce="n", ...'.

        Takes the value without the header name. Returns the credentials as sent (nc and qop are
        checked by DigestServer.verify, not here). Raises DigestError if the scheme is not Digest,
        a mandatory parameter is missing, or the value is malformed.
        """
        params = _parse_params(value)
        return cls(
            username=_required(params, "username"),
            realm=_required(params, "realm"),
            nonce=_required(params, "nonce"),
            uri=_required(params, "uri"),
            response=_required(params, "response"),
            algorithm=params.get("algorithm", "MD5"),
            cnonce=params.get("cnonce"),
            nc=params.get("nc"),
            qop=params.get("qop"),
            opaque=params.get("opaque"),
        )

    def header_value(self) -> str:
        """Serialize to a header value. Raises DigestError for unsendable values (CR, LF...)."""
        parts = [
            _quote("username", self.username),
            _quote("realm", self.realm),
            _quote("nonce", self.nonce),
            _quote("uri", self.uri),
            _quote("response", self.response),
            _bare("algorithm", self.algorithm),
        ]
        if self.cnonce is not None:
            parts.append(_quote("cnonce", self.cnonce))
        if self.opaque is not None:
            parts.append(_quote("opaque", self.opaque))
        if self.qop is not None:
            parts.append(_bare("qop", self.qop))  # RFC 3261 section 25.1: message-qop unquoted
        if self.nc is not None:
            parts.append(_bare("nc", self.nc))
        return "Digest " + ", ".join(parts)


def _hash(hashlib_name: str, *parts: str) -> str:
    # surrogatepass: any Python str hashes instead of raising UnicodeEncodeError
    data = ":".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.new(hashlib_name, data).hexdigest()


def digest_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None,
    nc: str | None,
    cnonce: str | None,
) -> str:
    """Compute the lowercase hex `response` parameter.

    Uses RFC 7616 section 3.4.1 when qop is "auth" (nc and cnonce then required) and the
    RFC 2069/2617 form when qop is None. Algorithm names are case-insensitive.
    Raises DigestError for an unknown algorithm, an unsupported qop, or missing nc/cnonce.
    """
    canonical = _canonical_algorithm(algorithm)
    if canonical is None:
        raise DigestError(f"unsupported digest algorithm {algorithm!r}")
    name = _HASHLIB_NAMES[canonical]
    ha1 = _hash(name, username, realm, password)
    ha2 = _hash(name, method, uri)
    if qop is None:
        return _hash(name, ha1, nonce, ha2)
    if qop != "auth":
        raise DigestError(f"unsupported qop {qop!r}; only 'auth' is implemented")
    if nc is None or cnonce is None:
        raise DigestError("qop=auth needs both nc and cnonce")
    return _hash(name, ha1, nonce, nc, cnonce, qop, ha2)


def answer_challenge(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    nc: int = 1,
    cnonce: str | None = None,
) -> Credentials:
    """Build the credentials answering `challenge` for a request with `method` and `uri`.

    Picks qop "auth" when offered, otherwise answers RFC 2069 style if no qop was offered.
    `nc` is the count of requests sent with this nonce (1-based); `cnonce` defaults to a
    random 16-hex-digit string. Raises DigestError if the challenge offers only qop values other
    than "auth", names an unknown algorithm, or nc is outside 1..0xFFFFFFFF.
    """
    if not 1 <= nc <= _MAX_NC:
        raise DigestError(f"nonce count {nc} is outside 1..{_MAX_NC}")
    if challenge.qop is None:
        qop, nc_text, cnonce = None, None, None
    elif "auth" in (option.strip().lower() for option in challenge.qop.split(",")):
        qop, nc_text = "auth", f"{nc:08x}"
        cnonce = cnonce if cnonce is not None else secrets.token_hex(8)
    else:
        raise DigestError(f"challenge offers qop {challenge.qop!r} but only 'auth' is implemented")
    response = digest_response(
        algorithm=challenge.algorithm,
        username=username,
        realm=challenge.realm,
        password=password,
        method=method,
        uri=uri,
        nonce=challenge.nonce,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
    )
    return Credentials(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=challenge.algorithm,
        cnonce=cnonce,
        nc=nc_text,
        qop=qop,
        opaque=challenge.opaque,
    )


class Verdict(enum.Enum):
    """Outcome of DigestServer.verify."""

    OK = "ok"
    STALE = "stale"  # right password, expired nonce: re-challenge with stale=true
    BAD = "bad"


class DigestServer:
    """Issues and checks nonces without storing each one.

    nonce = urlsafe-b64(issued_at (8-byte big-endian double) + HMAC-SHA256(secret,
    issued_at || realm)[:16]); only the last nonce count per (nonce, username) is remembered,
    for at most MAX_TRACKED_NONCES nonces.
    """

    def __init__(
        self,
        realm: str,
        secret: bytes | None = None,
        nonce_lifetime: float = 300.0,
        algorithms: tuple[str, ...] = ALGORITHMS,
    ) -> None:
        """Serve `realm`; `secret` (default 32 random bytes) must be shared by all instances
        that should accept each other's nonces. `algorithms` are challenged in this order (some
        clients, sipp 3.6 among them, give up when the first one is SHA-256). Raises
        ValueError if nonce_lifetime <= 0 or an algorithm is unknown."""
        if not nonce_lifetime > 0:
            raise ValueError(f"nonce_lifetime must be positive, got {nonce_lifetime}")
        if not algorithms or set(algorithms) - set(ALGORITHMS):
            raise ValueError(f"algorithms must be among {ALGORITHMS}, got {algorithms}")
        self.algorithms = algorithms
        self.realm = realm
        self.nonce_lifetime = nonce_lifetime
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        # Derived, not random, so instances sharing a secret hand out the same opaque.
        self.opaque = hmac.new(self._secret, b"opaque", hashlib.sha256).hexdigest()[:16]
        self._last_nc: dict[tuple[str, str], tuple[float, int]] = {}
        # issued_at of the newest evicted entry: older unseen nonces may be replays, so re-challenge
        self._forgotten_up_to = float("-inf")

    def challenges(
        self, now: float, *, stale: bool = False, algorithms: tuple[str, ...] | None = None
    ) -> list[Challenge]:
        """One challenge per entry of `algorithms` (default: the server's), sharing a nonce
        issued at `now`, qop="auth".

        `stale` marks them as answers to a stale nonce, so clients retry without prompting.
        """
        nonce = self._make_nonce(now)
        return [
            Challenge(self.realm, nonce, algorithm, "auth", self.opaque, stale)
            for algorithm in algorithms or self.algorithms
        ]

    def verify(
        self,
        credentials: Credentials,
        *,
        method: str,
        request_uri: str,
        password: str | None,
        now: float,
        algorithms: tuple[str, ...] | None = None,
    ) -> Verdict:
        """Check `credentials` sent with a request of `method` to `request_uri` at time `now`.

        `password` is the user's password, or None for an unknown user; `algorithms` those
        this user may answer with (default: the server's). Returns OK, STALE (right password
        but an expired, forgotten or already used nonce or nonce count: challenge again) or BAD
        (wrong password, or credentials made for another Request-URI). Never raises for any
        credentials.
        """
        algorithm = _canonical_algorithm(credentials.algorithm)
        issued_at = self._check_nonce(credentials.nonce)
        if (
            password is None
            or credentials.realm != self.realm
            or algorithm is None
            or algorithm not in (algorithms or self.algorithms)
            or issued_at is None
            or not same_request_uri(credentials.uri, request_uri)
        ):
            return Verdict.BAD
        qop, nc, cnonce = credentials.qop, credentials.nc, credentials.cnonce
        if qop is not None and (
            qop != "auth"
            or nc is None
            or cnonce is None
            or not _NONCE_COUNT.fullmatch(nc)
            or int(nc, 16) == 0  # counts start at 1
        ):
            return Verdict.BAD
        expected = digest_response(
            algorithm=algorithm,
            username=credentials.username,
            realm=self.realm,
            password=password,
            method=method,
            uri=credentials.uri,
            nonce=credentials.nonce,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
        )
        sent = credentials.response.lower().encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(expected.encode("ascii"), sent):
            return Verdict.BAD
        # Written as a negated range so a NaN `now` counts as stale, not as fresh.
        if not -MAX_CLOCK_SKEW <= now - issued_at <= self.nonce_lifetime:
            return Verdict.STALE
        if qop is None or nc is None:
            return self._record_nonce_count(credentials, issued_at, 1)  # one use per nonce
        return self._record_nonce_count(credentials, issued_at, int(nc, 16))

    def _record_nonce_count(self, credentials: Credentials, issued_at: float, nc: int) -> Verdict:
        # Keyed by username too: nonces depend only on issue time, so two users may share one.
        key = (credentials.nonce, credentials.username)
        seen = self._last_nc.get(key)
        if seen is None and issued_at <= self._forgotten_up_to:
            return Verdict.STALE
        if nc <= (seen[1] if seen is not None else 0):
            return Verdict.STALE  # a replay, or requests crossing: a fresh nonce sorts it out
        self._last_nc[key] = (issued_at, nc)
        if len(self._last_nc) > MAX_TRACKED_NONCES:
            oldest = next(iter(self._last_nc))
            evicted_issued_at, _ = self._last_nc.pop(oldest)
            self._forgotten_up_to = max(self._forgotten_up_to, evicted_issued_at)
        return Verdict.OK

    def _make_nonce(self, issued_at: float) -> str:
        stamp = struct.pack(">d", issued_at)
        return base64.urlsafe_b64encode(stamp + self._mac(stamp)).decode("ascii")

    def _check_nonce(self, nonce: str) -> float | None:
        """The issue time of a nonce this server (or one sharing its secret) made, else None."""
        if not _NONCE.fullmatch(nonce):
            return None
        raw = base64.urlsafe_b64decode(nonce)
        stamp, mac = raw[:8], raw[8:]
        if not hmac.compare_digest(mac, self._mac(stamp)):
            return None
        issued_at: float = struct.unpack(">d", stamp)[0]
        return issued_at

    def _mac(self, stamp: bytes) -> bytes:
        message = stamp + self.realm.encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_NONCE_MAC_LENGTH]


def same_request_uri(digest_uri: str, request_uri: str) -> bool:
    """Whether a credentials' `uri` names `request_uri` (RFC 2617 §3.2.2.5): equal text, or
    SIP URIs with the same scheme, user, host and port (parameters may be written otherwise)."""
    if digest_uri == request_uri:
        return True
    try:
        sent, target = SipUri.parse(digest_uri), SipUri.parse(request_uri)
    except SipSyntaxError:
        return False
    return _uri_identity(sent) == _uri_identity(target)


def _uri_identity(uri: SipUri) -> tuple[str, str, str, int]:
    scheme = uri.scheme.lower()
    default_port = 5061 if scheme == "sips" else 5060
    return scheme, uri.user or "", uri.host.lower(), uri.port or default_port
