"""A WebRTC subscriber's bandwidth estimate for one video we forward it, from the RTCP its
sender receives (REMB, receiver reports; see mediacore.receiverestimate for how they are read).

`SenderEstimate.rtcp(data, ssrc)` takes one RTCP packet as bytes (what
`mediacore.videotap.observe_sender_rtcp` hands over) with our sender's SSRC; `report(bitrate)`
is called when the estimate moved by more than REPORT_CHANGE (or came or went): the video
hub passes it to the source, whose owner (the conference's composed picture) picks the tier.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mediacore.clock import Clock
from mediacore.receiverestimate import ReceiverEstimate
from mediacore.rtcp import ReceiverReport, RtcpError, SenderReport, parse_compound
from mediacore.rtcpfeedback import BitrateLimit, read_feedback

REPORT_CHANGE = 0.05  # smaller moves are not passed on (the tiers are factors of 2 apart)


class SenderEstimate:
    """Reads one sender's RTCP; `sent_bytes()` is what it has sent so far."""

    def __init__(
        self,
        sent_bytes: Callable[[], int],
        report: Callable[[float | None], None],
        clock: Clock,
    ) -> None:
        self.sent_bytes = sent_bytes
        self.report = report
        self.clock = clock
        self.receiver = ReceiverEstimate()
        self.reported: float | None = None
        self.rembs = 0
        self.reports = 0
        self.last_remb: int | None = None

    def rtcp(self, data: bytes, ssrc: int) -> None:
        """One RTCP packet (or compound) routed to our sender of SSRC `ssrc`."""
        now = self.clock.now()
        self.receiver.sent(self.sent_bytes(), now)
        try:
            packets = parse_compound(data)
        except RtcpError:
            return
        for packet in packets:
            if isinstance(packet, (ReceiverReport, SenderReport)):
                for block in packet.reports:
                    if block.ssrc == ssrc:
                        self.reports += 1
                        self.receiver.loss(block.fraction_lost / 256.0, now)
        for feedback in read_feedback(packets):
            if isinstance(feedback, BitrateLimit) and feedback.kind == "remb":
                self.rembs += 1
                self.last_remb = feedback.bitrate
                self.receiver.remb(feedback.bitrate, now)
        self._report(self.receiver.estimate)

    def describe(self) -> dict[str, Any]:
        """What the subscriber said: REMBs (the last, bit/s) and receiver reports read, what we
        send (bit/s) and the estimate (bit/s, None: no limit)."""
        estimate, sending = self.receiver.estimate, self.receiver.sending
        return {
            "rembs": self.rembs,
            "last_remb": self.last_remb,
            "sending": None if sending is None else round(sending),
            "receiver_reports": self.reports,
            "estimate": None if estimate is None else round(estimate),
        }

    def _report(self, estimate: float | None) -> None:
        last = self.reported
        if last is not None and estimate is not None:
            if abs(estimate - last) <= last * REPORT_CHANGE:
                return
        elif last is None and estimate is None:
            return
        self.reported = estimate
        self.report(estimate)
