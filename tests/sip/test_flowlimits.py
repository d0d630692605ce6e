"""SIP TCP connection deadlines on a fake clock, and the caps on real loopback connections."""

from __future__ import annotations

import asyncio

from sip.flowlimits import FlowDeadlines, TcpLimits
from sip.transaction import Peer
from sip.transport import SipTransports

LIMITS = TcpLimits(max_connections=5, max_per_address=2, message_timeout=10.0, idle_timeout=60.0)
OPTIONS = (
    b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-1\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def test_an_accepted_connection_that_never_sends_a_message_is_closed() -> None:
    flow = FlowDeadlines(LIMITS, 0.0, accepted=True)
    assert flow.expired(10.0) is None
    assert flow.expired(10.1) == "no-message"


def test_a_message_dripped_byte_by_byte_is_closed_at_the_message_deadline() -> None:
    flow = FlowDeadlines(LIMITS, 0.0, accepted=True)
    for second in range(30):  # a byte a second: bytes alone never reset the deadline
        flow.received(float(second), complete=0, partial=True)
        if second <= 10:
            assert flow.expired(float(second)) is None
    assert flow.expired(29.0) == "message-timeout"


def test_crlf_keepalives_do_not_keep_a_connection_alive() -> None:
    flow = FlowDeadlines(LIMITS, 0.0, accepted=True)
    flow.received(1.0, complete=1, partial=False)
    for second in range(2, 62):
        flow.received(float(second), complete=0, partial=False)  # CRLFs: nothing buffered
    assert flow.expired(61.0) is None
    assert flow.expired(61.1) == "idle"


def test_complete_messages_keep_a_connection_open_and_a_new_partial_one_restarts_the_clock() -> (
    None
):
    flow = FlowDeadlines(LIMITS, 0.0, accepted=True)
    flow.received(5.0, complete=0, partial=True)
    flow.received(9.0, complete=1, partial=True)  # one ended, the next began
    assert flow.expired(18.0) is None
    assert flow.expired(19.1) == "message-timeout"
    flow.received(19.0, complete=1, partial=False)
    assert flow.expired(79.0) is None and flow.expired(79.1) == "idle"


def test_a_connection_we_opened_owes_no_first_message() -> None:
    flow = FlowDeadlines(LIMITS, 0.0, accepted=False)
    assert flow.expired(59.0) is None
    flow.sent(50.0)
    assert flow.expired(110.0) is None and flow.expired(110.1) == "idle"


class FakeClock:
    def __init__(self) -> None:
        self.time = 0.0

    def now(self) -> float:
        return self.time


async def _connect(
    port: int, host: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(host, 0))


async def _closed(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), 2.0) == b""
    except (ConnectionResetError, TimeoutError):
        return True


async def test_connections_are_capped_per_address_and_in_total() -> None:
    received: list[Peer] = []
    clock = FakeClock()
    transports = SipTransports(lambda data, peer: received.append(peer), limits=LIMITS, clock=clock)
    await transports.start("127.0.0.1", 0)
    try:
        first = [await _connect(transports.port) for _ in range(3)]
        await asyncio.sleep(0.1)
        assert transports.tcp_connections == 2 and transports.refused == 1
        assert await _closed(first[2][0])  # the third from one address is turned away
        others = [await _connect(transports.port, f"127.0.0.{n}") for n in (2, 3, 4, 5)]
        await asyncio.sleep(0.1)
        assert transports.tcp_connections == 5  # the total cap
        assert await _closed(others[3][0])
        for _, writer in first[:2] + others:
            writer.close()
    finally:
        await transports.stop()


async def test_deadlines_close_a_silent_connection_and_spare_a_working_one() -> None:
    received: list[Peer] = []
    clock = FakeClock()
    transports = SipTransports(lambda data, peer: received.append(peer), limits=LIMITS, clock=clock)
    await transports.start("127.0.0.1", 0)
    try:
        silent_reader, silent = await _connect(transports.port)
        working_reader, working = await _connect(transports.port)
        dripping_reader, dripping = await _connect(transports.port, "127.0.0.2")
        working.write(OPTIONS)
        dripping.write(OPTIONS[:20])
        await asyncio.sleep(0.2)
        assert len(received) == 1
        clock.time = 10.5
        assert transports.close_expired(clock.time) == 2
        assert await _closed(silent_reader) and await _closed(dripping_reader)
        assert transports.tcp_connections == 1
        clock.time = 60.5
        assert transports.close_expired(clock.time) == 1  # idle: nothing complete for 60 s
        assert await _closed(working_reader)
        for writer in (silent, working, dripping):
            writer.close()
    finally:
        await transports.stop()


async def test_a_registered_flow_is_not_closed_for_idleness() -> None:
    clock = FakeClock()
    transports = SipTransports(lambda data, peer: None, limits=LIMITS, clock=clock)
    transports.in_use = lambda peer: True
    await transports.start("127.0.0.1", 0)
    try:
        reader, writer = await _connect(transports.port)
        writer.write(OPTIONS)
        await asyncio.sleep(0.2)
        clock.time = 1000.0
        assert transports.close_expired(clock.time) == 0
        writer.close()
    finally:
        await transports.stop()
