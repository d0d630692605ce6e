from __future__ import annotations

import asyncio

from mediacore.lookloop import LookLoop


async def test_looks_at_start_on_a_poke_and_survives_a_failing_look() -> None:
    looks: list[int] = []

    async def look() -> None:
        looks.append(len(looks))
        if len(looks) == 2:
            raise RuntimeError("a failed look")

    loop = LookLoop(look, interval=60.0, what="a test picture")
    loop.start()
    loop.start()  # once only
    await asyncio.sleep(0.01)
    assert looks == [0]
    loop.poke()
    await asyncio.sleep(0.01)
    loop.poke()
    await asyncio.sleep(0.01)
    assert looks == [0, 1, 2]  # the failure at the second look did not end the loop
    loop.stop()
    loop.poke()
    await asyncio.sleep(0.01)
    assert looks == [0, 1, 2]


async def test_looks_again_every_interval() -> None:
    looks: list[float] = []

    async def look() -> None:
        looks.append(asyncio.get_running_loop().time())

    loop = LookLoop(look, interval=0.02, what="a test picture")
    loop.start()
    await asyncio.sleep(0.15)
    loop.stop()
    assert len(looks) >= 3
