"""What the cluster tests need of the machine (root, redis-server, kamailio): bench's harness
raises Unavailable where it is missing, which skips the test with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bench.unavailable import Unavailable


@contextmanager
def skipped_when_unavailable() -> Iterator[None]:
    try:
        yield
    except Unavailable as error:
        pytest.skip(str(error))
