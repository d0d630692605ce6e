"""The device simulator's voice broadcast and talkback (语音广播 / 对讲, GB/T 28181-2016 9.12).

Plugged into tools.gbdevice.GbDeviceSimulator (`DeviceTalk.attach(device)`): on a
Notify/Broadcast MESSAGE it answers 200 and a Response/Broadcast (Result OK), then INVITEs the
platform (Request-URI and To: the notify's SourceID; From: its TargetID, the device's audio
output) offering G.711 A-law over RTP, sendrecv. Once answered it plays a sine of `tone_hz`
into the call, paced every 20 ms from an absolute start, and keeps every A-law payload it
receives, for tests to measure (`heard()`). A BYE from the platform ends it; so does
`hang_up()` from the device's side.

`ps=True` (PS mode) offers the audio as G.711 A-law in a program stream instead
(`m=audio … 96`, `a=rtpmap:96 PS/90000`), as many cameras do: the tone goes out in PS packs
and what comes back is demuxed from PS before `heard()` decodes it (ingest.psaudio both ways).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field

import numpy as np

from ingest.gbnotify import (
    BroadcastNotify,
    BroadcastResponse,
    encode_event_message,
    parse_event_message,
)
from ingest.manscdp import ManscdpError
from ingest.psaudio import PsAudioAdapter
from mediacore.codecs.base import Pcm
from mediacore.codecs.g711 import ALAW_TO_INT16
from mediacore.rtp import RtpError, RtpPacket, build_rtp
from mediacore.sdp import SdpError, SessionDescription
from sip.message import Request, Response, make_response
from tools.gbdevice import GbDeviceSimulator, alaw_tone

log = logging.getLogger("gbdevice.talk")

PTIME = 0.02
SAMPLES = 160  # 20 ms at 8 kHz
PCMA_PT = 8
PS_PT = 96


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, call: TalkCall) -> None:
        self.call = call

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        adapter = self.call.adapter
        for datagram in [data] if adapter is None else adapter.received(data):
            try:
                packet = RtpPacket.parse(datagram)
            except RtpError:
                continue
            if packet.payload_type == PCMA_PT and packet.payload:
                self.call.received.append(packet.payload)


@dataclass(eq=False)
class TalkCall:
    """One talkback call of the device: its dialog fields and its media."""

    call_id: str
    invite: Request
    ok: Response | None = None
    adapter: PsAudioAdapter | None = None  # PS mode: G.711 in and out of PS
    answer: str = ""  # the platform's SDP answer
    received: list[bytes] = field(default_factory=list)
    sent_packets: int = 0
    transport: asyncio.DatagramTransport | None = None
    sender: asyncio.Task[None] | None = None
    ended: bool = False

    def stop(self) -> None:
        self.ended = True
        if self.sender is not None:
            self.sender.cancel()
        if self.transport is not None:
            self.transport.close()


class DeviceTalk:
    def __init__(self, device: GbDeviceSimulator, tone_hz: float = 800.0, ps: bool = False) -> None:
        self.device = device
        self.tone_hz = tone_hz
        self.ps = ps  # offer G.711 in PS (PS/90000) instead of plain G.711 over RTP
        self.broadcasts: list[BroadcastNotify] = []
        self.calls: dict[str, TalkCall] = {}
        self.invite_statuses: list[int] = []
        self.byes_received = 0
        self.answer_ok = True  # False: answer Broadcast with Result ERROR, never call back
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def attach(
        cls, device: GbDeviceSimulator, tone_hz: float = 800.0, ps: bool = False
    ) -> DeviceTalk:
        talk = cls(device, tone_hz, ps)
        device.extensions.append(talk)
        return talk

    def request_received(self, request: Request) -> bool:
        if request.method == "BYE" and request.call_id in self.calls:
            self.byes_received += 1
            self.calls.pop(request.call_id).stop()
            self.device.respond(make_response(request, 200))
            return True
        if request.method != "MESSAGE":
            return False
        try:
            message = parse_event_message(request.body)
        except ManscdpError:
            return False
        if not isinstance(message, BroadcastNotify):
            return False
        self.device.respond(make_response(request, 200))
        self.broadcasts.append(message)
        task = asyncio.get_running_loop().create_task(self._call_back(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    @property
    def call(self) -> TalkCall | None:
        """The talkback on now, if any."""
        return next((c for c in self.calls.values() if not c.ended), None)

    def heard(self) -> Pcm:
        """Everything received so far, decoded (8 kHz, float in [-1, 1])."""
        call = self.call
        payload = b"".join(call.received) if call is not None else b""
        codes = np.frombuffer(payload, dtype=np.uint8)
        return (ALAW_TO_INT16[codes] / 32768.0).astype(np.float32)

    async def _call_back(self, notify: BroadcastNotify) -> None:
        config = self.device.config
        result = "OK" if self.answer_ok else "ERROR"
        await self.device.send_document(
            encode_event_message(BroadcastResponse(config.device_id, notify.sn, result))
        )
        if not self.answer_ok:
            return
        loop = asyncio.get_running_loop()
        call_id = secrets.token_hex(10)
        host = self.device.local_host
        server_host, server_port = config.server
        invite = self.device.new_request(
            "INVITE",
            f"sip:{notify.source_id}@{server_host}:{server_port}",
            call_id,
            f"<sip:{notify.target_id}@{config.domain}>;tag={secrets.token_hex(4)}",
            f"<sip:{notify.source_id}@{config.domain}>",
        )
        call = TalkCall(call_id, invite, adapter=PsAudioAdapter(PS_PT) if self.ps else None)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Receiver(call), local_addr=(host, 0)
        )
        call.transport = transport
        port = transport.get_extra_info("sockname")[1]
        invite.headers.add("Contact", f"<sip:{notify.target_id}@{self.device.hostport}>")
        invite.headers.add("Subject", f"{notify.target_id}:0100000001,{notify.source_id}:0")
        invite.headers.add("Content-Type", "application/sdp")
        invite.body = _offer(notify.target_id, host, port, self.ps).encode()
        self.calls[call_id] = call
        response = await self.device.request(invite)
        self.invite_statuses.append(response.status)
        if response.status >= 300:
            self.calls.pop(call_id, None)
            call.stop()
            return
        call.ok = response
        call.answer = response.body.decode("utf-8", "replace")
        self.device.send_raw(self._ack(call, response).serialize())
        try:
            answer = SessionDescription.parse(response.body.decode("utf-8", "replace"))
            media = next(m for m in answer.media if m.kind == "audio")
            connection = media.connection or answer.connection
            assert connection is not None
            destination = (connection.address, media.port)
        except (SdpError, StopIteration, AssertionError) as error:
            log.info("unusable answer: %s", error)
            return
        call.sender = loop.create_task(self._send_tone(call, destination))

    def _ack(self, call: TalkCall, ok: Response) -> Request:
        contacts = ok.contacts
        target = str(contacts[0].uri) if contacts else call.invite.uri
        ack = self.device.new_request(
            "ACK",
            target,
            call.call_id,
            call.invite.headers.get("From") or "",
            ok.headers.get("To") or "",
        )
        ack.headers.set("CSeq", f"{call.invite.cseq[0]} ACK")
        return ack

    async def _send_tone(self, call: TalkCall, destination: tuple[str, int]) -> None:
        ssrc = secrets.randbits(32)
        sequence = secrets.randbits(16)
        start = time.monotonic()
        index = 0
        while not call.ended and call.transport is not None:
            payload = alaw_tone(self.tone_hz, index * SAMPLES, SAMPLES, level=0.3)
            packet = build_rtp(PCMA_PT, sequence, index * SAMPLES, ssrc, payload, index == 0)
            adapter = call.adapter
            for datagram in [packet] if adapter is None else adapter.sending(packet):
                call.transport.sendto(datagram, destination)
            call.sent_packets += 1
            sequence = (sequence + 1) & 0xFFFF
            index += 1
            await asyncio.sleep(max(0.0, start + index * PTIME - time.monotonic()))

    async def hang_up(self) -> int:
        """BYE from the device's side; returns the platform's answer."""
        call = self.call
        if call is None or call.ok is None:
            return 481
        self.calls.pop(call.call_id, None)
        call.stop()
        contacts = call.ok.contacts
        target = str(contacts[0].uri) if contacts else call.invite.uri
        bye = self.device.new_request(
            "BYE",
            target,
            call.call_id,
            call.invite.headers.get("From") or "",
            call.ok.headers.get("To") or "",
        )
        return (await self.device.request(bye)).status

    def stop(self) -> None:
        for call in list(self.calls.values()):
            call.stop()
        self.calls.clear()
        for task in list(self._tasks):
            task.cancel()


def _offer(channel: str, host: str, port: int, ps: bool = False) -> str:
    payload_type, rtpmap = (PS_PT, "PS/90000") if ps else (PCMA_PT, "PCMA/8000")
    lines = [
        "v=0",
        f"o={channel} 0 0 IN IP4 {host}",
        "s=Talk",
        f"c=IN IP4 {host}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {payload_type}",
        "a=sendrecv",
        f"a=rtpmap:{payload_type} {rtpmap}",
        "y=0100000001",
        "f=v/////a/1/8/1",
    ]
    return "\r\n".join(lines) + "\r\n"
