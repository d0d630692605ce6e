"""This server as a GB/T 28181 platform (上级平台): devices register to it over SIP, it asks
them for their catalogs and invites their channels to send live video.

The asyncio side, over our own SIP stack. The server assembly puts `GbPlatform` in front of
the SIP user agent: requests it `claims()` (REGISTER and MESSAGE from devices, see
ingest.gbidentity; requests in its play dialogs) come here, everything else goes to the user
agent as before. Devices authenticate with MD5 digest (SHA-256 where `digest_algorithms` says)
in realm = the 10-digit domain (GB/T 28181-2016 section 9.1);
MESSAGE bodies are MANSCDP (see ingest.manscdp); INVITE offers and answers are annex F SDP
(see ingest.gbsdp); the device state logic is ingest.gbdevices.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingest.gbdevices import DeviceChange, GbDeviceTable
from ingest.gbidentity import is_device_user
from ingest.gbinvite import send_invite
from ingest.gbrecordings import GbRecordings
from ingest.gbrequest import device_request
from ingest.gbsdp import GbAnswer, GbSdpError, build_offer, make_ssrc, parse_answer, ssrc_value
from ingest.gbsettings import GbSettings
from ingest.gbstore import GbDeviceStore
from ingest.gbsubscriber import GbSubscriber
from ingest.manscdp import (
    CatalogItem,
    CatalogQuery,
    CatalogResponse,
    DeviceInfoQuery,
    DeviceInfoResponse,
    Keepalive,
    ManscdpError,
    ManscdpMessage,
    encode_message,
    parse_message,
)
from mediacore.events import EventBus
from sip.address import SipSyntaxError
from sip.dialog import Dialog, new_tag
from sip.digest import Credentials, DigestError, DigestServer, Verdict
from sip.message import Request, Response, make_response
from sip.stack import SipStack
from sip.throttle import AuthThrottle
from sip.transaction import Peer, ServerTransaction

log = logging.getLogger(__name__)

MANSCDP = "Application/MANSCDP+xml"
DEFAULT_EXPIRES = 3600
MAX_EXPIRES = 86400
REQUEST_TIMEOUT = 10.0  # MESSAGE and BYE: a device that does not answer in this time is gone
# Stopping the server sends BYE for every play and waits this long for the answers together
# (a device gone offline is not waited for): the BYE is what ends the device's stream.
STOP_BYE_WAIT = 1.0
PERMANENT_STATUSES = frozenset({400, 403, 404, 415, 488, 501, 603})


class GbPlayError(Exception):
    """A channel cannot be played; `permanent` ones (unknown device or channel) are not worth
    retrying."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(eq=False)
class GbPlay:
    """One live-play dialog: what the device's answer says, and who to tell when it ends."""

    device_id: str
    channel_id: str
    dialog: Dialog
    answer: GbAnswer
    ssrc: int  # the SSRC the device's packets must carry
    on_bye: Callable[[], None] | None = None
    ended: bool = False
    ack: tuple[bytes, Peer] | None = field(default=None, repr=False)
    kind: str = "Play"  # or "Playback" / "Download" (a recording, with its t= range)
    on_status: Callable[[int], None] | None = None  # MediaStatus NotifyType (121: the end)

    @property
    def media_hosts(self) -> frozenset[str]:
        """The device's addresses: the one its answer names and the one its SIP comes from."""
        return frozenset({self.answer.address, self.dialog.peer.host})


