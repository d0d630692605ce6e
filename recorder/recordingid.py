"""Names of recordings and of export jobs, unique across a cluster.

A single node names a recording `rec-<UTC second>-<6 hex>` and an export job `exp-<12 hex>`.
A node of a cluster adds its own name (`rec-20261207T101500Z-a1b2c3-north`), so two nodes can
never name two recordings alike, and any node can tell from a name alone which node made it
(and so where to send a request about it). Node names are 1-32 letters, digits, `-` or `_`;
the random part before them has a fixed width, so the name after it is read back unambiguously.
Sans-I/O: the clock and the randomness are given."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

_NODE = r"([A-Za-z0-9_-]{1,32})"
_RECORDING = re.compile(r"rec-\d{8}T\d{6}Z-[0-9a-f]{6}-" + _NODE)
_EXPORT = re.compile(r"exp-[0-9a-f]{12}-" + _NODE)


def new_recording_id(node: str | None = None, now: datetime | None = None) -> str:
    """A new recording's name; with `node` (a cluster node) that node's name ends it."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"rec-{stamp}-{secrets.token_hex(3)}" + (f"-{node}" if node else "")


def new_export_id(node: str | None = None) -> str:
    """A new export job's name; with `node` that node's name ends it."""
    return "exp-" + secrets.token_hex(6) + (f"-{node}" if node else "")


def origin_node(name: str) -> str | None:
    """The node that made the recording or export job `name`, or None (a single node's)."""
    found = _RECORDING.fullmatch(name) or _EXPORT.fullmatch(name)
    return found.group(1) if found is not None else None
