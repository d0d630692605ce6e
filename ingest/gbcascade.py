"""Cascade up (级联): this server as a lower platform (下级平台) of configured upper platforms.

For each `[[gb28181.upstream]]` an UpstreamLink registers and keeps alive. Requests from an
upper platform (its server_id in From, from the address it is configured at, or in a dialog
it opened) come here ahead of the device platform (see mediacore.server.sipservice):

- Query Catalog: our catalog (ingest.gbcascadecatalog), a few items per MESSAGE;
  Query DeviceInfo and DeviceStatus: for us, or a device below.
- Control DeviceControl (PTZ and the like) for a channel of a device below: the document goes
  on to that device as it is; the device's answer status is the upper platform's answer.
- INVITE (s=Play) of a device's channel (relayed from the device), of a wall (its encoded
  picture) or of a room (its common composed conference picture, video only), PS over RTP by
  UDP or TCP (ingest.gbupperplay); BYE from either side ends it.

Plays are published as `gb.cascade` events (state playing/ended), registration changes as
`gb.upstream`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from ingest.gbcascadecatalog import (
    RoomChannel,
    catalog_pages,
    device_items,
    device_status_body,
    record_pages,
    room_channels,
    room_items,
    wall_channels,
    wall_items,
)
from ingest.gbmansrtsp import MansrtspError, parse_control
from ingest.gbmediaout import MediaOut
from ingest.gbplatform import GbPlatform, GbPlay, GbPlayError
from ingest.gbrecordings import RecordsError
from ingest.gbrecords import (
    RECORD_TYPES,
    MediaStatus,
    RecordInfoQuery,
    encode_records_message,
    parse_records_message,
)
from ingest.gbsdp import GbSdpError
from ingest.gbupperplay import UpperOffer, build_answer, read_offer
from ingest.gbupperrelay import (
    DeviceRelay,
    PictureRelay,
    Pictures,
    PictureSink,
    RoomPictures,
)
from ingest.gbupstreamlink import UpstreamLink
from ingest.gbupstreamsettings import GbUpstream
from ingest.manscdp import (
    CatalogItem,
    DeviceInfoResponse,
    ManscdpEnvelope,
    ManscdpError,
    encode_message,
    parse_envelope,
)
from mediacore.events import EventBus
from sip.address import SipSyntaxError
from sip.dialog import Dialog, new_tag
from sip.message import Request, make_response
from sip.transaction import Peer, ServerTransaction

log = logging.getLogger(__name__)

BYE_WAIT = 5.0
RECORD_WAIT = 10.0  # seconds a device has to send every page of its RecordInfo answer
MAX_PLAYS = 64  # streams to upper platforms at once, starting ones included
UPPER_METHODS = frozenset({"MESSAGE", "INVITE", "BYE", "ACK", "INFO", "OPTIONS", "CANCEL"})


async def _tap_now(
    tap: Callable[[str, PictureSink], Callable[[], None]], name: str, sink: PictureSink
) -> Callable[[], None]:
    return tap(name, sink)


def playback_of(relay: DeviceRelay | PictureRelay) -> GbPlay | None:
    """The device's playback or download dialog `relay` reads, if it reads one."""
    if isinstance(relay, DeviceRelay) and relay.play is not None and relay.play.kind != "Play":
        return relay.play
    return None


@dataclass(eq=False)
class _UpperPlay:
    link: UpstreamLink
    channel_id: str
    dialog: Dialog
    out: MediaOut
    relay: DeviceRelay | PictureRelay


@dataclass(frozen=True, slots=True)
class _Invite:
    """An upper platform's INVITE being served: of `wall`, of `room`'s composed picture, or of
    a channel of `device_id`."""

    link: UpstreamLink
    request: Request
    source: Peer
    transaction: ServerTransaction
    offer: UpperOffer
    wall: str | None
    device_id: str | None
    room: str | None = None


