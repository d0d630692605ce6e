"""A SIP phone for the cluster benchmark: one call over UDP through a proxy (Kamailio), digest
authentication, plain RTP audio through bench.rtppeer.RtpPeer, and re-INVITEs answered in its
dialog (a survivor node carrying the call on after the call's node died), each one timed.

    phone = SipPhone(RtpPeer(PCMU, host=address), user="bench", password="...")
    await phone.open()
    await phone.call("sip:room@10.77.3.1:5060", Peer("udp", "10.77.3.1", 5060))
    ...                                   # phone.media sends and records the audio
    await phone.hang_up()

The SIP is the server's own sans-I/O stack (sip.transaction.TransactionLayer, sip.dialog,
sip.authclient); this module is only the asyncio socket and the clock around it."""

from __future__ import annotations

import asyncio
import time

from bench.rtppeer import RtpPeer
from sip.authclient import with_credentials
from sip.dialog import Dialog, new_branch, new_call_id, new_tag
from sip.message import Headers, Request, Response, SipParseError, make_response, parse_message
from sip.peer import Peer
from sip.transaction import (
    ClientTransaction,
    Event,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TransactionLayer,
    TransactionTimedOut,
)

SDP = "application/sdp"


class CallFailed(RuntimeError):
    """The call was refused or not answered."""


class SipPhone(asyncio.DatagramProtocol):
    """One phone, one call at a time, on its own UDP port at `media.host`."""

    def __init__(self, media: RtpPeer, *, user: str, password: str) -> None:
        self.media = media
        self.user, self.password = user, password
        self.host = media.host
        self.port = 0
        self.dialog: Dialog | None = None
        self.reinvited: list[float] = []  # when each re-INVITE was answered (monotonic)
        self.ended = False  # the other side hung up
        self._layer = TransactionLayer()
        self._transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._finals: dict[str, asyncio.Future[Response]] = {}  # by branch
        self._ack: tuple[Request, Peer] | None = None
        self._sdp_version = 1

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.host, 0)
        )
        self.port = self._transport.get_extra_info("sockname")[1]
        await self.media.open()

    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@{self.host}:{self.port}>"

    def _via(self) -> str:
        return f"SIP/2.0/UDP {self.host}:{self.port};branch={new_branch()};rport"

    async def call(self, uri: str, proxy: Peer, timeout: float = 10.0) -> None:
        """INVITE `uri` through `proxy`, answering one digest challenge; returns once the call
        is confirmed (ACK sent), the media knowing where to send. Raises CallFailed."""
        invite = Request(
            Headers(
                [
                    ("Via", self._via()),
                    ("Max-Forwards", "70"),
                    ("From", f"<sip:{self.user}@{self.host}>;tag={new_tag()}"),
                    ("To", f"<{uri}>"),
                    ("Call-ID", new_call_id()),
                    ("CSeq", "1 INVITE"),
                    ("Contact", self.contact),
                    ("Content-Type", SDP),
                ]
            ),
            self.media.make_offer().encode(),
            "INVITE",
            uri,
        )
        response = await self._request(invite, proxy, timeout)
        if response.status in (401, 407):
            retry = with_credentials(
                invite, response, username=self.user, password=self.password, via=self._via()
            )
            if retry is None:
                raise CallFailed(f"cannot answer the challenge: {response.status}")
            invite = retry
            response = await self._request(invite, proxy, timeout)
        if not 200 <= response.status < 300:
            raise CallFailed(f"{uri}: {response.status} {response.reason}")
        self.dialog = Dialog.as_uac(invite, response, proxy)
        self.media.accept(response.body.decode())
        ack = self.dialog.request("ACK", self._via(), cseq=invite.cseq[0])
        self._ack = (ack, proxy)
        self._layer.send_stateless(ack, proxy)
        self._flush()

    async def hang_up(self, timeout: float = 5.0) -> int | None:
        """BYE in the dialog (through its route set); the final status, None without an answer
        or when the call had ended already."""
        if self.dialog is None or self.ended:
            return None
        bye = self.dialog.request("BYE", self._via())
        try:
            response = await self._request(bye, self.dialog.peer, timeout)
        except TimeoutError:
            return None
        self.ended = True
        return response.status

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self.media.close()

    # -- the transaction layer's I/O ---------------------------------------------------------

    async def _request(self, request: Request, destination: Peer, timeout: float) -> Response:
        final: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._finals[request.top_via.branch or ""] = final
        self._layer.send_request(request, destination, time.monotonic())
        self._flush()
        try:
            return await asyncio.wait_for(final, timeout)
        finally:
            self._finals.pop(request.top_via.branch or "", None)

    def datagram_received(self, data: bytes, addr: tuple[object, ...]) -> None:
        try:
            message = parse_message(data)
        except SipParseError:
            return
        source = Peer("udp", str(addr[0]), int(str(addr[1])))
        self._handle(self._layer.receive(message, source, time.monotonic()))

    def _on_timer(self) -> None:
        self._timer = None
        self._handle(self._layer.handle_timer(time.monotonic()))

    def _handle(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, ResponseReceived) and event.response.status >= 200:
                self._settle(event.transaction.request, event.response)
            elif isinstance(event, TransactionTimedOut) and isinstance(
                event.transaction, ClientTransaction
            ):
                self._settle(event.transaction.request, None)
            elif isinstance(event, RequestReceived) and event.transaction is not None:
                self._answer(event.request, event)
            elif isinstance(event, StrayResponse) and self._ack is not None:
                if event.response.status < 300 and event.response.cseq[1] == "INVITE":
                    self._layer.send_stateless(*self._ack)  # our ACK was lost: again
        self._flush()

    def _settle(self, request: Request, response: Response | None) -> None:
        final = self._finals.get(request.top_via.branch or "")
        if final is None or final.done():
            return
        if response is None:
            final.set_exception(TimeoutError(f"{request.method}: no answer"))
        else:
            final.set_result(response)

    def _answer(self, request: Request, event: RequestReceived) -> None:
        """Answer a request in our dialog: a re-INVITE moves the audio where its offer says
        and refreshes the target (the node now carrying the call); BYE ends the call."""
        assert event.transaction is not None
        dialog = self.dialog
        if dialog is None or not dialog.matches(request) or not dialog.accept_cseq(request):
            response = make_response(request, 481)
        elif request.method == "INVITE":
            self._sdp_version += 1
            response = make_response(request, 200)
            response.body = self.media.answer(request.body.decode(), self._sdp_version).encode()
            response.headers.add("Contact", self.contact)
            response.headers.add("Content-Type", SDP)
            if request.contacts:
                dialog.remote_target = request.contacts[0].uri
            self.reinvited.append(time.monotonic())
        else:
            if request.method == "BYE":
                self.ended = True
            response = make_response(request, 200)
        self._layer.respond(event.transaction, response, time.monotonic())

    def _flush(self) -> None:
        if self._transport is None:
            return
        for data, peer in self._layer.datagrams_to_send():
            self._transport.sendto(data, (peer.host, peer.port))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self._layer.timer()
        if deadline is not None:
            delay = max(0.0, deadline - time.monotonic())
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)
