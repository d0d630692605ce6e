"""Files only their owner may read (secrets, accounts), written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Create `path` (and its folder) readable by its owner only, holding `text`.
    Raises FileExistsError if it exists: a secret is never silently replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def replace_private(path: Path, text: str) -> None:
    """Write `text` to `path` (0600, its folder made if needed) by way of a spare file: a
    crash leaves the old content or the new, never half of one."""
    spare = path.with_suffix(".tmp")
    spare.unlink(missing_ok=True)
    write_private(spare, text)
    os.replace(spare, path)
