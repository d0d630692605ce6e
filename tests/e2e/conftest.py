from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.server import ServerProcess

DEFAULT_ENV = {"MEDIACORE_RTP_TIMEOUT": "3"}  # legs time out after 3 s without RTP


class SharedServer:
    """The one server with the default settings that the modules setting SERVER_SHARED use in
    turn (started when the first asks, stopped when the tests leave this directory): starting a
    server costs more than many of those modules' tests."""

    def __init__(self, folder: Callable[[], Path]) -> None:
        self._folder = folder
        self._process: ServerProcess | None = None

    def get(self) -> ServerProcess:
        if self._process is None or self._process.process.poll() is not None:
            self.stop()
            self._process = ServerProcess(self._folder(), **DEFAULT_ENV)
        return self._process

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            assert process.stop() == 0, process.log_path.read_text()


SHARED = pytest.StashKey[SharedServer]()


@pytest.fixture(scope="session")
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedServer]:
    shared = SharedServer(lambda: Path(tmp_path_factory.mktemp("shared")))
    request.config.stash[SHARED] = shared
    yield shared
    shared.stop()


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server per test module. A module may set SERVER_CONFIG (TOML text),
    SERVER_ENV (environment overrides; by default legs time out after 3 s without RTP) and
    SERVER_TLS (True: HTTPS and WSS with the certificate the server makes); or SERVER_SHARED
    (True): its tests use only rooms of their own and nothing server-wide that other modules'
    tests change, so they run on the shared server with the default settings."""
    config = getattr(request.module, "SERVER_CONFIG", "")
    environment = getattr(request.module, "SERVER_ENV", DEFAULT_ENV)
    tls = getattr(request.module, "SERVER_TLS", False)
    if getattr(request.module, "SERVER_SHARED", False):
        assert (config, environment, tls) == ("", DEFAULT_ENV, False), "shared: default settings"
        shared: SharedServer = request.getfixturevalue("shared_server")
        yield shared.get()
        return
    folder = Path(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]))
    process = ServerProcess(folder, config=config, tls=tls, **environment)
    yield process
    assert process.stop() == 0, process.log_path.read_text()


@pytest.hookimpl(trylast=True)  # after the test's own fixtures are torn down
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The shared server stops when the tests leave this directory (it is started again if a
    module elsewhere asks for it)."""
    if nextitem is None or nextitem.path.parent != item.path.parent:
        shared = item.config.stash.get(SHARED, None)
        if shared is not None:
            shared.stop()


@pytest.fixture
def room(server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh room per test, so tests do not hear each other; a module may set
    ROOM_SETTINGS for every room it opens."""
    name = request.node.name.replace("[", "-").replace("]", "")[:60]
    settings = getattr(request.module, "ROOM_SETTINGS", {})
    response = server.client.post("/api/v1/rooms", json={"name": name, **settings})
    assert response.status_code == 201, response.text
    yield name
    server.client.delete(f"/api/v1/rooms/{name}")
