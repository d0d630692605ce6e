"""The simulated device's digest: which challenge of a 401 it answers (RFC 8760 / RFC 7616).

A platform may offer SHA-256 and MD5 in one 401 (one WWW-Authenticate each, strongest first).
A GB/T 28181-2016 device knows MD5 only and skips the SHA-256 challenge; a newer one answers
the first challenge it can. `DeviceConfig.digest_algorithms` says which this device knows.
"""

from __future__ import annotations

from sip.authclient import authorization_for
from sip.digest import Challenge, Credentials, DigestError
from sip.message import Headers, Response


def knowing(response: Response, algorithms: tuple[str, ...]) -> Response:
    """`response` with only the challenges whose algorithm is among `algorithms`."""
    headers = Headers()
    for name, value in response.headers:
        if name == "WWW-Authenticate" and _algorithm(value) not in algorithms:
            continue
        headers.add(name, value)
    return Response(headers, response.body, response.status, response.reason)


def register_authorization(
    response: Response, *, algorithms: tuple[str, ...], username: str, password: str, uri: str
) -> tuple[tuple[str, str], str] | None:
    """The Authorization header answering a REGISTER's 401 with an algorithm this device
    knows, and that algorithm; None when it knows none of those offered."""
    answer = authorization_for(
        knowing(response, algorithms),
        username=username,
        password=password,
        method="REGISTER",
        uri=uri,
    )
    if answer is None:
        return None
    return answer, Credentials.parse(answer[1]).algorithm


def _algorithm(value: str) -> str | None:
    try:
        return Challenge.parse(value).algorithm
    except DigestError:
        return None
