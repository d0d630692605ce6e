"""The SRTP transform of one leg (RFC 3711), through libsrtp (pylibsrtp).

One libsrtp session protects what we send with our key, another checks and decrypts what the
peer sends with its key; replays and forged packets fail authentication and raise SrtpError.
The keys come from SDES (mediacore/sdes.py), or from a cascade link's bind (cascadesec.py)."""

from __future__ import annotations

from collections.abc import Callable

import pylibsrtp
from pylibsrtp._binding import ffi

from mediacore.sdes import SrtpKeys

_PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}


class SrtpError(ValueError):
    """A packet failed authentication or replay checks, or could not be protected."""


PACKET_SIZE = 1500  # pylibsrtp's own: the largest packet it protects, trailer included


class _Session(pylibsrtp.Session):
    """A libsrtp session for packets up to `size` bytes, trailer included: pylibsrtp's buffer
    holds 1500, a cascade link's packet (20 ms of 48 kHz L16) is bigger."""

    def __init__(self, policy: pylibsrtp.Policy, size: int) -> None:
        super().__init__(policy)
        if size != PACKET_SIZE:
            self._cdata = ffi.new("char[]", size)
            self._buffer = ffi.buffer(self._cdata)


class SrtpTransform:
    """Protect outgoing and unprotect incoming RTP and RTCP with a leg's `SrtpKeys`."""

    def __init__(self, keys: SrtpKeys, packet_size: int = PACKET_SIZE) -> None:
        """`packet_size`: the largest SRTP packet in bytes; larger ones raise SrtpError."""
        profile = _PROFILES.get(keys.suite)
        if profile is None:
            raise ValueError(f"SRTP suite {keys.suite} is not supported")
        self.keys = keys
        self._tx = _Session(
            pylibsrtp.Policy(
                key=keys.local_key,
                ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                srtp_profile=profile,
            ),
            packet_size,
        )
        self._rx = _Session(
            pylibsrtp.Policy(
                key=keys.remote_key,
                ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
                srtp_profile=profile,
            ),
            packet_size,
        )

    def protect(self, packet: bytes) -> bytes:
        return self._call(self._tx.protect, packet)

    def unprotect(self, packet: bytes) -> bytes:
        """The plain RTP packet; raises SrtpError when it does not authenticate."""
        return self._call(self._rx.unprotect, packet)

    def protect_rtcp(self, packet: bytes) -> bytes:
        return self._call(self._tx.protect_rtcp, packet)

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        """The plain RTCP packet; raises SrtpError when it does not authenticate."""
        return self._call(self._rx.unprotect_rtcp, packet)

    @staticmethod
    def _call(method: Callable[[bytes], bytes], packet: bytes) -> bytes:
        try:
            return method(packet)
        except (pylibsrtp.Error, ValueError) as error:  # ValueError: "packet is too long"
            raise SrtpError(str(error)) from None
