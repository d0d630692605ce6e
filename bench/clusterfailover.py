"""`bench cluster`, part 3: the failover gap a phone hears when its room's node dies.

Each run opens a room on one node (n3, then n2, n1, ... in turn), and two SIP phones
(bench/sipphone.py, on the bridge) call it through Kamailio: one plays a steady 1 kHz tone,
the other sends silence and listens. Once both calls are recorded in Redis (the record a
survivor carries them on from) and the tone is heard, the room's node gets `kill -9`. A
survivor notices the death, reopens the room and re-INVITEs both phones in their dialogs; the
gap is the time from the kill to the first packet with the tone at the listening phone again
(target 5 s; GIVE_UP seconds without it count as never). The run also reports when the room
changed owner in Redis and when each phone answered its re-INVITE. The phones then hang up,
the room is deleted and the killed node is started again (not after the last run)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.clusterstats import failover_summary, tone_back
from bench.clusterup import PASSWORD, USER, Cluster
from bench.onsets import ON_DBFS, levels_by_packet
from bench.rtppeer import RtpPeer
from bench.sipphone import SipPhone
from mediacore.audio import tone
from mediacore.codecs import PCMU
from mediacore.server.clusterredis import calls_key, room_key

Progress = Callable[[str], None]

TONE_HZ = 1000.0
READY_TIMEOUT = 10.0  # seconds for both calls to be recorded and the tone heard
GIVE_UP = 20.0  # seconds after the kill: the tone not back by then counts as never
AFTER = 1.0  # seconds listened once the tone is back
POLL = 0.02


def run(cluster: Cluster, runs: int, progress: Progress) -> dict[str, Any]:
    names = sorted(cluster.nodes)
    results = []
    for number in range(runs):
        victim = names[-1 - number % len(names)]
        room = f"fail-{number}"
        progress(
            f"failover {number + 1} of {runs}: room {room!r} on {victim}, two phones through "
            f"Kamailio, then kill -9 {victim}"
        )
        result = asyncio.run(_one_run(cluster, room, victim))
        results.append(result)
        progress(
            f"  -> tone back at the phone {result['gap_s']} s after the kill (room moved to "
            f"{result['new_owner']} after {result['room_moved_s']} s, re-INVITEs answered "
            f"after {result['reinvited_s']} s)"
        )
        if number < runs - 1:
            cluster.start(victim)
            cluster.wait_up(names)
    summary = failover_summary(results)
    progress(
        f"  failover gaps {summary['gaps_s']} s, max {summary['max_s']} s (target <= "
        f"{summary['target_s']:g} s): {'met' if summary['passed'] else 'NOT MET'}"
    )
    return {"results": results, "summary": summary, "passed": summary["passed"]}


class _Ear:
    """What a phone heard, packet by packet: arrival times and whether each carried the tone."""

    def __init__(self, peer: RtpPeer) -> None:
        self.peer = peer
        self.times: list[float] = []
        self.loud: list[bool] = []

    def update(self) -> None:
        new = self.peer.arrivals[len(self.times) :]
        if new:
            levels = levels_by_packet([a.payload for a in new], PCMU, [TONE_HZ])
            self.times += [a.time for a in new]
            self.loud += [bool(level >= ON_DBFS) for level in levels[:, 0]]

    def hearing(self, seconds: float = 0.5) -> bool:
        """Whether the tone was in a packet of the last `seconds`."""
        since = time.monotonic() - seconds
        return any(loud for t, loud in zip(self.times, self.loud, strict=True) if t >= since)


async def _one_run(cluster: Cluster, room: str, victim: str) -> dict[str, Any]:
    api = cluster.api(but=victim)
    created = await asyncio.to_thread(
        api.client.post, "/api/v1/rooms", json={"name": room, "node": victim}
    )
    created.raise_for_status()
    phones = [
        SipPhone(RtpPeer(PCMU, host=cluster.gateway), user=USER, password=PASSWORD)
        for _ in range(2)
    ]
    talker, listener = phones
    ear = _Ear(listener.media)
    sending: list[asyncio.Task[list[float]]] = []
    try:
        for phone in phones:
            await phone.open()
            await phone.call(f"sip:{room}@{cluster.kamailio.address}", cluster.proxy)
        seconds = READY_TIMEOUT + GIVE_UP + AFTER + 2.0
        sending = [
            asyncio.create_task(talker.media.play(
                talker.media.packetize(tone(TONE_HZ, seconds, 8000, -20.0)))),
            asyncio.create_task(listener.media.play(
                listener.media.packetize(np.zeros(int(8000 * seconds), dtype=np.float32)))),
        ]  # fmt: skip
        await _until(
            lambda: cluster.redis.scard(calls_key(victim)) >= 2 and _heard(ear),
            READY_TIMEOUT,
            "both calls recorded in Redis and the tone heard",
        )
        killed_at = time.monotonic()
        await asyncio.to_thread(cluster.kill, victim)
        moved = await _watch(cluster, room, victim, ear, killed_at)
        await asyncio.sleep(AFTER)
        ear.update()
        gap = tone_back(ear.times, ear.loud, killed_at)
        return {
            "room": room,
            "killed": victim,
            "new_owner": cluster.redis.hget(room_key(room), "node"),
            "gap_s": gap,
            "room_moved_s": moved,
            "reinvited_s": [
                round(phone.reinvited[0] - killed_at, 3) if phone.reinvited else None
                for phone in phones
            ],
            "packets_heard": len(ear.times),
        }
    finally:
        for task in sending:
            task.cancel()
        for phone in phones:
            if phone.dialog is not None:
                await phone.hang_up()
            phone.close()
        await asyncio.to_thread(cluster.api(but=victim).client.delete, f"/api/v1/rooms/{room}")


def _heard(ear: _Ear) -> bool:
    ear.update()
    return ear.hearing()


async def _watch(
    cluster: Cluster, room: str, victim: str, ear: _Ear, killed_at: float
) -> float | None:
    """Until the tone is back at the phone (or GIVE_UP): when the room's owner in Redis
    stopped being `victim`, seconds after the kill (None: it never did)."""
    moved = None
    while time.monotonic() - killed_at < GIVE_UP:
        if moved is None and cluster.redis.hget(room_key(room), "node") not in (None, victim):
            moved = round(time.monotonic() - killed_at, 3)
        ear.update()
        if tone_back(ear.times, ear.loud, killed_at) is not None:
            break
        await asyncio.sleep(POLL)
    return moved


async def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(POLL)
