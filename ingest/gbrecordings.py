"""The platform's side of what devices recorded (录像): RecordInfo queries and their pages,
MediaStatus (the end of a played-back or downloaded recording), and MANSRTSP playback control.

Owned by ingest.gbplatform.GbPlatform, which hands it the MESSAGEs its own parser does not
model (`message_received`) and keeps the play dialogs it reads (`plays`, by Call-ID). The XML
is ingest.gbrecords, the MANSRTSP bodies ingest.gbmansrtsp, the page collection
ingest.gbrecordsearch.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from ingest.gbdevices import GbDeviceTable
from ingest.gbmansrtsp import CONTENT_TYPE, PlaybackControl
from ingest.gbrecords import (
    MediaStatus,
    RecordInfoQuery,
    RecordInfoResponse,
    RecordItem,
    encode_records_message,
    parse_records_message,
)
from ingest.gbrecordsearch import RecordSearches
from ingest.gbsettings import GbSettings
from ingest.manscdp import ManscdpError
from sip.dialog import Dialog
from sip.message import Request
from sip.stack import SipStack
from sip.transaction import Peer

REQUEST_TIMEOUT = 10.0  # an INFO the device does not answer in this time: 408

# send(device id, MANSCDP document) -> the MESSAGE's final status (GbPlatform.send_document)
SendDocument = Callable[[str, bytes], Awaitable[int]]


class RecordsError(Exception):
    """A RecordInfo query that could not be asked: the device refused it, or is gone."""


class PlaybackDialog(Protocol):
    """What of a play dialog (ingest.gbplatform.GbPlay) this module reads."""

    @property
    def device_id(self) -> str: ...

    @property
    def channel_id(self) -> str: ...

    @property
    def kind(self) -> str: ...  # "Play", "Playback" or "Download"

    @property
    def dialog(self) -> Dialog: ...

    @property
    def on_status(self) -> Callable[[int], None] | None: ...


class GbRecordings:
    def __init__(
        self,
        settings: GbSettings,
        stack: SipStack,
        devices: GbDeviceTable,
        plays: Mapping[str, PlaybackDialog],
        send: SendDocument,
    ) -> None:
        self.settings = settings
        self.stack = stack
        self.devices = devices
        self.plays = plays
        self.send = send
        self.searches = RecordSearches()  # queries waiting for their pages
        # SNs of our own, from a random start: never the same as the platform's other queries'
        self._sn = 100_000 + secrets.randbelow(800_000)

    def message_received(self, request: Request, source: Peer) -> bool:
        """A RecordInfo page or a MediaStatus from a registered device: taken (the caller
        answers 200), True. MediaStatus reaches its play's `on_status`: the play whose dialog
        it came in, else the device's one playback or download of that channel; never another
        device's play."""
        device = self.devices.get(request.from_.uri.user or "")
        if device is None or device.source.host != source.host:
            return False
        try:
            message = parse_records_message(request.body, self.settings.zone)
        except ManscdpError:
            return False
        if isinstance(message, RecordInfoResponse):
            self.searches.page(device.id, message)
        elif isinstance(message, MediaStatus):
            play = self.plays.get(request.call_id) or next(
                (
                    p
                    for p in self.plays.values()
                    if p.device_id == device.id
                    and p.kind != "Play"
                    and message.device_id in (p.channel_id, device.id)
                ),
                None,
            )
            if play is not None and play.device_id == device.id and play.on_status is not None:
                play.on_status(message.notify_type)
        return message is not None

    async def query(
        self,
        device_id: str,
        channel_id: str,
        start: int,
        end: int,
        *,
        timeout: float,
        kind: str = "all",
    ) -> list[RecordItem] | None:
        """Ask `channel_id` for its recordings (of Type `kind`: all, time, alarm, manual)
        between two Unix times and gather every page of the answer (SumNum items, bounded)
        for at most `timeout` seconds. Returns them in time order, None when no page came.
        Raises RecordsError when the device refused the MESSAGE, RuntimeError when too many
        queries are in flight."""
        self._sn += 1
        sn = self._sn
        with self.searches.open(device_id, channel_id, sn) as search:
            query = RecordInfoQuery(channel_id, sn, start, end, kind)
            status = await self.send(
                device_id, encode_records_message(query, zone=self.settings.zone)
            )
            if status != 200:
                raise RecordsError(f"device {device_id} answered {status} to RecordInfo")
            return await search.wait(timeout)

    async def control(self, play: PlaybackDialog, control: PlaybackControl) -> int:
        """Send a MANSRTSP control (INFO) in a playback dialog; returns the device's status
        (408 when it does not answer). Raises MansrtspError for a control out of range."""
        peer = play.dialog.peer
        info = play.dialog.request(
            "INFO", self.stack.via(peer), body=control.encode(), content_type=CONTENT_TYPE
        )
        try:
            response = await asyncio.wait_for(self.stack.request(info, peer), REQUEST_TIMEOUT)
        except TimeoutError:
            return 408
        return response.status
