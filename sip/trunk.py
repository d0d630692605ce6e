"""Registration of the server to an upstream PBX or carrier trunk (RFC 3261 §10.2).

Registers as `sip:<username>@<domain>` through the trunk's proxy, answers digest challenges,
refreshes before expiry, retries with back-off after failures, and unregisters at stop.
Each state change is an event (`trunk.registered`, `trunk.failed`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sip.address import Address, SipUri
from sip.authclient import authorization_for
from sip.dialog import MAX_FORWARDS, new_call_id, new_tag
from sip.message import Headers, Request, Response
from sip.settings import SipTrunk
from sip.stack import resolve

if TYPE_CHECKING:
    from sip.useragent import SipUserAgent

log = logging.getLogger(__name__)

RETRY_SECONDS = (5, 15, 30, 60)
STANDBY_CHECK = 1.0  # seconds between looks at whether this node may register now


class TrunkRegistration:
    def __init__(self, trunk: SipTrunk, agent: SipUserAgent) -> None:
        self.trunk = trunk
        self.agent = agent
        self.state = "idle"  # registering, registered, failed, standby (another node has it)
        self.detail = ""
        self.expires_at = 0.0
        self._call_id = new_call_id()
        self._tag = new_tag()
        self._cseq = 0
        self._task: asyncio.Task[None] | None = None
        # Whether this server registers the trunk now (in a cluster: the node that claims it;
        # the others stand by, so the trunk has one registration).
        self.may_register: Callable[[str], bool] = lambda name: True

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.state == "registered":
            try:
                await asyncio.wait_for(self._register(0), 3)
            except (TimeoutError, OSError):
                pass

    def status(self) -> dict[str, Any]:
        return {
            "trunk": self.trunk.name,
            "state": self.state,
            "detail": self.detail,
            "expires_in": max(0, round(self.expires_at - self.agent.clock.now())),
        }

    async def _run(self) -> None:
        failures = 0
        while True:
            if not self.may_register(self.trunk.name):
                self.state, self.detail = "standby", "another node of the cluster registers it"
                await asyncio.sleep(STANDBY_CHECK)
                continue
            self.state = "registering"
            try:
                response = await self._register(self.trunk.expires)
            except OSError as error:
                response = Response(status=503, reason=str(error))
            if 200 <= response.status < 300:
                failures = 0
                granted = _granted_expires(response, self.trunk.expires)
                self.expires_at = self.agent.clock.now() + granted
                self._set("registered", f"{response.status} {response.reason}")
                await asyncio.sleep(max(30.0, granted * 0.8))
            else:
                self._set("failed", f"{response.status} {response.reason}")
                await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
                failures += 1

    def _set(self, state: str, detail: str) -> None:
        changed = state != self.state or detail != self.detail
        self.state, self.detail = state, detail
        if changed:
            self.agent.bus.publish(f"trunk.{state}", None, trunk=self.trunk.name, detail=detail)

    async def _register(self, expires: int) -> Response:
        trunk = self.trunk
        destination = await resolve(trunk.proxy_uri)
        request = self._request(expires, destination, None)
        response = await self.agent.stack.request(request, destination)
        if response.status in (401, 407):
            authorization = authorization_for(
                response, username=trunk.username, password=trunk.password, method="REGISTER",
                uri=request.uri,
            )  # fmt: skip
            if authorization is None:
                return Response(status=response.status, reason="cannot answer the challenge")
            request = self._request(expires, destination, authorization)
            response = await self.agent.stack.request(request, destination)
        return response

    def _request(self, expires: int, destination: Any, auth: tuple[str, str] | None) -> Request:
        trunk = self.trunk
        stack = self.agent.stack
        self._cseq += 1
        aor = Address(SipUri("sip", trunk.host_domain, user=trunk.username or "mediacore"))
        headers = Headers(
            [
                ("Via", stack.via(destination)),
                ("Max-Forwards", MAX_FORWARDS),
                ("From", str(aor.with_tag(self._tag))),
                ("To", str(aor)),
                ("Call-ID", self._call_id),
                ("CSeq", f"{self._cseq} REGISTER"),
                ("Contact", f"<{stack.contact_uri(trunk.username or 'mediacore', destination)}>"),
                ("Expires", str(expires)),
            ]
        )
        if auth is not None:
            headers.add(*auth)
        return Request(headers, b"", "REGISTER", f"sip:{trunk.host_domain}")


def _granted_expires(response: Response, asked: int) -> int:
    for contact in response.contacts:
        value = contact.params.get("expires")
        if value and value.isdigit():
            return int(value)
    value = response.headers.get("Expires")
    return int(value) if value and value.isdigit() else asked
