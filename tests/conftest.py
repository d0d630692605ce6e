"""What every test directory shares: the session's start."""

from __future__ import annotations

import compileall
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What the processes the tests start import: servers, media workers, phones, devices, benches.
PACKAGES = ("mediacore", "sip", "radio", "webrtc", "ingest", "mixer", "recorder", "bench")
PACKAGES += ("tools", "tests")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Where Python writes no bytecode (PYTHONDONTWRITEBYTECODE, as containers often set), every
    process a test starts compiles each module it imports again: a server's control process and
    each of its media workers some 0.5 s of CPU, hundreds of times a run. Compiled once here,
    they load the bytecode (an up-to-date file is only looked at)."""
    if not sys.dont_write_bytecode:
        return  # the first process to import a module writes its bytecode
    for package in PACKAGES:
        compileall.compile_dir(ROOT / package, quiet=1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """scripts/test runs the suite in two processes (pytest-xdist, `--dist loadgroup`), since
    most tests wait on real-time media rather than compute. Each module runs whole in one of
    them, so its module-scoped server starts once; the modules sharing one server
    (SERVER_SHARED, tests/e2e/conftest.py) run together in one."""
    for item in items:
        shared = getattr(getattr(item, "module", None), "SERVER_SHARED", False)
        group = f"{item.path.parent.name}:shared" if shared else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
