from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(Path(tmp_path_factory.mktemp("server")), MEDIACORE_RTP_TIMEOUT="3")
    yield process
    assert process.stop() == 0, process.log_path.read_text()


@pytest.fixture
def room(server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh room per test, so tests do not hear each other."""
    name = request.node.name.replace("[", "-").replace("]", "")[:60]
    response = server.client.post("/api/v1/rooms", json={"name": name})
    assert response.status_code == 201, response.text
    yield name
    server.client.delete(f"/api/v1/rooms/{name}")
