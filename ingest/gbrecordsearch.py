"""RecordInfo queries in flight: each waits for its pages (ingest.gbrecords.RecordCollector)
until SumNum items arrived or its time is up. The asyncio side of the collector: pages come
in from the platform's MESSAGE handler, the querying task awaits `wait()`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from ingest.gbrecords import RecordCollector, RecordInfoResponse, RecordItem

MAX_SEARCHES = 64  # queries in flight at once; pages of others are dropped


class RecordSearch:
    """One query: its collector, and an event set when it completes."""

    def __init__(self, device_id: str, collector: RecordCollector) -> None:
        self.device_id = device_id
        self.collector = collector
        self.done = asyncio.Event()

    def page(self, response: RecordInfoResponse) -> None:
        if self.collector.add(response):
            self.done.set()

    async def wait(self, timeout: float) -> list[RecordItem] | None:
        """The records once complete, or what arrived within `timeout` seconds; None when
        no page came at all."""
        try:
            await asyncio.wait_for(self.done.wait(), timeout)
        except TimeoutError:
            if self.collector.pages == 0:
                return None
        return self.collector.records()


class RecordSearches:
    """The platform's queries in flight, matched to pages by device, channel and SN."""

    def __init__(self) -> None:
        self._open: list[RecordSearch] = []

    @contextmanager
    def open(self, device_id: str, channel_id: str, sn: int) -> Iterator[RecordSearch]:
        """A search for the pages of query `sn`, forgotten when the block ends. Raises
        RuntimeError when MAX_SEARCHES are in flight."""
        if len(self._open) >= MAX_SEARCHES:
            raise RuntimeError("too many RecordInfo queries in flight")
        search = RecordSearch(device_id, RecordCollector(channel_id, sn))
        self._open.append(search)
        try:
            yield search
        finally:
            self._open.remove(search)

    def page(self, device_id: str, response: RecordInfoResponse) -> bool:
        """A page from `device_id`; False when no query of its waits for it."""
        for search in self._open:
            if search.device_id == device_id and search.collector.matches(response):
                search.page(response)
                return True
        return False
