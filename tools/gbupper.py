"""A GB/T 28181 upper platform (上级平台) simulator, for cascade (级联) tests of a lower platform.

Built from GB/T 28181-2016 (sections 9.1 registration, 9.2 live play, 9.3 control, 9.5 query,
9.6 keepalive; annex F SDP) and RFC 2617 digest, over SIP on UDP or TCP (one port for both;
requests to a lower platform that registered over TCP go on its connection):

- Accepts the lower platform's REGISTER after an MD5 digest challenge in realm = our domain
  (the digest is checked here, from the RFC's formulas), answers 200 with Expires and Date.
- Counts Notify/Keepalive MESSAGEs. `down()` makes it silent (drops everything, as an
  unreachable platform would), `up()` brings it back.
- `query_catalog()` sends Query/Catalog and collects the Response MESSAGEs up to SumNum;
  `query()` sends any Query and returns the first answer; `control()` sends a DeviceControl.
- `invite()` INVITEs a channel (s=Play) to a UDP port, or over TCP where it listens
  (`a=setup:passive`) or connects to the lower platform's port (`a=setup:active`), with a y=
  SSRC of its own, ACKs the 200, and receives PS over RTP (RFC 4571 framing on TCP),
  demuxed with ingest.ps; `colour()` decodes the latest picture and gives its mean RGB.
- `bye()` ends a play; a BYE from the lower platform is answered and marks the play ended.
- `invite(playback=(start, end))` asks for a recording (s=Playback; s=Download with
  `download_speed`), `info()` steers it with MANSRTSP, `cancelled_invite()` CANCELs an
  INVITE before its answer, `query_records()` sends Query/RecordInfo and gathers the pages.

Run: python -m tools.gbupper --port 5080 --id 34010000002000000001 --password x
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from ingest.gbmansrtsp import CONTENT_TYPE, PlaybackControl
from ingest.gbrecords import (
    RecordInfoQuery,
    RecordInfoResponse,
    RecordItem,
    encode_records_message,
    parse_records_message,
)
from ingest.gbrtp import PsRtpReceiver
from ingest.manscdp import (
    CatalogItem,
    CatalogResponse,
    DeviceControl,
    ManscdpError,
    encode_message,
    parse_envelope,
    parse_message,
)
from ingest.ps import DemuxedFrame
from ingest.rtpframing import Rfc4571Framer
from sip.cancel import cancel_for
from sip.digest import Credentials, DigestError
from sip.message import Headers, Request, Response, SipParseError, StreamFramer, make_response
from sip.message import parse_message as parse_sip

log = logging.getLogger("gbupper")

T1 = 0.5
TRANSACTION_TIMEOUT = 8.0
MANSCDP = "Application/MANSCDP+xml"


@dataclass
class UpperConfig:
    server_id: str = "34010000002000000001"
    password: str = "upper-secret"
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port
    expires: int = 3600  # the most we grant

    @property
    def domain(self) -> str:
        return self.server_id[:10]


@dataclass
class UpperStats:
    challenges: int = 0
    registrations: int = 0
    refused: int = 0  # REGISTERs with wrong credentials
    unregistrations: int = 0
    keepalives: int = 0
    messages: list[bytes] = field(default_factory=list)  # every MESSAGE body received


class UpperPlay:
    """One INVITE of ours: the RTP it receives, demuxed."""

    def __init__(self, call_id: str, channel: str, ssrc: int) -> None:
        self.call_id = call_id
        self.channel = channel
        self.ssrc = ssrc
        self.receiver = PsRtpReceiver(ssrc)
        self.frames: list[DemuxedFrame] = []
        self.packets = 0
        self.ended = False  # the lower platform sent BYE
        self.answer = ""  # its SDP
        self.ok: Response | None = None
        self.closers: list[Callable[[], None]] = []

    def packet(self, data: bytes) -> None:
        self.packets += 1
        self.frames += [f for f in self.receiver.receive(data) if f.kind == "video"]

    def colour(self) -> npt.NDArray[np.float64]:
        """Mean RGB of the last picture decoded from a keyframe on. Raises ValueError if no
        picture decodes."""
        start = next((i for i, f in enumerate(self.frames) if f.keyframe), None)
        if start is None:
            raise ValueError("no keyframe received")
        decoder: Any = av.CodecContext.create(self.frames[start].codec, "r")
        pictures = []
        for frame in self.frames[start:]:
            with contextlib.suppress(av.error.FFmpegError):
                pictures += decoder.decode(av.Packet(frame.data))
        if not pictures:
            raise ValueError("no picture decoded")
        rgb = pictures[-1].to_ndarray(format="rgb24")
        return np.asarray(rgb.reshape(-1, 3).mean(axis=0), dtype=np.float64)


def digest_ok(credentials: Credentials, method: str, password: str) -> bool:
    """RFC 2617 section 3.2.2.1 (MD5; qop=auth or none)."""
    if credentials.algorithm.upper() != "MD5":
        return False

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"{credentials.username}:{credentials.realm}:{password}")
    ha2 = md5(f"{method}:{credentials.uri}")
    if credentials.qop:
        expected = md5(
            f"{ha1}:{credentials.nonce}:{credentials.nc}:{credentials.cnonce}:{credentials.qop}:{ha2}"
        )
    else:
        expected = md5(f"{ha1}:{credentials.nonce}:{ha2}")
    return secrets.compare_digest(expected, credentials.response.lower())


class GbUpperSimulator:
    def __init__(self, config: UpperConfig) -> None:
        self.config = config
        self.stats = UpperStats()
        self.lower: tuple[str, int] | None = None  # where the registered lower platform is
        self.lower_id = ""
        self.plays: dict[str, UpperPlay] = {}
        self.port = 0
        self._down = False
        self._nonces: set[str] = set()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._streams: dict[tuple[str, int], asyncio.StreamWriter] = {}  # SIP over TCP
        self._pending: dict[tuple[str, int, str], asyncio.Future[Response]] = {}
        self._records: dict[int, list[RecordInfoResponse]] = {}
        self._catalogs: dict[int, list[CatalogResponse]] = {}
        self._answers: dict[int, asyncio.Future[bytes]] = {}
        self._cseq = itertools.count(1)
        self._sn = itertools.count(100)
        self.registered = asyncio.Event()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self._received), local_addr=(self.config.host, self.config.port)
        )
        self.port = self._udp.get_extra_info("sockname")[1]
        self._tcp = await asyncio.start_server(self._tcp_client, self.config.host, self.port)

    async def stop(self) -> None:
        for play in list(self.plays.values()):
            for close in play.closers:
                close()
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        for stream in list(self._streams.values()):
            stream.close()

    @property
    def lower_transport(self) -> str:
        """How the registered lower platform talks to us: "tcp" or "udp"."""
        return "tcp" if self.lower in self._streams else "udp"

    def down(self) -> None:
        """Go silent: every datagram is dropped, nothing answered."""
        self._down = True
        self.registered.clear()

    def up(self) -> None:
        self._down = False

    # -- receiving -------------------------------------------------------------------------

    def _received(self, data: bytes, source: tuple[str, int]) -> None:
        if self._down:
            return
        try:
            message = parse_sip(data)
        except SipParseError:
            return
        if isinstance(message, Response):
            future = self._pending.get((message.call_id, *message.cseq))
            if future is not None and not future.done() and message.status >= 200:
                future.set_result(message)
            return
        try:
            self._request(message, source)
        except Exception:  # a simulator bug must not kill its socket
            log.exception("handling %s failed", message.method)

    def _request(self, request: Request, source: tuple[str, int]) -> None:
        method = request.method
        if method == "REGISTER":
            self._register(request, source)
        elif method == "MESSAGE":
            self._message(request, source)
        elif method == "BYE":
            play = self.plays.get(request.call_id)
            if play is not None:
                play.ended = True
            self._send(make_response(request, 200 if play else 481).serialize(), source)
        elif method != "ACK":
            self._send(make_response(request, 405).serialize(), source)

    def _register(self, request: Request, source: tuple[str, int]) -> None:
        header = request.headers.get("Authorization")
        credentials = None
        if header is not None:
            with contextlib.suppress(DigestError):
                credentials = Credentials.parse(header)
        if credentials is None or credentials.nonce not in self._nonces:
            nonce = secrets.token_hex(16)
            self._nonces.add(nonce)
            self.stats.challenges += 1
            response = make_response(request, 401, to_tag=secrets.token_hex(4))
            value = f'Digest realm="{self.config.domain}", nonce="{nonce}", algorithm=MD5'
            response.headers.add("WWW-Authenticate", value)
            self._send(response.serialize(), source)
            return
        user = request.from_.uri.user or ""
        if credentials.username != user or not digest_ok(
            credentials, "REGISTER", self.config.password
        ):
            self.stats.refused += 1
            self._send(make_response(request, 403).serialize(), source)
            return
        self._nonces.discard(credentials.nonce)
        asked = request.headers.get("Expires") or "3600"
        expires = min(int(asked) if asked.isdigit() else 3600, self.config.expires)
        response = make_response(request, 200, to_tag=secrets.token_hex(4))
        response.headers.add("Expires", str(expires))
        response.headers.add("Date", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000"))
        if expires == 0:
            self.stats.unregistrations += 1
            self.registered.clear()
        else:
            self.stats.registrations += 1
            self.lower, self.lower_id = source, user
            self.registered.set()
        self._send(response.serialize(), source)

    def _message(self, request: Request, source: tuple[str, int]) -> None:
        self.stats.messages.append(request.body)
        try:
            envelope = parse_envelope(request.body)
        except ManscdpError:
            self._send(make_response(request, 400).serialize(), source)
            return
        known = (request.from_.uri.user or "") == self.lower_id and self.lower is not None
        if not known:
            self._send(make_response(request, 403).serialize(), source)
            return
        self._send(make_response(request, 200).serialize(), source)
        if (envelope.root, envelope.cmd_type) == ("Notify", "Keepalive"):
            self.stats.keepalives += 1
        elif (envelope.root, envelope.cmd_type) == ("Response", "Catalog"):
            with contextlib.suppress(ManscdpError):
                page = parse_message(request.body)
                if isinstance(page, CatalogResponse):
                    self._catalogs.setdefault(page.sn, []).append(page)
        elif (envelope.root, envelope.cmd_type) == ("Response", "RecordInfo"):
            with contextlib.suppress(ManscdpError):
                records = parse_records_message(request.body)
                if isinstance(records, RecordInfoResponse):
                    self._records.setdefault(records.sn, []).append(records)
        if envelope.root == "Response":
            future = self._answers.get(envelope.sn)
            if future is not None and not future.done():
                future.set_result(request.body)

    # -- requests we send ------------------------------------------------------------------

    def _send(self, data: bytes, destination: tuple[str, int]) -> None:
        if self._down:
            return
        stream = self._streams.get(destination)
        if stream is not None:
            stream.write(data)
        elif self._udp is not None:
            self._udp.sendto(data, destination)

    def _via(self) -> str:
        transport = self.lower_transport.upper()
        branch = "z9hG4bK" + secrets.token_hex(8)
        return f"SIP/2.0/{transport} {self.config.host}:{self.port};rport;branch={branch}"

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")[:2]
        self._streams[peer] = writer
        framer = StreamFramer()
        try:
            while data := await reader.read(65536):
                for message in framer.feed(data):
                    self._received(message, peer)
        except (OSError, SipParseError):
            pass
        finally:
            self._streams.pop(peer, None)
            writer.close()

    def _new_request(self, method: str, user: str, call_id: str = "", tag: str = "") -> Request:
        assert self.lower is not None, "no lower platform registered"
        host, port = self.lower
        me = self.config.server_id
        headers = Headers(
            [
                ("Via", self._via()),
                ("From", f"<sip:{me}@{self.config.domain}>;tag={tag or secrets.token_hex(4)}"),
                ("To", f"<sip:{user}@{user[:10]}>"),
                ("Call-ID", call_id or secrets.token_hex(10)),
                ("CSeq", f"{next(self._cseq)} {method}"),
                ("Max-Forwards", "70"),
                ("User-Agent", "mediacore-gbupper"),
            ]
        )
        return Request(headers, b"", method, f"sip:{user}@{host}:{port}")

    async def request(self, request: Request) -> Response:
        """Send and wait for the final answer, retransmitting per Timer A/E; 408 when none."""
        assert self.lower is not None
        key = (request.call_id, *request.cseq)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        data = request.serialize()
        deadline = time.monotonic() + TRANSACTION_TIMEOUT
        interval = T1
        try:
            while (wait := min(interval, deadline - time.monotonic())) > 0:
                self._send(data, self.lower)
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(future), wait)
                if self.lower in self._streams:
                    interval = TRANSACTION_TIMEOUT  # TCP is reliable: no retransmission
                else:
                    interval = min(interval * 2, 4.0)
            return make_response(request, 408)
        finally:
            self._pending.pop(key, None)

    async def message(self, body: bytes, target: str = "") -> int:
        request = self._new_request("MESSAGE", target or self.lower_id)
        request.headers.add("Content-Type", MANSCDP)
        request.body = body
        return (await self.request(request)).status

    async def query(self, cmd: str, target: str = "", timeout: float = 5.0) -> bytes:
        """Send Query/`cmd` for `target` (default: the lower platform) and return the first
        Response body with its SN. Raises TimeoutError."""
        sn = next(self._sn)
        target = target or self.lower_id
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._answers[sn] = future
        body = _query_body(cmd, sn, target)
        status = await self.message(body, target)
        if status != 200:
            raise RuntimeError(f"Query {cmd} answered {status}")
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._answers.pop(sn, None)

    async def query_catalog(self, timeout: float = 5.0) -> tuple[list[CatalogItem], int]:
        """The lower platform's whole catalog, and in how many MESSAGEs it came."""
        sn = next(self._sn)
        status = await self.message(_query_body("Catalog", sn, self.lower_id))
        if status != 200:
            raise RuntimeError(f"Query Catalog answered {status}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pages = self._catalogs.get(sn, [])
            items = [item for page in pages for item in page.items]
            if pages and len(items) >= pages[0].sum_num:
                return items, len(pages)
            await asyncio.sleep(0.05)
        raise TimeoutError(f"catalog incomplete: {self._catalogs.get(sn)}")

    async def query_records(
        self, channel: str, start: int, end: int, timeout: float = 8.0
    ) -> list[RecordItem]:
        """Query/RecordInfo for `channel` between two Unix times: every item of its pages."""
        sn = next(self._sn)
        status = await self.message(
            encode_records_message(RecordInfoQuery(channel, sn, start, end)), channel
        )
        if status != 200:
            raise RuntimeError(f"Query RecordInfo answered {status}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pages = self._records.get(sn, [])
            items = [item for page in pages for item in page.items]
            if pages and len(items) >= pages[0].sum_num:
                return items
            await asyncio.sleep(0.05)
        raise TimeoutError(f"records incomplete: {self._records.get(sn)}")

    async def control(self, channel: str, ptz_cmd: str) -> int:
        """Control/DeviceControl with a PTZCmd for `channel`; the status of the answer."""
        body = encode_message(DeviceControl(channel, next(self._sn), ptz_cmd))
        return await self.message(body, channel)

    async def invite(
        self,
        channel: str,
        transport: str = "udp",
        setup: str = "passive",
        playback: tuple[int, int] | None = None,
        download_speed: int | None = None,
    ) -> UpperPlay:
        """INVITE `channel` to send to us; `setup` for TCP: passive (we listen) or active (we
        connect to the port of the answer); `playback` (start, end) asks for a recording.
        Raises RuntimeError if refused."""
        ssrc = f"0{self.config.domain[3:8]}{secrets.randbelow(10_000):04d}"
        call_id = secrets.token_hex(10)
        play = UpperPlay(call_id, channel, int(ssrc))
        loop = asyncio.get_running_loop()
        tcp = transport == "tcp"
        port = 0
        if not tcp:
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(lambda data, _: play.packet(data)),
                local_addr=(self.config.host, 0),
            )
            play.closers.append(udp.close)
            port = udp.get_extra_info("sockname")[1]
        elif setup == "passive":
            server = await asyncio.start_server(
                lambda r, w: _read_tcp(r, w, play), self.config.host, 0
            )
            play.closers.append(server.close)
            port = server.sockets[0].getsockname()[1]
        sdp = _offer(self.config, channel, port, tcp, setup, ssrc, playback, download_speed)
        invite = self._invite_request(channel, call_id, ssrc, sdp)
        self.plays[call_id] = play
        response = await self.request(invite)
        if response.status != 200:
            self.plays.pop(call_id, None)
            for close in play.closers:
                close()
            raise RuntimeError(f"INVITE answered {response.status} {response.reason}")
        play.ok = response
        play.answer = response.body.decode("utf-8", "replace")
        ack = self._in_dialog("ACK", play, invite.cseq[0])
        assert self.lower is not None
        self._send(ack.serialize(), self.lower)
        if tcp and setup == "active":
            host, answer_port = _answer_address(play.answer)
            reader, writer = await asyncio.open_connection(host, answer_port)
            play.closers.append(writer.close)
            loop.create_task(_read_tcp(reader, writer, play))
        return play

    def _invite_request(self, channel: str, call_id: str, ssrc: str, sdp: str) -> Request:
        invite = self._new_request("INVITE", channel, call_id, secrets.token_hex(4))
        invite.headers.add(
            "Contact", f"<sip:{self.config.server_id}@{self.config.host}:{self.port}>"
        )
        invite.headers.add("Subject", f"{channel}:{ssrc},{self.config.server_id}:0")
        invite.headers.add("Content-Type", "APPLICATION/SDP")
        invite.body = sdp.encode()
        return invite

    async def cancelled_invite(self, channel: str, after: float) -> tuple[int, int]:
        """INVITE `channel` (UDP, to a port nobody reads) and CANCEL it `after` seconds later:
        the CANCEL's status and the INVITE's final status (487 when it was cancelled)."""
        ssrc = f"0{self.config.domain[3:8]}{secrets.randbelow(10_000):04d}"
        sdp = _offer(self.config, channel, 9, False, "passive", ssrc)
        invite = self._invite_request(channel, secrets.token_hex(10), ssrc, sdp)
        answered = asyncio.get_running_loop().create_task(self.request(invite))
        await asyncio.sleep(after)
        cancel = await self.request(cancel_for(invite))
        return cancel.status, (await answered).status

    async def info(self, play: UpperPlay, control: PlaybackControl) -> int:
        """MANSRTSP (pause, play, seek, speed) in a playback's dialog; the answer's status."""
        request = self._in_dialog("INFO", play)
        request.headers.add("Content-Type", CONTENT_TYPE)
        request.body = control.encode()
        return (await self.request(request)).status

    def _in_dialog(self, method: str, play: UpperPlay, cseq: int | None = None) -> Request:
        ok = play.ok
        assert ok is not None and self.lower is not None
        contacts = ok.contacts
        target = str(contacts[0].uri) if contacts else f"sip:{play.channel}@{self.lower[0]}"
        number = cseq if cseq is not None else next(self._cseq)
        headers = Headers(
            [
                ("Via", self._via()),
                ("From", ok.headers.get("From") or ""),
                ("To", ok.headers.get("To") or ""),
                ("Call-ID", play.call_id),
                ("CSeq", f"{number} {method}"),
                ("Max-Forwards", "70"),
            ]
        )
        return Request(headers, b"", method, target)

    async def bye(self, play: UpperPlay) -> int:
        status = (await self.request(self._in_dialog("BYE", play))).status
        for close in play.closers:
            close()
        self.plays.pop(play.call_id, None)
        return status


def _query_body(cmd: str, sn: int, target: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="GB2312"?>\r\n<Query>\r\n'
        f"<CmdType>{cmd}</CmdType>\r\n<SN>{sn}</SN>\r\n<DeviceID>{target}</DeviceID>\r\n"
        "</Query>\r\n"
    ).encode()


def _offer(
    config: UpperConfig,
    channel: str,
    port: int,
    tcp: bool,
    setup: str,
    ssrc: str,
    playback: tuple[int, int] | None = None,
    download_speed: int | None = None,
) -> str:
    session = "Play" if playback is None else "Download" if download_speed else "Playback"
    lines = [
        "v=0",
        f"o={config.server_id} 0 0 IN IP4 {config.host}",
        f"s={session}",
        f"u={channel}:0",
        f"c=IN IP4 {config.host}",
        f"t={playback[0]} {playback[1]}" if playback else "t=0 0",
        f"m=video {port or 9} {'TCP/RTP/AVP' if tcp else 'RTP/AVP'} 96 97 98",
        "a=recvonly",
        "a=rtpmap:96 PS/90000",
        "a=rtpmap:97 MPEG4/90000",
        "a=rtpmap:98 H264/90000",
    ]
    if tcp:
        lines += [f"a=setup:{setup}", "a=connection:new"]
    if download_speed:
        lines.append(f"a=downloadspeed:{download_speed}")
    lines.append(f"y={ssrc}")
    return "\r\n".join(lines) + "\r\n"


def _answer_address(sdp: str) -> tuple[str, int]:
    host, port = "", 0
    for line in sdp.splitlines():
        if line.startswith("c=IN IP4 "):
            host = line.split()[-1]
        elif line.startswith("m=video "):
            port = int(line.split()[1])
    return host, port


async def _read_tcp(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, play: UpperPlay
) -> None:
    framer = Rfc4571Framer()
    play.closers.append(writer.close)
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            for packet in framer.feed(data):
                play.packet(packet)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, received: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.received = received

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.strip(b"\r\n"):
            self.received(data, addr)


# -- command line ------------------------------------------------------------------------------


async def _main(config: UpperConfig) -> None:
    upper = GbUpperSimulator(config)
    await upper.start()
    log.info("upper platform %s listening on %s:%d", config.server_id, config.host, upper.port)
    try:
        await upper.registered.wait()
        log.info("lower platform %s registered from %s", upper.lower_id, upper.lower)
        items, messages = await upper.query_catalog()
        for item in items:
            log.info("channel %s %s %s", item.device_id, item.name, item.status)
        log.info("%d channels in %d MESSAGEs", len(items), messages)
        await asyncio.Event().wait()
    finally:
        await upper.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5080)
    parser.add_argument("--id", default=UpperConfig.server_id, help="our 20-digit id")
    parser.add_argument("--password", required=True)
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = UpperConfig(arguments.id, arguments.password, arguments.host, arguments.port)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(config))


if __name__ == "__main__":
    main()
