"""uvloop as asyncio's event loop wherever it is installed (it is an optional dependency)."""

from __future__ import annotations


def install_uvloop() -> bool:
    """Make uvloop the event loop of the `asyncio.run` calls that follow; returns False, and
    leaves asyncio's own loop, where uvloop is not installed."""
    try:
        import uvloop
    except ImportError:
        return False
    uvloop.install()
    return True
