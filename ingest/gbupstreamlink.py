"""One upper platform, over our SIP stack: REGISTER with digest, refresh, keepalive MESSAGEs,
and the MESSAGEs we send it (catalog answers). The timing and state are
ingest.gbupstream.UpstreamSession's; this is the asyncio side.

We register as `local_id` in our own domain (its first 10 digits) to `server_id` in the upper
platform's domain, answering its digest challenge (MD5, or SHA-256 where it offers that) with
`local_id` and the configured password. State changes are published as `gb.upstream` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Any

from ingest.gbrequest import gb_request
from ingest.gbupstream import StateChange, UpstreamSession
from ingest.gbupstreamsettings import GbUpstream
from ingest.manscdp import Keepalive, encode_message
from mediacore.events import EventBus
from sip.address import SipUri
from sip.authclient import authorization_for
from sip.dialog import new_call_id, new_tag
from sip.message import Request, Response, make_response
from sip.stack import SipStack, resolve
from sip.transaction import Peer

log = logging.getLogger(__name__)

MANSCDP = "Application/MANSCDP+xml"
MAX_REQUEST_WAIT = 10.0
UNREGISTER_WAIT = 3.0


class UpstreamLink:
    def __init__(self, upstream: GbUpstream, stack: SipStack, bus: EventBus) -> None:
        self.upstream = upstream
        self.stack = stack
        self.clock = stack.clock
        self.bus = bus
        self.session = UpstreamSession(upstream.keepalive_interval, upstream.keepalive_misses)
        self.peer: Peer | None = None  # where the upper platform is, once resolved
        self._call_id = new_call_id()
        self._tag = new_tag()
        self._cseq = itertools.count(1)
        self._sn = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        # no answer within this time: the platform is unreachable (not SIP's 32 s)
        self.wait = max(1.0, min(MAX_REQUEST_WAIT, 2 * upstream.keepalive_interval))

    @property
    def local_domain(self) -> str:
        return self.upstream.local_id[:10]

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.session.state == "registered":
            with contextlib.suppress(TimeoutError, OSError):
                await asyncio.wait_for(self._register(0), UNREGISTER_WAIT)
        self.session.stopped()

    def describe(self) -> dict[str, Any]:
        upstream = self.upstream
        return {
            "server_id": upstream.server_id,
            "name": upstream.label,
            "domain": upstream.domain,
            "address": f"{upstream.address}:{upstream.port}",
            "transport": upstream.transport,
            "local_id": upstream.local_id,
            **self.session.describe(self.clock.now()),
        }

    # -- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            now = self.clock.now()
            action = self.session.due(now)
            if action == "register":
                await self._registration()
            elif action == "keepalive":
                response = await self._send(self._keepalive_body())
                self._changed(
                    self.session.keepalive_answered(
                        self.clock.now(), response.status, response.reason
                    )
                )
            else:
                await asyncio.sleep(min(1.0, self.session.wait(now)))

    async def _registration(self) -> None:
        try:
            response = await self._register(self.upstream.expires)
        except OSError as error:
            response = Response(status=503, reason=str(error))
        now = self.clock.now()
        if 200 <= response.status < 300:
            self._changed(self.session.registered(now, _granted(response, self.upstream.expires)))
        else:
            self._changed(self.session.register_failed(now, f"{response.status} {response.reason}"))

    def _changed(self, change: StateChange | None) -> None:
        if change is None:
            return
        upstream = self.upstream
        log.info(
            "gb28181 upstream %s",
            change.state,
            extra={"upstream": upstream.server_id, "reason": change.reason},
        )
        self.bus.publish(
            "gb.upstream",
            None,
            upstream=upstream.server_id,
            name=upstream.label,
            state=change.state,
            reason=change.reason,
        )

    # -- requests --------------------------------------------------------------------------

    async def _destination(self) -> Peer:
        if self.peer is None:
            upstream = self.upstream
            uri = SipUri("sip", upstream.address, port=upstream.port)
            peer = await resolve(uri)
            self.peer = Peer(upstream.transport, peer.host, peer.port)
        return self.peer

    async def _register(self, expires: int) -> Response:
        peer = await self._destination()
        request = self._register_request(expires, peer, None)
        response = await self._request(request, peer)
        if response.status in (401, 407):
            authorization = authorization_for(
                response,
                username=self.upstream.local_id,
                password=self.upstream.password,
                method="REGISTER",
                uri=request.uri,
            )
            if authorization is None:
                return Response(status=response.status, reason="cannot answer the challenge")
            request = self._register_request(expires, peer, authorization)
            response = await self._request(request, peer)
        return response

    def _register_request(
        self, expires: int, peer: Peer, authorization: tuple[str, str] | None
    ) -> Request:
        upstream = self.upstream
        me = f"<sip:{upstream.local_id}@{self.local_domain}>"
        headers = [
            ("Contact", f"<{self.stack.contact_uri(upstream.local_id, peer)}>"),
            ("Expires", str(expires)),
        ]
        return gb_request(
            "REGISTER",
            f"sip:{upstream.server_id}@{upstream.domain}",
            via=self.stack.via(peer),
            from_=f"{me};tag={self._tag}",
            to=me,
            cseq=next(self._cseq),
            call_id=self._call_id,
            headers=headers if authorization is None else [*headers, authorization],
        )

    def _keepalive_body(self) -> bytes:
        return encode_message(Keepalive(self.upstream.local_id, next(self._sn)))

    async def send_manscdp(self, body: bytes) -> int:
        """Send a MANSCDP document to the upper platform; returns the response status."""
        return (await self._send(body)).status

    async def _send(self, body: bytes) -> Response:
        try:
            peer = await self._destination()
        except OSError as error:
            return Response(status=503, reason=str(error))
        upstream = self.upstream
        request = gb_request(
            "MESSAGE",
            f"sip:{upstream.server_id}@{upstream.domain}",
            via=self.stack.via(peer),
            from_=f"<sip:{upstream.local_id}@{self.local_domain}>;tag={new_tag()}",
            to=f"<sip:{upstream.server_id}@{upstream.domain}>",
            cseq=next(self._cseq),
            headers=[("Content-Type", MANSCDP)],
            body=body,
        )
        return await self._request(request, peer)

    async def _request(self, request: Request, peer: Peer) -> Response:
        try:
            return await asyncio.wait_for(self.stack.request(request, peer), self.wait)
        except TimeoutError:
            return make_response(request, 408, "No Answer")


def _granted(response: Response, asked: int) -> int:
    """The expiry the upper platform granted (Contact expires, then Expires), else ours."""
    for contact in response.contacts:
        value = contact.params.get("expires")
        if value and value.isdigit():
            return min(int(value), asked) if int(value) > 0 else asked
    value = response.headers.get("Expires")
    return min(int(value), asked) if value and value.isdigit() and int(value) > 0 else asked
