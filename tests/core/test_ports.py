"""RTP port pairs: handed out round the range, and from a chosen start after a restart."""

from __future__ import annotations

import asyncio

from mediacore.ports import PortPool


async def _bind(pool: PortPool) -> int:
    port, rtp, rtcp = await pool.bind("127.0.0.1", asyncio.DatagramProtocol, None)
    rtp.close()
    return port


async def test_pairs_go_round_the_range_instead_of_reusing_a_port_just_freed() -> None:
    pool = PortPool(41000, 41010)
    first = await _bind(pool)
    pool.release(first)
    assert await _bind(pool) == first + 2


async def test_a_restarted_process_starts_where_it_is_told_on_an_even_port() -> None:
    pool = PortPool(41100, 41200)
    pool.start_at(41151)
    assert await _bind(pool) == 41150
    pool.start_at(41300)  # beyond the range: wraps into it
    assert 41100 <= await _bind(pool) < 41200
