"""A cluster's shared store of recordings (`[recording] shared_dir`): a dead node's recordings
recovered and served by one survivor until the node is back.

Every node records into its own folder of the store, `<shared_dir>/<node>/` (recordings and
their ledger; never the same files as another node), and holds the claim
`mc:own:recordings:<node>` on it (ownership.py), renewed at each heartbeat. A node that dies
stops renewing; once it is dead and its claim has lapsed, the first survivor to claim it:

1. opens a recorder on the dead node's folder (recorder/service.py, its index in this node's
   data dir), which runs the crash recovery every node runs at start (recorder/recovery.py):
   what was being recorded is sealed with every byte that reached the store, signed and entered
   in that folder's ledger;
2. announces each recording recovered so (`recording.recovered`, with `recovered_by` this node
   and `recorded_by` the dead one);
3. serves the dead node's recordings (clusterrecordings.py sends requests about them here):
   listing, playback, export, verify.

When the node is alive again the survivor stops serving its recordings and lets go of the
claim; the node, starting, waits for the claim before it recovers anything (`claim_own`), so
only one node ever recovers a folder at a time, and what one recovered is sealed: the next
recovery of it changes nothing (recover_recording only recovers state "recording")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from mediacore.events import EventBus
from mediacore.server.clusternode import ClusterNode
from mediacore.server.clusterrecordings import RECORDINGS_KIND
from mediacore.server.ownership import Ownership
from recorder.service import RecorderService, RecordingError
from recorder.shelf import RecorderShelf

log = logging.getLogger(__name__)

OWN_CLAIM_WAIT_S = 60.0  # at start, how long to wait for a survivor to give this node's back
STOPPING_HOLD_MS = 120_000  # a stopping node's hold on its own folder while it seals


class SharedStore:
    def __init__(
        self,
        node: ClusterNode,
        redis: aioredis.Redis,
        shelf: RecorderShelf,
        bus: EventBus,
        shared_dir: Path,
        opener: Callable[[str], RecorderService],
        ttl_ms: int,
    ) -> None:
        """`opener(node)`: a recorder serving `node`'s folder of the store (not recording)."""
        self.node = node
        self.redis = redis
        self.shelf = shelf
        self.bus = bus
        self.shared_dir = shared_dir
        self.opener = opener
        self.ttl_ms = ttl_ms
        self.own = self._claim(node.name)
        self.claims: dict[str, Ownership] = {}  # the dead nodes' claims this node holds
        self._tasks: dict[str, asyncio.Task[Any]] = {}  # taking over or giving back, by node

    def _claim(self, name: str, ttl_ms: int | None = None) -> Ownership:
        ttl = ttl_ms or self.ttl_ms
        return Ownership(self.redis, self.node.name, RECORDINGS_KIND, [name], ttl)

    async def claim_own(self, wait_s: float = OWN_CLAIM_WAIT_S) -> None:
        """Before this node recovers its own folder: hold its claim, waiting while a survivor
        that took it over gives it back (or its claim lapses). Goes on without it when Redis
        is unreachable or after `wait_s` (logged): a node never stays down for it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            await self.own.refresh()
            if self.own.owns(self.node.name) or not self.node.reachable:
                return
            if loop.time() >= deadline:
                log.error("recordings claimed by another node; recovering them anyway",
                          extra={"node": self.node.name})  # fmt: skip
                return
            await asyncio.sleep(self.node.heartbeat_ms / 1000)

    def follow(self) -> None:
        self.node.beats.append(self._round)

    async def stop(self) -> None:
        """This node stops (before its heartbeat does): what it serves of others goes back
        (the next survivor takes it), and it holds its own folder while its recorder seals
        what it records (`release_own` then lets go)."""
        if self._round in self.node.beats:
            self.node.beats.remove(self._round)
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for name in list(self.shelf.adopted):
            await self._give_back(name)
        self.own = self._claim(self.node.name, STOPPING_HOLD_MS)
        await self.own.refresh()

    async def release_own(self) -> None:
        """Every recording of this node is sealed: a survivor may serve them now."""
        await self.own.release()

    async def _round(self) -> None:
        await self.own.refresh()
        view = self.node.view
        for name in list(self.shelf.adopted):
            if name in self._tasks:
                continue
            if view.alive(name):
                self._spawn(name, self._give_back(name))
            else:
                await self.claims[name].refresh()
        for name in view.dead():
            if name == self.node.name or name in self.shelf.adopted or name in self._tasks:
                continue
            if not (self.shared_dir / name).is_dir():
                continue  # a node that never recorded into the store
            claim = self._claim(name)
            if name in await claim.refresh():
                self.claims[name] = claim
                self._spawn(name, self._take_over(name))

    def _spawn(self, name: str, work: Any) -> None:
        """Run `work` beside the heartbeat (a recovery may take a while)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks[name] = task
        task.add_done_callback(lambda _: self._tasks.pop(name, None))

    async def _take_over(self, name: str) -> None:
        try:
            recorder = self.opener(name)
        except (OSError, ValueError, sqlite3.Error) as error:
            log.error("a dead node's recordings could not be opened: %s", error,
                      extra={"node": name})  # fmt: skip
            await self.claims.pop(name).release()
            return
        try:
            await recorder.open()
        except (OSError, ValueError, sqlite3.Error) as error:
            log.error("a dead node's recordings could not be recovered: %s", error,
                      extra={"node": name})  # fmt: skip
            await recorder.close()
            await self.claims.pop(name).release()
            return
        self.shelf.adopted[name] = recorder
        log.warning("recordings of a dead node taken over",
                    extra={"node": name, "recovered": len(recorder.recovered)})  # fmt: skip
        await _check_key(name, recorder)
        for recovered in recorder.recovered:
            self.bus.publish(
                "recording.recovered",
                None,
                **recovered,
                recovered_by=self.node.name,
                recorded_by=name,
            )

    async def _give_back(self, name: str) -> None:
        recorder = self.shelf.adopted.pop(name)
        await recorder.close()
        claim = self.claims.pop(name, None)
        if claim is not None:
            await claim.release()
        log.info("recordings given back to their node", extra={"node": name})


async def _check_key(name: str, recorder: RecorderService) -> None:
    """Say so when the dead node signed with another key than this one: its recordings then
    verify with a signature problem here (every node should have the same signing key)."""
    for entry in recorder.index.search(limit=1):
        try:
            signature = (await recorder.manifest(entry["id"])).get("signature")
        except RecordingError:
            return
        if isinstance(signature, dict) and signature.get("key") != recorder.public.id:
            log.error("a dead node signed its recordings with another key; give every node "
                      "the same [recording] signing_key", extra={"node": name})  # fmt: skip
