"""SDP security descriptions for SRTP (SDES, RFC 4568): the a=crypto attribute and the keys.

An offer lists crypto attributes, each a tag, a suite and our master key; the answer picks one
tag and gives its own key for the same suite. Each side encrypts what it sends with its own key,
so a leg holds two keys (`SrtpKeys`). Keys are secrets: their `repr` hides them, and nothing
here logs. Pure code: parse, serialize, choose; the transform itself is mediacore/srtp.py."""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from typing import Literal

# The suites we speak (RFC 4568 section 6.2), in our preference order; both have a 128-bit
# master key and a 112-bit master salt, 30 bytes in the inline key.
SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
KEY_LENGTH = 30
MAX_TAG = 999_999_999  # RFC 4568: 1*9DIGIT

# Per account, trunk, gateway or server default: whether media must, may or must not be SRTP.
SrtpMode = Literal["off", "optional", "mandatory"]
SRTP_MODES: tuple[str, ...] = ("off", "optional", "mandatory")
SECURE_PROFILES = ("RTP/SAVP", "RTP/SAVPF")

_CRYPTO = re.compile(r"(\d{1,9})[ \t]+([A-Za-z0-9_]{1,64})[ \t]+(\S{1,512})(?:[ \t]+(.{0,512}))?")
_LIFETIME = re.compile(r"(?:2\^)?\d{1,20}")
_MKI = re.compile(r"\d{1,3}:\d{1,3}")


class CryptoError(ValueError):
    """An a=crypto value we cannot parse."""


@dataclass(frozen=True, slots=True)
class CryptoAttribute:
    """One a=crypto line: `tag`, `suite`, master key and salt (`key`), session parameters.

    Only the first key parameter is kept; lifetime and MKI, when present, are kept as written
    (an MKI makes the line unusable for us: see `usable`)."""

    tag: int
    suite: str
    key: bytes = field(repr=False)
    lifetime: str | None = None
    mki: str | None = None
    session_params: str = ""

    @classmethod
    def parse(cls, value: str) -> CryptoAttribute:
        """The attribute's value (after "crypto:"); raises CryptoError when malformed."""
        match = _CRYPTO.fullmatch(value.strip())
        if match is None:
            raise CryptoError("a=crypto needs '<tag> <suite> inline:<key>[|...]'")
        tag_text, suite, key_params, session_params = match.groups()
        first = key_params.split(";", 1)[0]  # further key parameters: only the first is used
        method, _, info = first.partition(":")
        if method != "inline" or not info:
            raise CryptoError("a=crypto key method must be inline:")
        key_text, *extras = info.split("|")
        if len(extras) > 2:
            raise CryptoError("a=crypto key has too many '|' fields")
        try:
            key = base64.b64decode(key_text, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("a=crypto key is not base64") from None
        lifetime = mki = None
        for extra in extras:
            if _MKI.fullmatch(extra):
                mki = extra
            elif _LIFETIME.fullmatch(extra) and lifetime is None and mki is None:
                lifetime = extra
            else:
                raise CryptoError("a=crypto key has a bad lifetime or MKI")
        return cls(int(tag_text), suite, key, lifetime, mki, (session_params or "").strip())

    def to_value(self) -> str:
        """The attribute's value, as `parse` reads it."""
        key = "inline:" + base64.b64encode(self.key).decode("ascii")
        for extra in (self.lifetime, self.mki):
            if extra is not None:
                key += "|" + extra
        parts = [str(self.tag), self.suite, key]
        if self.session_params:
            parts.append(self.session_params)
        return " ".join(parts)

    @property
    def usable(self) -> bool:
        """Whether we can run SRTP with it: a suite we know, a 30-byte key, no MKI, no session
        parameters (they change the transform: unencrypted SRTP, KDR, ...)."""
        return (
            self.suite in SUITES
            and len(self.key) == KEY_LENGTH
            and (self.mki is None or self.mki.startswith("0:"))
            and not self.session_params
        )


@dataclass(frozen=True, slots=True)
class SrtpKeys:
    """A leg's SRTP: the suite and the key each direction is protected with."""

    suite: str
    local_key: bytes = field(repr=False)  # what we send is protected with it
    remote_key: bytes = field(repr=False)  # what the peer sends us is protected with it


def new_key() -> bytes:
    """A fresh master key and salt."""
    return os.urandom(KEY_LENGTH)


def crypto_attributes(values: list[str]) -> list[CryptoAttribute]:
    """The parseable a=crypto values of an m= line, in order; malformed lines are skipped (an
    offer may list suites we do not understand, written in ways we do not parse)."""
    parsed = []
    for value in values:
        try:
            parsed.append(CryptoAttribute.parse(value))
        except CryptoError:
            continue
    return parsed


def pick_offered(values: list[str]) -> CryptoAttribute | None:
    """The offerer's first crypto attribute we can use (the offer's order is its preference)."""
    return next((crypto for crypto in crypto_attributes(values) if crypto.usable), None)


def offered_attributes(key: bytes) -> list[CryptoAttribute]:
    """Our offer's crypto attributes: every suite we speak, each tagged, with `key`.

    One key for both suites: the answer keeps one, so the key protects one stream only."""
    return [CryptoAttribute(tag, suite, key) for tag, suite in enumerate(SUITES, start=1)]


def check_mode(mode: str) -> SrtpMode:
    """`mode` as an SrtpMode; raises ValueError for anything else."""
    if mode == "off":
        return "off"
    if mode == "optional":
        return "optional"
    if mode == "mandatory":
        return "mandatory"
    raise ValueError(f"srtp must be one of {', '.join(SRTP_MODES)}, not {mode!r}")
