"""Password hashes: scrypt with a salt of its own per account and its parameters recorded, so
that stronger parameters can come later without breaking stored hashes.

A hash is a dict fit for JSON: `{"algorithm": "scrypt", "n", "r", "p", "salt", "hash"}` (salt
and hash base64). Nothing here keeps or logs a password."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
from typing import Any

ALGORITHM = "scrypt"
# 2**14 x 8 x 1: 16 MiB and some tens of milliseconds per check (OWASP's minimum for scrypt).
N, R, P = 2**14, 8, 1
SALT_BYTES = 16
HASH_BYTES = 32
MAX_PASSWORD_BYTES = 1024  # longer ones are refused before hashing: no megabyte inputs
_MAX_MEMORY = 64 * 1024 * 1024  # a tampered file must not make a check take gigabytes


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> dict[str, Any]:
    """A new salted scrypt hash of `password` (a JSON-ready dict).

    Raises ValueError for an empty or overlong password."""
    secret = _encoded(password)
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(secret, salt, n, r, p)
    return {
        "algorithm": ALGORITHM,
        "n": n,
        "r": r,
        "p": p,
        "salt": _b64(salt),
        "hash": _b64(digest),
    }


def verify_password(password: str, stored: dict[str, Any]) -> bool:
    """Whether `password` matches `stored` (from hash_password). Compares in constant time; a
    malformed record or an unusable password never matches (and never raises)."""
    try:
        secret = _encoded(password)
        n, r, p = int(stored["n"]), int(stored["r"]), int(stored["p"])
        salt = base64.b64decode(stored["salt"], validate=True)
        expected = base64.b64decode(stored["hash"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        return False
    if stored.get("algorithm") != ALGORITHM or n < 2 or n & (n - 1) or not 1 <= p <= 16:
        return False
    if not (1 <= r <= 32 and 128 * n * r <= _MAX_MEMORY and salt and expected):
        return False
    return hmac.compare_digest(_scrypt(secret, salt, n, r, p, len(expected)), expected)


def same_secret(given: str, configured: str) -> bool:
    """Whether `given` equals a password kept in clear (a `[[sip.users]]` one), in constant
    time: digests of both are compared, so not even the length shows."""
    first = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
    second = hashlib.sha256(configured.encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(first, second)


def _scrypt(secret: bytes, salt: bytes, n: int, r: int, p: int, length: int = HASH_BYTES) -> bytes:
    memory = 128 * n * r + 128 * r * p + 1024 * 1024
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=memory, dklen=length)


def _encoded(password: str) -> bytes:
    if not isinstance(password, str) or not password:
        raise ValueError("a password may not be empty")
    secret = password.encode("utf-8", "surrogatepass")
    if len(secret) > MAX_PASSWORD_BYTES:
        raise ValueError(f"a password is at most {MAX_PASSWORD_BYTES} bytes")
    return secret


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@functools.cache
def decoy() -> dict[str, Any]:
    """A hash to check against when a user name is unknown, so that the answer takes as long
    as for a known one (whether a name exists does not show in the timing)."""
    return hash_password(secrets.token_urlsafe(16))
