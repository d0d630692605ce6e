"""A WebRTC receiver's estimate from its RTCP: REMB packet bytes and receiver reports' loss
become a limit only against what we send (congestion, held for a second, after the first five
seconds), grow back without it, and reach the source, whose listener hears the lowest of its
receivers."""

from __future__ import annotations

import struct

import pytest

from mediacore.clock import FakeClock
from mediacore.receiverestimate import INCREASE_PER_S, STARTUP_S, ReceiverEstimate
from mediacore.rtcp import ReceiverReport, ReportBlock
from mediacore.senderestimate import SenderEstimate
from mediacore.videohub import VideoSource

OUR_SSRC = 0x11223344
OTHER_SSRC = 0x55667788


def remb_bytes(bitrate: int, ssrcs: list[int], sender: int = 1) -> bytes:
    """draft-alvestrand-rmcat-remb, as Chromium writes it: PSFB (206) FMT 15, media SSRC 0,
    "REMB", the SSRC count, a 6-bit exponent and 18-bit mantissa, the SSRCs."""
    exponent = 0
    while bitrate >> exponent >= 1 << 18:
        exponent += 1
    mantissa = bitrate >> exponent
    fci = b"REMB" + bytes([len(ssrcs), exponent << 2 | mantissa >> 16])
    fci += struct.pack("!H", mantissa & 0xFFFF) + b"".join(struct.pack("!I", s) for s in ssrcs)
    body = struct.pack("!II", sender, 0) + fci
    return struct.pack("!BBH", 0x80 | 15, 206, len(body) // 4) + body


def rr_bytes(fraction_lost: float, ssrc: int = OUR_SSRC) -> bytes:
    block = ReportBlock(ssrc, round(fraction_lost * 256), 0, 1000, 0, 0, 0)
    return bytes(ReceiverReport(1, [block]))


class Sender:
    """A sender of `rate` bit/s with its estimate, on a fake clock."""

    def __init__(self, rate: float) -> None:
        self.clock = FakeClock()
        self.rate = rate
        self.sent = 0.0
        self.reported: list[float | None] = []
        self.estimate = SenderEstimate(lambda: int(self.sent), self.reported.append, self.clock)

    def run(self, seconds: float, every: float = 0.5, data: bytes | None = None) -> None:
        """Send for `seconds`, an RTCP packet (`data`, else an empty RR) every `every`."""
        for _ in range(round(seconds / every)):
            self.clock.advance(every)
            self.sent += self.rate * every / 8
            self.estimate.rtcp(data if data is not None else rr_bytes(0.0), OUR_SSRC)


def test_remb_bytes_are_read_with_exponent_and_mantissa() -> None:
    sender = Sender(2_000_000)
    sender.run(STARTUP_S)
    sender.run(1.5, data=remb_bytes(300_000, [OUR_SSRC]))  # low for a second: congested
    assert sender.estimate.rembs == 3
    assert sender.estimate.receiver.estimate == 300_000
    assert sender.reported == [300_000]
    big = 1_200_000  # mantissa 150000, exponent 3: well below the 2 Mbit/s we send
    sender.run(0.5, data=remb_bytes(big, [OUR_SSRC]))
    assert sender.estimate.receiver.estimate == big


def test_a_remb_at_or_above_what_we_send_is_no_limit() -> None:
    # Chromium's REMB stays within 1.5 times what it receives: taken as a limit it would pin
    # the tier; it only says "congested" when it falls below what we send
    sender = Sender(400_000)
    sender.run(STARTUP_S)
    sender.run(3.0, data=remb_bytes(450_000, [OUR_SSRC]))
    assert sender.estimate.receiver.estimate is None and sender.reported == []
    sender.run(1.0, data=remb_bytes(340_000, [OUR_SSRC]))  # Chromium's own 0.85 cut: noise
    assert sender.estimate.receiver.estimate is None


def test_a_limit_grows_back_without_congestion_until_it_goes() -> None:
    sender = Sender(1_000_000)
    sender.run(STARTUP_S)
    sender.run(1.5, data=remb_bytes(100_000, [OUR_SSRC]))
    sender.rate = 90_000  # the picture moved to a lower tier
    sender.run(3.0, data=rr_bytes(0.05))  # some loss: held while the rate is measured anew
    assert sender.estimate.receiver.estimate == 100_000
    sender.run(10.0, data=remb_bytes(135_000, [OUR_SSRC]))  # at or above what comes
    grown = sender.estimate.receiver.estimate
    assert grown == pytest.approx(100_000 * INCREASE_PER_S**10, rel=0.01)
    # reported as it grew, by more than 5 % each time, never for every packet
    assert 5 <= len(sender.reported) <= 12
    sender.run(200.0, every=2.0, data=rr_bytes(0.0))
    assert sender.estimate.receiver.estimate is None and sender.reported[-1] is None


def test_receiver_report_loss_cuts_as_gcc_does_and_holds_in_between() -> None:
    sender = Sender(800_000)
    sender.run(STARTUP_S)
    sender.run(0.5, data=rr_bytes(0.25))
    assert sender.estimate.receiver.estimate == pytest.approx(800_000 * (1 - 0.125), rel=0.02)
    held = sender.estimate.receiver.estimate
    sender.run(3.0, data=rr_bytes(0.05))  # between 2 % and 10 %: held
    assert sender.estimate.receiver.estimate == held
    sender.run(1.0, data=rr_bytes(0.0))
    assert sender.estimate.receiver.estimate == pytest.approx(held * INCREASE_PER_S, rel=0.01)
    assert sender.estimate.reports == 10 + 1 + 6 + 2


def test_reports_about_other_streams_and_garbage_are_ignored() -> None:
    sender = Sender(800_000)
    sender.run(STARTUP_S)
    sender.run(0.5, data=rr_bytes(0.5, ssrc=OTHER_SSRC))
    sender.run(0.5, data=b"\x80\xc9\x00\x07garbage")
    assert sender.estimate.receiver.estimate is None


def test_the_first_seconds_and_a_single_low_remb_say_nothing() -> None:
    # an aiortc peer's first REMBs are a few kbit/s (its rate window still filling)
    sender = Sender(30_000)
    sender.run(STARTUP_S - 0.5, data=remb_bytes(3_000, [OUR_SSRC]))
    assert sender.estimate.receiver.estimate is None
    sender.run(2.0)
    # one low REMB (measured over a quieter stretch than our rate) is not congestion
    sender.run(0.5, data=remb_bytes(3_000, [OUR_SSRC]))
    sender.run(0.5, data=remb_bytes(40_000, [OUR_SSRC]))
    sender.run(0.5, data=remb_bytes(3_000, [OUR_SSRC]))
    assert sender.estimate.receiver.estimate is None and sender.reported == []


def test_without_a_sending_rate_a_remb_says_nothing() -> None:
    estimate = ReceiverEstimate()
    assert estimate.remb(10_000, 1.0) is None
    assert estimate.loss(0.5, 1.0) is None


async def test_a_source_hears_the_lowest_of_its_receivers_and_their_going() -> None:
    source = VideoSource("composed-r-p", "H264")
    heard: list[float | None] = []
    source.estimate_listener = heard.append
    first, second = source.track(), source.track()
    source.report_estimate(first, 300_000)
    source.report_estimate(second, 900_000)
    source.report_estimate(("worker", 1), 600_000)
    assert heard == [300_000]
    first.stop()  # its estimate goes with it
    assert heard == [300_000, 600_000]
    source.report_estimate(("worker", 1), None)
    second.stop()
    assert heard == [300_000, 600_000, 900_000, None]