class GbPlatform:
    def __init__(
        self,
        settings: GbSettings,
        stack: SipStack,
        bus: EventBus,
        *,
        throttle: AuthThrottle | None = None,
        media_address: str = "",
        store: GbDeviceStore | None = None,
        phones: Callable[[str], bool] | None = None,
    ) -> None:
        """`media_address` is written into INVITE offers (rtp.public_address); empty: the
        address the device reaches us at. `store` keeps the registry across restarts.
        `phones` says whether a user is a SIP phone of the configuration (never a device
        unless [[gb28181.devices]] lists it)."""
        self.settings = settings
        self.media_address = media_address
        self.stack = stack
        self.clock = stack.clock  # the SIP stack's, as the devices talk SIP
        self.bus = bus
        self.throttle = throttle
        self.devices = GbDeviceTable(settings.keepalive_interval, settings.keepalive_misses)
        # GB/T 28181-2016 devices answer MD5 only, so MD5 is the default; the realm is the
        # domain they were told. `digest_algorithms` may add (or require) SHA-256 (RFC 8760).
        self.digest = DigestServer(settings.domain, algorithms=settings.digest_algorithms)
        self.plays: dict[str, GbPlay] = {}  # by Call-ID
        # told of every MANSCDP message a registered device sends: (device id, message)
        self.listeners: list[Callable[[str, ManscdpMessage], None]] = []
        self._sn = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._housekeeping: asyncio.Task[None] | None = None
        # Catalog, Alarm and MobilePosition subscriptions; alarms and positions pushed
        self.subscriber = GbSubscriber(settings, stack, self.devices, bus, self.send_document)
        # what devices recorded: RecordInfo, MediaStatus, MANSRTSP (ingest.gbrecordings)
        self.recordings = GbRecordings(
            settings, stack, self.devices, self.plays, self.send_document
        )
        self.store = store
        self.phones = phones
        self._inviting: set[asyncio.Task[Any]] = set()  # plays whose INVITE is unanswered

    @property
    def domain(self) -> str:
        return self.settings.domain

    @property
    def server_id(self) -> str:
        return self.settings.server_id

    def start(self) -> None:
        if self.store is not None:
            for device in self.store.load(self.clock.now(), time.time()):
                self.devices.restore(device)
        self._housekeeping = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        """CANCEL every unanswered play INVITE, end every play dialog (BYE), then stop the
        keepalive watch."""
        inviting = list(self._inviting)
        for task in inviting:
            if not task.cancelling():  # one the reader gave up on is CANCELling already
                task.cancel()
        await asyncio.gather(self._bye_all(), *inviting, return_exceptions=True)
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        await self.subscriber.stop()
        for task in list(self._tasks):
            task.cancel()
        if self.store is not None:
            self.store.close()

    def describe(self) -> list[dict[str, Any]]:
        """Devices for the API: state, address, DeviceInfo and channels, with their latest
        positions and alarm and their subscriptions."""
        return [self.subscriber.annotate(d) for d in self.devices.describe(self.clock.now())]

    def forget(self, device_id: str) -> bool:
        """Remove an offline device from the registry and its store (`gb.device` state
        "removed"); False when unknown or online."""
        if not self.devices.forget(device_id):
            return False
        if self.store is not None:
            self.store.forget(device_id)
        self.bus.publish("gb.device", None, device=device_id, state="removed", reason="deleted")
        return True

    # -- routing from the SIP stack --------------------------------------------------------

    def claims(self, request: Request) -> bool:
        """Whether this request is ours: REGISTER/MESSAGE from a device (ingest.gbidentity:
        a 20-digit phone number stays a phone), or one in a play dialog."""
        if request.call_id in self.plays:
            return True
        if request.method == "NOTIFY" and self.subscriber.claims_notify(request):
            return True
        if request.method not in ("REGISTER", "MESSAGE", "NOTIFY"):
            return False
        try:
            uri = request.from_.uri
        except SipSyntaxError:
            return False
        user = uri.user or ""
        return is_device_user(
            user,
            uri.host,
            domain=self.domain,
            listed=self.settings.is_listed(user),
            known=self.devices.get(user) is not None,
            phone=self.phones is not None and self.phones(user),
        )

    def request_received(
        self, request: Request, source: Peer, transaction: ServerTransaction | None
    ) -> None:
        if transaction is None:
            return  # an ACK: we never answer INVITEs, so there is nothing to acknowledge
        if request.method == "REGISTER":
            self._register(request, source, transaction)
        elif request.method == "MESSAGE":
            self._message(request, source, transaction)
        elif request.method == "NOTIFY":
            self.subscriber.notify_received(request, source, transaction)
        elif request.method == "BYE" and request.call_id in self.plays:
            self.stack.respond(transaction, make_response(request, 200))
            play = self.plays.pop(request.call_id)
            self._ended(play, "device-bye")
        elif request.call_id in self.plays and request.method in ("OPTIONS", "INFO"):
            self.stack.respond(transaction, make_response(request, 200))  # in-dialog keepalives
        else:
            self.stack.respond(transaction, make_response(request, 405 if request.to.tag else 481))

    def stray_response(self, response: Response, source: Peer) -> bool:
        """A repeated 2xx to one of our INVITEs (our ACK was lost): ACK it again."""
        play = self.plays.get(response.call_id)
        if play is None or play.ack is None:
            return False
        if 200 <= response.status < 300 and response.cseq[1] == "INVITE":
            self.stack.transports.send(*play.ack)
        return True

    # -- REGISTER --------------------------------------------------------------------------

    def _register(self, request: Request, source: Peer, transaction: ServerTransaction) -> None:
        device_id = request.from_.uri.user or ""
        header = request.headers.get("Authorization")
        if header is None:
            self._challenge(request, transaction, stale=False)
            return
        try:
            credentials = Credentials.parse(header)
        except DigestError as error:
            self.stack.respond(
                transaction, make_response(request, 400, f"Bad Credentials ({error})")
            )
            return
        password = self.settings.password_for(device_id)
        verdict = self.digest.verify(
            credentials,
            method="REGISTER",
            request_uri=request.uri,
            password=password if credentials.username == device_id else None,
            now=time.time(),
        )
        if verdict is Verdict.STALE:
            self._challenge(request, transaction, stale=True)
            return
        if verdict is not Verdict.OK:
            log.info("gb28181 device authentication failed", extra={"device": device_id})
            if self.throttle is not None:
                self.throttle.failed(source.host, self.clock.now())
            self.stack.respond(
                transaction, make_response(request, 403, "Forbidden (bad credentials)")
            )
            return
        if self.throttle is not None:
            self.throttle.succeeded(source.host)
        if self.devices.held_elsewhere(
            device_id, source, self.clock.now()
        ) and not self.settings.has_own_password(device_id):
            # The shared password proves a device of the domain, not this one: a live device
            # is not handed (nor unregistered) to another address until it goes offline.
            log.warning(
                "gb28181 takeover refused",
                extra={"device": device_id, "from": f"{source.host}:{source.port}"},
            )
            self.stack.respond(
                transaction, make_response(request, 403, "Forbidden (registered elsewhere)")
            )
            return
        try:
            expires = _expires(request)
        except ValueError:
            self.stack.respond(transaction, make_response(request, 400, "Bad Expires"))
            return
        contacts = request.contacts
        contact = (
            str(contacts[0].uri) if contacts else f"sip:{device_id}@{source.host}:{source.port}"
        )
        changes = self.devices.register(
            device_id,
            expires=expires,
            source=source,
            contact=contact,
            now=self.clock.now(),
            wall_now=time.time(),
            name=self.settings.name_for(device_id),
            user_agent=request.headers.get("User-Agent") or "",
        )
        response = make_response(request, 200, to_tag=new_tag())
        if expires > 0:
            response.headers.add("Contact", f"<{contact}>;expires={expires}")
        response.headers.add("Expires", str(expires))
        # GB/T 28181-2016 section 9.10: devices set their clock from the Date of this 200 OK.
        moment = datetime.now(self.settings.zone)
        response.headers.add("Date", moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3])
        self.stack.respond(transaction, response)
        self._persist(device_id)
        self._publish(changes)
        self.subscriber.registered(device_id, request.call_id, expires)

    def _challenge(self, request: Request, transaction: ServerTransaction, stale: bool) -> None:
        response = make_response(request, 401, to_tag=new_tag())
        for challenge in self.digest.challenges(time.time(), stale=stale):
            response.headers.add("WWW-Authenticate", challenge.header_value())
        self.stack.respond(transaction, response)

    # -- MESSAGE ---------------------------------------------------------------------------

    def _message(self, request: Request, source: Peer, transaction: ServerTransaction) -> None:
        device_id = request.from_.uri.user or ""
        if self.subscriber.message_received(request, source, transaction):
            return  # an alarm, a position, a catalog change or a broadcast answer
        try:
            message = parse_message(request.body)
        except ManscdpError as error:
            unsupported = str(error).startswith("unsupported")
            if unsupported and self.recordings.message_received(request, source):
                self.stack.respond(transaction, make_response(request, 200))
                return
            answer = make_response(request, 400, f"Bad MANSCDP ({error})")
            if self.devices.get(device_id) is not None and str(error).startswith("unsupported"):
                answer = make_response(request, 200)  # alarms, status: fine, just not modelled
            self.stack.respond(transaction, answer)
            return
        now = self.clock.now()
        if isinstance(message, Keepalive):
            changes = self.devices.keepalive(device_id, source, now)
            if changes is None:
                # not registered (or expired): a 403 makes the device register again
                self.stack.respond(transaction, make_response(request, 403, "Not Registered"))
                return
            self.stack.respond(transaction, make_response(request, 200))
            if changes:
                self._persist(device_id)
            self._publish(changes)
            return
        device = self.devices.get(device_id)
        if device is None or device.source.host != source.host:
            self.stack.respond(transaction, make_response(request, 403, "Not Registered"))
            return
        self.stack.respond(transaction, make_response(request, 200))
        if isinstance(message, CatalogResponse):
            self.devices.catalog(message)
            self._persist(message.device_id, message.items)
        elif isinstance(message, DeviceInfoResponse):
            self.devices.device_info(message)
            self._persist(message.device_id)
        for listener in self.listeners:
            listener(device_id, message)

    def _persist(self, device_id: str, items: tuple[CatalogItem, ...] = ()) -> None:
        """Keep the device (and those of `items` its table took) in the store, if any."""
        device = self.devices.get(device_id)
        if self.store is None or device is None:
            return
        self.store.save(device, self.clock.now(), time.time())
        self.store.save_channels(
            device_id, [i for i in items if device.channels.get(i.device_id) is i]
        )

    def _publish(self, changes: list[DeviceChange]) -> None:
        for change in changes:
            log.info(
                "gb28181 device %s",
                change.state,
                extra={"device": change.device_id, "reason": change.reason},
            )
            self.bus.publish(
                "gb.device", None, device=change.device_id, state=change.state, reason=change.reason
            )
            if change.state == "online":
                self._spawn(self._query(change.device_id))
                self.subscriber.device_online(change.device_id)
            else:
                self.subscriber.device_offline(change.device_id)

    async def _query(self, device_id: str) -> None:
        """Ask a device that came online for its DeviceInfo and its catalog."""
        for query in (DeviceInfoQuery, CatalogQuery):
            status = await self.send_manscdp(device_id, query(device_id, next(self._sn)))
            if status != 200:
                log.info(
                    "gb28181 query refused",
                    extra={"device": device_id, "query": query.__name__, "status": status},
                )

    async def send_manscdp(self, device_id: str, message: ManscdpMessage) -> int:
        """Send a MANSCDP MESSAGE to a registered device; returns the response status (404
        for an unknown device, 408 when it does not answer)."""
        return await self.send_document(device_id, encode_message(message))

    async def send_document(self, device_id: str, body: bytes) -> int:
        """Send a MANSCDP document (bytes) in a MESSAGE to a registered device; returns the
        response status as send_manscdp does."""
        device = self.devices.get(device_id)
        if device is None:
            return 404
        peer = device.source
        request = device_request(
            "MESSAGE",
            device_id,
            peer,
            self.settings,
            via=self.stack.via(peer),
            cseq=next(self._sn),
            headers=[("Content-Type", MANSCDP)],
            body=body,
        )
        try:
            response = await asyncio.wait_for(self.stack.request(request, peer), REQUEST_TIMEOUT)
        except TimeoutError:
            return 408
        return response.status

    # -- live play -------------------------------------------------------------------------

    async def play(
        self,
        device_id: str,
        channel_id: str,
        *,
        port: int,
        transport: str = "udp",
        on_bye: Callable[[], None] | None = None,
        setup: str = "passive",
        playback: tuple[int, int] | None = None,
        download_speed: int | None = None,
        on_status: Callable[[int], None] | None = None,
    ) -> GbPlay:
        """INVITE `channel_id` of `device_id` to send PS over RTP to our `port` (UDP, or TCP
        where we listen and the device connects; with `setup` "active", TCP where the device
        listens and we connect from `port`); returns the acknowledged dialog. Cancelled before
        the device answers, it CANCELs the INVITE (ingest.gbinvite). With `playback` (start,
        end Unix seconds) it plays the recording of that range instead (s=Playback; s=Download
        at `download_speed`), and `on_status` hears MediaStatus.

        Raises GbPlayError: permanent for an unknown device or a final refusal such as 404."""
        device = self.devices.get(device_id)
        if device is None:
            raise GbPlayError(f"unknown GB/T 28181 device {device_id}", permanent=True)
        if device.state != "online":
            raise GbPlayError(f"GB/T 28181 device {device_id} is offline")
        peer = device.source
        address = self.media_address or self.stack.local_host(peer.host)
        ssrc = self._new_ssrc(playback=playback is not None)
        offer = build_offer(
            platform_id=self.server_id,
            channel_id=channel_id,
            address=address,
            port=port,
            ssrc=ssrc,
            transport=transport,
            setup=setup,
            playback=playback,
            download_speed=download_speed,
        )
        invite = device_request(
            "INVITE",
            channel_id,
            peer,
            self.settings,
            via=self.stack.via(peer),
            cseq=1,
            headers=[
                ("Contact", f"<{self.stack.contact_uri(self.server_id, peer)}>"),
                # annex F: the stream's "media sender:SSRC, receiver:0"
                ("Subject", f"{channel_id}:{ssrc},{self.server_id}:0"),
                ("Content-Type", "APPLICATION/SDP"),
            ],
            body=offer.serialize().encode(),
        )
        task = asyncio.current_task()
        if task is not None:
            self._inviting.add(task)  # stop() cancels it: the INVITE is then CANCELled
        try:
            response = await send_invite(self.stack, invite, peer)
        finally:
            self._inviting.discard(task)  # type: ignore[arg-type]
        if response.status >= 300:
            raise GbPlayError(
                f"device {device_id} refused channel {channel_id}: "
                f"{response.status} {response.reason}",
                permanent=response.status in PERMANENT_STATUSES,
            )
        dialog = Dialog.as_uac(invite, response, peer)
        ack = dialog.request("ACK", self.stack.via(peer), cseq=invite.cseq[0])
        self.stack.send_stateless(ack, peer)
        try:
            answer = parse_answer(response.body)
            if answer.transport != transport:
                raise GbSdpError(f"it answered {answer.transport}, not {transport}")
            if transport == "tcp" and setup == "active" and answer.setup == "active":
                raise GbSdpError("it answered a=setup:active to ours: nobody would listen")
        except GbSdpError as error:
            await self._bye(dialog, device_id)
            raise GbPlayError(f"device {device_id} answered unusable SDP: {error}") from None
        # annex F: the device's y= is what it sends with (it may differ from the offer's)
        expected = answer.ssrc if answer.ssrc is not None else ssrc_value(ssrc)
        play = GbPlay(device_id, channel_id, dialog, answer, expected, on_bye)
        play.kind, play.on_status = offer.session_name, on_status
        play.ack = (ack.serialize(), peer)
        self.plays[invite.call_id] = play
        return play

    def _new_ssrc(self, playback: bool = False) -> str:
        """A y= SSRC with 4 random digits (GB/T 28181-2016 annex F), none a live play holds:
        a stranger cannot guess what the next stream's packets must carry."""
        busy = {play.ssrc for play in self.plays.values()}
        while True:
            ssrc = make_ssrc(self.domain, secrets.randbelow(10_000), playback)
            if ssrc_value(ssrc) not in busy:
                return ssrc

    async def stop_play(self, play: GbPlay) -> None:
        """Send BYE (once) and forget the dialog; waits at most REQUEST_TIMEOUT."""
        if play.ended:
            return
        self.plays.pop(play.dialog.call_id, None)
        play.ended = True
        await self._bye(play.dialog, play.device_id)

    async def _bye_all(self) -> None:
        """BYE every play at once; wait at most STOP_BYE_WAIT for the answers of devices still
        online (an offline one is not waited for), then give up on the rest."""
        plays = list(self.plays.values())
        if not plays:
            return
        byes = [asyncio.ensure_future(self.stop_play(play)) for play in plays]
        online = any(self.devices.is_online(play.device_id) for play in plays)
        _, unanswered = await asyncio.wait(byes, timeout=STOP_BYE_WAIT if online else 0)
        for task in unanswered:  # each sent its BYE when it first ran (before the timeout)
            task.cancel()
        await asyncio.gather(*unanswered, return_exceptions=True)
        if unanswered:
            log.info("gb28181 BYE not answered before stopping", extra={"plays": len(unanswered)})

    async def _bye(self, dialog: Dialog, device_id: str) -> None:
        bye = dialog.request("BYE", self.stack.via(dialog.peer))
        try:
            await asyncio.wait_for(self.stack.request(bye, dialog.peer), REQUEST_TIMEOUT)
        except TimeoutError:
            log.info("gb28181 BYE not answered", extra={"device": device_id})

    def _ended(self, play: GbPlay, reason: str) -> None:
        play.ended = True
        log.info("gb28181 play ended", extra={"device": play.device_id, "reason": reason})
        if play.on_bye is not None:
            play.on_bye()

    # -- housekeeping ----------------------------------------------------------------------

    async def _watch(self) -> None:
        period = min(1.0, max(0.05, self.settings.keepalive_interval / 4))
        while True:
            await asyncio.sleep(period)
            self._publish(self.devices.check(self.clock.now()))
            self.subscriber.tick()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("gb28181 task failed", exc_info=task.exception())


def _expires(request: Request) -> int:
    """The REGISTER's expiry: the Contact's expires parameter, else Expires, else 3600."""
    if (request.headers.get("Contact") or "").strip() == "*":
        return 0
    contacts = request.contacts
    text = contacts[0].params.get("expires") if contacts else None
    if text is None:
        text = request.headers.get("Expires")
    if text is None:
        return DEFAULT_EXPIRES
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        raise ValueError(f"bad expires {text[:20]!r}")
    return min(int(text), MAX_EXPIRES)
