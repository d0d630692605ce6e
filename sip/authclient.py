"""Answering a digest challenge as a client (dial-out through a trunk, trunk registration)."""

from __future__ import annotations

from sip.digest import Challenge, DigestError, answer_challenge
from sip.message import Response


def authorization_for(
    response: Response, *, username: str, password: str, method: str, uri: str
) -> tuple[str, str] | None:
    """The (header name, value) that answers a 401 or 407, or None if no challenge in it
    can be answered (an algorithm or qop we lack, or a malformed header)."""
    challenged = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
    answer = "Authorization" if response.status == 401 else "Proxy-Authorization"
    for value in response.headers.get_all(challenged):
        try:
            credentials = answer_challenge(
                Challenge.parse(value), username=username, password=password, method=method,
                uri=uri,
            )  # fmt: skip
        except DigestError:
            continue  # e.g. SHA-512-256 first: try the next challenge
        return answer, credentials.header_value()
    return None
