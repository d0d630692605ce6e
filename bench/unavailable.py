"""What a cluster benchmark (or test) needs of this machine and may not find: root for network
namespaces, programs such as redis-server and kamailio. The bench says why and stops; the tests
turn the same reason into a skip."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable


class Unavailable(RuntimeError):
    """This machine lacks something the run needs; the message says what."""


def require_program(path: str, package: str) -> None:
    """Raise Unavailable unless `path` (an executable) is installed."""
    if not shutil.which(path):
        raise Unavailable(
            f"{path} is not installed ({package}; scripts/bootstrap test installs it)"
        )


def missing(programs: Iterable[tuple[str, str]] = (), *, root: bool = False) -> str | None:
    """Why a run cannot start here (None: nothing missing): not root when `root` is asked, or
    the first of `programs` ((path, package) pairs) that is not installed."""
    if root and os.geteuid() != 0:
        return "network namespaces need root"
    for path, package in programs:
        try:
            require_program(path, package)
        except Unavailable as error:
            return str(error)
    return None
