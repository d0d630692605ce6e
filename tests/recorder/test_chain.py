"""The hash chain: genesis from the recording id, each link over the previous one."""

from __future__ import annotations

import hashlib

import pytest

from recorder.chain import (
    SegmentEntry,
    SegmentEntryError,
    genesis,
    link,
    link_digest,
)


def test_genesis_is_sha256_of_prefix_and_id() -> None:
    expected = hashlib.sha256(b"mediacore-recording\0rec-1").hexdigest()
    assert genesis("rec-1") == expected
    assert genesis("rec-2") != expected


def test_link_folds_the_segment_digest_into_the_previous_link() -> None:
    previous = genesis("rec-1")
    segment = b"\x01\x02" * 100
    expected = hashlib.sha256(
        bytes.fromhex(previous) + hashlib.sha256(segment).digest()
    ).hexdigest()
    assert link(previous, segment) == expected
    assert link_digest(previous, hashlib.sha256(segment).hexdigest()) == expected


def test_order_matters() -> None:
    start = genesis("rec-1")
    a, b = b"a" * 10, b"b" * 10
    assert link(link(start, a), b) != link(link(start, b), a)


def test_entry_round_trips_through_json() -> None:
    entry = SegmentEntry(3, 48000, 16000, "ab" * 32, "cd" * 32)
    assert SegmentEntry.from_json(entry.to_json()) == entry
    assert entry.end == 64000


@pytest.mark.parametrize(
    "change",
    [
        {"index": True},
        {"offset": -1},
        {"length": "16000"},
        {"sha256": "AB" * 32},
        {"chain": "cd" * 31},
        {"sha256": None},
    ],
)
def test_malformed_entries_are_refused(change: dict[str, object]) -> None:
    data = {**SegmentEntry(0, 0, 2, "ab" * 32, "cd" * 32).to_json(), **change}
    with pytest.raises(SegmentEntryError):
        SegmentEntry.from_json(data)


def test_non_object_entry_is_refused() -> None:
    with pytest.raises(SegmentEntryError, match="object"):
        SegmentEntry.from_json([0, 0, 2])
