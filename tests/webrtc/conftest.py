"""The WebRTC e2e tests share the e2e harness: one server per module, a fresh room per test."""

from tests.e2e.conftest import room, server

__all__ = ["room", "server"]
