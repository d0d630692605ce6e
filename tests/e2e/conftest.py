from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import ServerProcess


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server per test module. A module may set SERVER_CONFIG (TOML text),
    SERVER_ENV (environment overrides; by default legs time out after 3 s without RTP) and
    SERVER_TLS (True: HTTPS and WSS with the certificate the server makes)."""
    config = getattr(request.module, "SERVER_CONFIG", "")
    environment = getattr(request.module, "SERVER_ENV", {"MEDIACORE_RTP_TIMEOUT": "3"})
    tls = getattr(request.module, "SERVER_TLS", False)
    folder = Path(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]))
    process = ServerProcess(folder, config=config, tls=tls, **environment)
    yield process
    assert process.stop() == 0, process.log_path.read_text()


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
