"""Answering a digest challenge as a client (dial-out and messages through a trunk, trunk
registration)."""

from __future__ import annotations

from sip.digest import Challenge, DigestError, answer_challenge
from sip.message import Headers, Request, Response


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


def with_credentials(
    request: Request, response: Response, *, username: str, password: str, via: str
) -> Request | None:
    """`request` sent again to answer the challenge in `response` (401 or 407): a new `via`
    (a new transaction), the next CSeq, the credentials; None if it cannot be answered."""
    authorization = authorization_for(
        response, username=username, password=password, method=request.method, uri=request.uri
    )
    if authorization is None:
        return None
    skipped = ("Via", "CSeq", authorization[0])
    retry = Request(
        Headers([(n, v) for n, v in request.headers if n not in skipped]),
        request.body,
        request.method,
        request.uri,
    )
    retry.headers.add("Via", via)
    retry.headers.add("CSeq", f"{request.cseq[0] + 1} {request.method}")
    retry.headers.add(*authorization)
    return retry
