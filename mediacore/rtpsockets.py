"""A leg's bound RTP/RTCP sockets, the port pair they hold, and the RTCP timer they run.

An audio leg (`rtpsession.RtpLeg`) and a leg's video stream (`videostream.VideoStream`) each
own one: the sockets come bound from `ports.PortPool`, reports go out while they are open, and
closing them stops the reports, closes both sockets and gives the port pair back."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

# RFC 3550 section 6.3.1 randomises each interval over [0.5, 1.5] x the mean (we skip timer
# reconsideration, so no e - 3/2 compensation). Legs that joined together must not report
# together: 500 reports in one burst would hold up every room's clock.
RTCP_SPREAD = (0.5, 1.5)


class RtpSockets:
    """The RTP socket and, unless RTCP is muxed, the RTCP one; None until `attach`."""

    def __init__(self) -> None:
        self.port = 0
        self.rtp: asyncio.DatagramTransport | None = None
        self.rtcp: asyncio.DatagramTransport | None = None
        self._release: Callable[[], None] | None = None
        self._reports: asyncio.Task[None] | None = None

    def attach(
        self,
        port: int,
        rtp: asyncio.DatagramTransport,
        rtcp: asyncio.DatagramTransport | None,
        release: Callable[[], None] | None,
        *,
        report: Callable[[], None],
        interval: float,
    ) -> None:
        """Take the sockets bound on `port` (`release` gives the port pair back) and call
        `report` about every `interval` seconds until `close`. Call from the event loop."""
        self.port = port
        self.rtp = rtp
        self.rtcp = rtcp
        self._release = release
        self._reports = asyncio.get_running_loop().create_task(self._report(report, interval))

    def close(self) -> None:
        """Stop the reports, close the sockets and give the port pair back; twice is once."""
        if self._reports is not None:
            self._reports.cancel()
            self._reports = None
        for transport in (self.rtp, self.rtcp):
            if transport is not None:
                transport.close()
        self.rtp = self.rtcp = None
        if self._release is not None:
            self._release()
            self._release = None

    @staticmethod
    async def _report(report: Callable[[], None], interval: float) -> None:
        while True:
            await asyncio.sleep(interval * random.uniform(*RTCP_SPREAD))
            report()
