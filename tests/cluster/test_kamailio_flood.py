"""Kamailio's flood limit (pike in docker/kamailio/kamailio.cfg): an address outside the node
network that sends requests faster than the limit has them dropped, silently, and is named
once in the log (by pike itself); another phone's address is answered all along, and so is
every node, however fast it sends; the flooder is answered again once it slows down.

Kamailio answers an OPTIONS for its own address itself, so no node has to run: the senders
are loopback addresses, one of them declared the node network."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.cluster.kamailio import Kamailio, kamailio, options

pytestmark = pytest.mark.slow

FLOOD_PER_2S = 20  # requests per two seconds, as the test's Kamailio is told
NODE = "127.0.0.200"
FLOODER, PHONE = "127.0.0.5", "127.0.0.6"
BURST = 3 * FLOOD_PER_2S


def _answered(proxy: Kamailio, source: str, count: int, wait: float = 0.1) -> int:
    """Send `count` OPTIONS from `source` one after the other (each waits at most `wait`
    seconds for its answer); how many were answered 200."""
    answered = 0
    for _ in range(count):
        try:
            answered += options(source, proxy, f"sip:{proxy.address}", wait=wait).startswith(
                "SIP/2.0 200"
            )
        except TimeoutError:
            pass
    return answered


def test_a_flooding_address_is_dropped_while_phones_and_nodes_are_answered(
    tmp_path: Path, redis_url: str
) -> None:
    with kamailio(tmp_path, redis_url, node_net=f"{NODE}/32", flood_per_2s=FLOOD_PER_2S) as proxy:
        flooded = _answered(proxy, FLOODER, BURST)
        # The flooder is cut off near the limit (pike samples in whole periods, so a burst that
        # straddles two of them may get up to twice the limit through), not answered in full.
        assert flooded <= 2 * FLOOD_PER_2S + 2, flooded
        assert _answered(proxy, PHONE, 5, wait=1.0) == 5  # a phone elsewhere is not touched
        assert _answered(proxy, NODE, BURST, wait=1.0) == BURST  # nodes are never limited
        assert _answered(proxy, FLOODER, 1) == 0  # still blocked
        blocks = [line for line in proxy.log.read_text().splitlines() if "BLOCKing ip" in line]
        assert len(blocks) == 1 and FLOODER in blocks[0], blocks
        # Quiet for a while, it is answered again.
        deadline = time.monotonic() + 15.0
        while _answered(proxy, FLOODER, 1) == 0:
            assert time.monotonic() < deadline, "the flooder stayed blocked"
            time.sleep(1.0)