class GbCascade:
    def __init__(
        self,
        upstreams: tuple[GbUpstream, ...],
        platform: GbPlatform,
        bus: EventBus,
        *,
        pictures: Pictures | None = None,
        rooms: RoomPictures | None = None,
        bind_host: str = "0.0.0.0",
        ports: tuple[int, int] = (20000, 29999),
        media_address: str = "",
    ) -> None:
        self.platform = platform
        self.stack = platform.stack
        self.bus = bus
        self.pictures = pictures
        self.rooms = rooms
        self.bind_host = bind_host
        self.ports = ports
        self.media_address = media_address
        self.links = {u.server_id: UpstreamLink(u, self.stack, bus) for u in upstreams}
        self.plays: dict[str, _UpperPlay] = {}  # by Call-ID
        self._starting = 0  # INVITEs being set up
        self._pending: dict[str, asyncio.Task[None]] = {}  # INVITEs being set up, by Call-ID
        self._sn = itertools.count(1 + secrets.randbelow(100_000))  # our Notify SNs
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        for link in self.links.values():
            link.start()

    async def stop(self) -> None:
        """BYE to every upper platform still playing, then unregister."""
        await asyncio.gather(
            *(self._end(call_id, "stopping", bye=True) for call_id in list(self.plays)),
            return_exceptions=True,
        )
        await asyncio.gather(*(link.stop() for link in self.links.values()))
        for task in list(self._tasks):
            task.cancel()

    def describe(self) -> list[dict[str, Any]]:
        """Each upper platform: registration state, last error, and its plays."""
        return [
            {
                **link.describe(),
                "plays": [p.channel_id for p in self.plays.values() if p.link is link],
            }
            for link in self.links.values()
        ]

    # -- routing ---------------------------------------------------------------------------

    def claims(self, request: Request) -> bool:
        """Requests in an upper platform's dialog, or from an upper platform's server_id."""
        if request.call_id in self.plays:
            return True
        if request.method not in UPPER_METHODS:
            return False
        try:
            return (request.from_.uri.user or "") in self.links
        except SipSyntaxError:
            return False

    def request_received(
        self, request: Request, source: Peer, transaction: ServerTransaction | None
    ) -> None:
        play = self.plays.get(request.call_id)
        if request.method == "ACK":
            if play is not None:
                self.stack.ack_received(request.call_id, request.cseq[0])
            return
        if transaction is None:
            return
        if request.method == "CANCEL":
            self._cancel(request, transaction)
            return
        link = play.link if play is not None else self._link(request, source)
        if link is None:
            answer = make_response(request, 403, "Forbidden (not the upper platform's address)")
            self.stack.respond(transaction, answer)
            return
        method = request.method
        if method == "MESSAGE":
            self._message(link, request, transaction)
        elif method == "INVITE" and play is None and not request.to.tag:
            self._invite(link, request, source, transaction)
        elif method == "BYE" and play is not None:
            self.stack.respond(transaction, make_response(request, 200))
            self._spawn(self._end(request.call_id, "the upper platform hung up", bye=False))
        elif method == "INFO" and play is not None and playback_of(play.relay) is not None:
            self._spawn(self._control(play, request, transaction))
        elif method in ("OPTIONS", "INFO") and play is not None:
            self.stack.respond(transaction, make_response(request, 200))
        else:
            self.stack.respond(transaction, make_response(request, 481 if play is None else 405))

    def _link(self, request: Request, source: Peer) -> UpstreamLink | None:
        """The upper platform `request` comes from, if it comes from where that one is."""
        link = self.links.get(request.from_.uri.user or "")
        if link is None or link.peer is None or link.peer.host != source.host:
            return None
        return link

    # -- MESSAGE ---------------------------------------------------------------------------

    def _message(
        self, link: UpstreamLink, request: Request, transaction: ServerTransaction
    ) -> None:
        try:
            envelope = parse_envelope(request.body)
        except ManscdpError as error:
            self.stack.respond(transaction, make_response(request, 400, f"Bad MANSCDP ({error})"))
            return
        kind = (envelope.root, envelope.cmd_type)
        if kind == ("Control", "DeviceControl"):
            self._spawn(self._forward(request, transaction, envelope))
            return
        if kind == ("Query", "RecordInfo"):
            self._records(link, request, transaction)
            return
        if envelope.root == "Response":
            self.stack.respond(transaction, make_response(request, 200))
            return
        answer = self._answer(link, envelope)
        if answer is None:
            reason = f"Not Found ({envelope.root} {envelope.cmd_type[:20]} {envelope.device_id})"
            self.stack.respond(transaction, make_response(request, 404, reason))
            return
        self.stack.respond(transaction, make_response(request, 200))
        self._spawn(self._send_all(link, answer))

    def _answer(self, link: UpstreamLink, envelope: ManscdpEnvelope) -> list[bytes] | None:
        """The MESSAGE bodies answering a query; None for what we cannot answer."""
        local_id, target, sn = link.upstream.local_id, envelope.device_id, envelope.sn
        if envelope.root != "Query":
            return None
        if envelope.cmd_type == "Catalog" and target == local_id:
            return [
                encode_message(page) for page in catalog_pages(local_id, sn, self.catalog(local_id))
            ]
        if envelope.cmd_type == "DeviceInfo":
            info = self._device_info(local_id, target, sn)
            return [encode_message(info)] if info is not None else None
        if envelope.cmd_type == "DeviceStatus":
            online = self._online(local_id, target)
            if online is None:
                return None
            return [device_status_body(target, sn, online, datetime.now())]
        return None

    def catalog(self, local_id: str) -> list[CatalogItem]:
        """Every channel we show an upper platform that knows us as `local_id`."""
        items: list[CatalogItem] = []
        for device in self.platform.devices.devices.values():
            items += device_items(list(device.channels.values()), device.state == "online")
        items += wall_items(local_id, wall_channels(local_id, self._walls()))
        return items + room_items(local_id, self._room_channels(local_id))

    def _room_channels(self, local_id: str) -> list[RoomChannel]:
        return room_channels(local_id, self.rooms.rooms() if self.rooms is not None else [])

    def _walls(self) -> dict[str, bool]:
        return self.pictures.walls() if self.pictures is not None else {}

    def _device_info(self, local_id: str, target: str, sn: int) -> DeviceInfoResponse | None:
        if target == local_id:
            return DeviceInfoResponse(
                local_id,
                sn,
                device_name="mediacore",
                manufacturer="mediacore",
                model="mediacore",
                firmware="1",
                channel=len(self.catalog(local_id)),
            )
        device = self.platform.devices.get(target)
        if device is None:
            return None
        info = device.info
        return DeviceInfoResponse(
            target,
            sn,
            device_name=device.name or (info.device_name if info else ""),
            manufacturer=info.manufacturer if info else "",
            model=info.model if info else "",
            firmware=info.firmware if info else "",
            channel=len(device.channels),
        )

    def _online(self, local_id: str, target: str) -> bool | None:
        """Whether `target` (us, a device or channel below, a wall) is online; None: unknown."""
        if target == local_id:
            return True
        walls = {c.channel_id: c.playable for c in wall_channels(local_id, self._walls())}
        if target in walls:
            return walls[target]
        if any(c.channel_id == target for c in self._room_channels(local_id)):
            return True
        device_id = self._device_of(target)
        if device_id is None:
            return None
        return self.platform.devices.is_online(device_id)

    def _device_of(self, target: str) -> str | None:
        """The device below that is `target` or has it as a channel."""
        devices = self.platform.devices.devices
        if target in devices:
            return target
        return next((d.id for d in devices.values() if target in d.channels), None)

    async def _send_all(self, link: UpstreamLink, bodies: list[bytes]) -> None:
        for body in bodies:
            status = await link.send_manscdp(body)
            if status != 200:
                log.info(
                    "gb28181 upstream refused our answer",
                    extra={"upstream": link.upstream.server_id, "status": status},
                )
                return

    def _records(
        self, link: UpstreamLink, request: Request, transaction: ServerTransaction
    ) -> None:
        """Query/RecordInfo for a channel below: asked of its device, the pages gathered, and
        answered to the upper platform with its SN (ours towards the device are our own)."""
        try:
            query = parse_records_message(request.body, self.platform.settings.zone)
        except ManscdpError as error:
            answer = make_response(request, 400, f"Bad RecordInfo ({str(error)[:80]})")
            self.stack.respond(transaction, answer)
            return
        assert isinstance(query, RecordInfoQuery)
        device_id = self._device_of(query.device_id)
        if device_id is None:
            reason = f"Not Found (no device below has {query.device_id})"
            self.stack.respond(transaction, make_response(request, 404, reason))
            return
        self.stack.respond(transaction, make_response(request, 200))
        self._spawn(self._search(link, device_id, query))

    async def _search(self, link: UpstreamLink, device_id: str, query: RecordInfoQuery) -> None:
        kind = query.type if query.type in RECORD_TYPES else "all"
        try:
            items = await self.platform.recordings.query(
                device_id, query.device_id, query.start, query.end, timeout=RECORD_WAIT, kind=kind
            )
        except (RecordsError, RuntimeError) as error:
            log.info("gb28181 upstream RecordInfo failed", extra={"reason": str(error)})
            items = None
        zone = self.platform.settings.zone
        pages = record_pages(query.device_id, query.sn, items or [])
        await self._send_all(link, [encode_records_message(p, zone=zone) for p in pages])

    async def _forward(
        self, request: Request, transaction: ServerTransaction, envelope: ManscdpEnvelope
    ) -> None:
        """An upper platform's DeviceControl, on to the device below that has the channel."""
        device_id = self._device_of(envelope.device_id)
        if device_id is None:
            reason = f"Not Found (no device below has {envelope.device_id})"
            self.stack.respond(transaction, make_response(request, 404, reason))
            return
        status = await self.platform.send_document(device_id, request.body)
        log.info(
            "gb28181 upstream control relayed",
            extra={"device": device_id, "channel": envelope.device_id, "status": status},
        )
        self.bus.publish(
            "gb.cascade",
            None,
            upstream=request.from_.uri.user or "",
            channel=envelope.device_id,
            state="control",
            reason=f"{envelope.cmd_type}: device answered {status}",
        )
        self.stack.respond(
            transaction, make_response(request, status if 200 <= status < 700 else 500)
        )

    # -- INVITE ----------------------------------------------------------------------------

    def _invite(
        self, link: UpstreamLink, request: Request, source: Peer, transaction: ServerTransaction
    ) -> None:
        channel = request.request_uri.user or ""
        local_id = link.upstream.local_id
        try:
            offer = read_offer(request.body, local_id)
        except GbSdpError as error:
            answer = make_response(request, 488)
            answer.headers.add("Warning", f'399 mediacore "{str(error)[:100]}"')
            self.stack.respond(transaction, answer)
            return
        walls = {c.channel_id: c for c in wall_channels(local_id, self._walls())}
        wall = walls.get(channel)
        rooms = {c.channel_id: c.room for c in self._room_channels(local_id)}
        room = rooms.get(channel)
        known = wall is not None or room is not None
        device_id = None if known else self._device_of(channel)
        if not known and device_id is None:
            reason = f"Not Found (no channel {channel[:24]})"
            self.stack.respond(transaction, make_response(request, 404, reason))
            return
        if wall is not None and not wall.playable:
            reason = "Temporarily Unavailable (the wall has no whep output to give)"
            self.stack.respond(transaction, make_response(request, 480, reason))
            return
        if len(self.plays) + self._starting >= MAX_PLAYS:
            reason = f"Busy Here ({MAX_PLAYS} streams to upper platforms already)"
            self.stack.respond(transaction, make_response(request, 486, reason))
            return
        self._starting += 1
        name = wall.wall if wall is not None else None
        self._pending[request.call_id] = self._spawn(
            self._serve(_Invite(link, request, source, transaction, offer, name, device_id, room))
        )

    def _cancel(self, cancel: Request, transaction: ServerTransaction) -> None:
        """The upper platform CANCELs an INVITE still being set up (RFC 3261 section 9.2): the
        device's play stops (CANCELled too if it was sent) and the INVITE is answered 487."""
        target = self.stack.layer.cancel_target(cancel)
        if target is None:
            self.stack.respond(transaction, make_response(cancel, 481))
            return
        self.stack.respond(transaction, make_response(cancel, 200))
        task = self._pending.pop(cancel.call_id, None)
        if task is None:
            return  # answered already: the CANCEL has no effect
        task.cancel()
        self.stack.respond(target, make_response(target.request, 487, to_tag=new_tag()))
        self._event_channel(cancel, "cancelled", "the upper platform cancelled the INVITE")

    async def _serve(self, invite: _Invite) -> None:
        try:
            await self._open(invite)
        finally:
            self._starting -= 1
            if self._pending.get(invite.request.call_id) is asyncio.current_task():
                del self._pending[invite.request.call_id]

    async def _open(self, invite: _Invite) -> None:
        link, request, source, transaction = (
            invite.link,
            invite.request,
            invite.source,
            invite.transaction,
        )
        offer, wall, device_id = invite.offer, invite.wall, invite.device_id
        call_id = request.call_id
        channel = request.request_uri.user or ""

        def ended(reason: str) -> None:
            self._spawn(self._end(call_id, reason, bye=True))

        out = MediaOut(offer.mode, (offer.address, offer.port), self.bind_host, self.ports, ended)
        relay: DeviceRelay | PictureRelay
        if wall is not None and self.pictures is not None:
            relay = PictureRelay(partial(_tap_now, self.pictures.tap, wall), out, offer.ssrc_value)
        elif invite.room is not None and self.rooms is not None:
            relay = PictureRelay(partial(self.rooms.tap, invite.room), out, offer.ssrc_value)
        else:
            assert device_id is not None
            relay = DeviceRelay(
                self.platform,
                device_id,
                channel,
                out,
                offer.ssrc_value,
                bind_host=self.bind_host,
                ports=self.ports,
                on_end=ended,
                playback=offer.playback,
                download_speed=offer.download_speed,
                on_status=partial(self._media_status, link, channel),
            )
        try:
            port = out.open()
            await relay.start()
        except asyncio.CancelledError:  # CANCELled by the upper platform
            out.close()
            await relay.stop()
            raise
        except GbPlayError as error:
            out.close()
            status = 404 if error.permanent else 480
            self.stack.respond(transaction, make_response(request, status, error.reason[:100]))
            return
        except (KeyError, OSError, TimeoutError) as error:
            out.close()
            reason = f"Temporarily Unavailable ({str(error)[:80]})"
            self.stack.respond(transaction, make_response(request, 480, reason))
            return
        tag = new_tag()
        contact = f"<{self.stack.contact_uri(link.upstream.local_id, source)}>"
        dialog = Dialog.as_uas(request, tag, contact, source)
        address = self.media_address or self.stack.local_host(source.host)
        sdp = build_answer(offer, channel_id=channel, address=address, port=port)
        ok = make_response(request, 200, to_tag=tag)
        ok.headers.add("Contact", contact)
        ok.headers.add("Content-Type", "APPLICATION/SDP")
        ok.body = sdp.serialize().encode()
        self.plays[call_id] = _UpperPlay(link, channel, dialog, out, relay)
        self._pending.pop(call_id, None)  # answered: a CANCEL has no effect from now on
        self.stack.respond(transaction, ok)
        await out.start()
        self._event(link, channel, "playing", offer.mode)

    async def _end(self, call_id: str, reason: str, *, bye: bool) -> None:
        play = self.plays.pop(call_id, None)
        if play is None:
            return
        play.out.close()
        await play.relay.stop()
        if bye:
            request = play.dialog.request("BYE", self.stack.via(play.dialog.peer))
            try:
                await asyncio.wait_for(self.stack.request(request, play.dialog.peer), BYE_WAIT)
            except TimeoutError:
                pass
        self._event(play.link, play.channel_id, "ended", reason)

    def _event(self, link: UpstreamLink, channel: str, state: str, reason: str) -> None:
        log.info(
            "gb28181 upstream play %s",
            state,
            extra={"upstream": link.upstream.server_id, "channel": channel, "reason": reason},
        )
        self.bus.publish(
            "gb.cascade",
            None,
            upstream=link.upstream.server_id,
            channel=channel,
            state=state,
            reason=reason,
        )

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    async def _control(
        self, play: _UpperPlay, request: Request, transaction: ServerTransaction
    ) -> None:
        """MANSRTSP (pause, resume, seek, speed) in an upper platform's playback dialog: on to
        the device in its playback dialog; the device's status is the answer."""
        device_play = playback_of(play.relay)
        assert device_play is not None
        try:
            control = parse_control(request.body)
        except MansrtspError as error:
            reason = f"Bad Request ({str(error)[:80]})"
            self.stack.respond(transaction, make_response(request, 400, reason))
            return
        status = await self.platform.recordings.control(device_play, control)
        self._event(play.link, play.channel_id, "control", f"{control.method}: device {status}")
        self.stack.respond(transaction, make_response(request, status))

    def _media_status(self, link: UpstreamLink, channel: str, notify_type: int) -> None:
        """The device's MediaStatus (121: its recording's stream ended), up as ours."""
        status = MediaStatus(channel, next(self._sn), notify_type)
        body = encode_records_message(status, zone=self.platform.settings.zone)
        self._spawn(self._send_all(link, [body]))

    def _event_channel(self, request: Request, state: str, reason: str) -> None:
        link = self.links.get(request.from_.uri.user or "")
        if link is not None:
            self._event(link, request.request_uri.user or "", state, reason)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("gb28181 cascade task failed", exc_info=task.exception())
