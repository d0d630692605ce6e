"""Proof, end to end against a real server in worker mode: a recording written in a media
worker is signed by the control process with the server's key (kept 0600 outside the
recordings), verifies through the API and offline with the public key alone; a byte edited in
its manifest fails the signature; a recording directory deleted by hand is reported by the
ledger; the audit log shows who created the room and started and stopped the recording, with
the results, and only admins read it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.slow

COMMANDER = "commander-token-for-proof-tests"
CONFIG = f"""
[[auth.tokens]]
token = "{COMMANDER}"
role = "commander"
name = "cdr north"
"""
SERVER_ENV = {"MEDIACORE_SERVER_WORKERS": "2"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = Path(tmp_path_factory.mktemp("proof"))
    process = ServerProcess(folder, config=CONFIG, **SERVER_ENV)
    yield process
    assert process.stop() == 0, process.log_path.read_text()


def commander(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {COMMANDER}"}, timeout=10
    )


def record(server: ServerProcess, room: str, seconds: float = 1.2) -> str:
    with commander(server) as client:
        started = client.post(f"/api/v1/rooms/{room}/recordings")
        assert started.status_code == 201, started.text
        time.sleep(seconds)
        recording = str(started.json()["id"])
        stopped = client.post(f"/api/v1/recordings/{recording}/stop")
        assert stopped.status_code == 200, stopped.text
    return recording


def offline(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """`mediacore recordings ...` on the data directory, as a verifier runs it on a copy."""
    public = server.data_dir / "keys" / "signing.key.pub"
    command = [sys.executable, "-m", "mediacore.server.cli", "recordings", *args]
    command += ["--data-dir", str(server.data_dir), "--public-key", str(public)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=os.environ)


@pytest.fixture(scope="module")
def recordings(server: ServerProcess) -> dict[str, Any]:
    created = server.client.post("/api/v1/rooms", json={"name": "proof"})
    assert created.status_code == 201, created.text
    first, second = record(server, "proof"), record(server, "proof")
    return {"first": first, "second": second}


def test_a_recording_written_in_a_worker_is_signed_and_verifies_offline(
    server: ServerProcess, recordings: dict[str, Any]
) -> None:
    assert server.workers == 2
    recording = recordings["first"]
    report = server.client.get(f"/api/v1/recordings/{recording}/verify").json()
    assert report == {"ok": True, "problems": []}
    public = server.client.get("/api/v1/recordings/public-key").json()
    manifest = server.client.get(f"/api/v1/recordings/{recording}").json()
    assert manifest["signature"]["key"] == public["key"]
    key = server.data_dir / "keys" / "signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (server.data_dir / "keys" / "signing.key.pub").read_text() == public["pem"]
    assert not list((server.data_dir / "recordings").rglob("*.key*"))
    checked = offline(server, "verify", recording)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK, unaltered" in checked.stdout


def test_a_byte_edited_in_a_manifest_fails_verification(
    server: ServerProcess, recordings: dict[str, Any]
) -> None:
    recording = recordings["first"]
    path = server.data_dir / "recordings" / recording / "manifest.json"
    text = path.read_text()
    path.write_text(text.replace('"room": "proof"', '"room": "proo!"', 1))
    report = server.client.get(f"/api/v1/recordings/{recording}/verify").json()
    assert not report["ok"]
    codes = {problem["problem"] for problem in report["problems"]}
    assert codes == {"manifest-hash", "signature"}, report
    checked = offline(server, "verify", recording)
    assert checked.returncode == 3 and "signature:" in checked.stdout, checked.stdout


def test_a_recording_deleted_by_hand_is_reported_by_the_ledger(
    server: ServerProcess, recordings: dict[str, Any]
) -> None:
    assert server.client.get("/api/v1/recordings/ledger/verify").json()["ok"]
    gone = recordings["second"]
    directory = server.data_dir / "recordings" / gone
    for file in directory.iterdir():
        file.unlink()
    directory.rmdir()
    report = server.client.get("/api/v1/recordings/ledger/verify").json()
    assert [(p["recording"], p["problem"]) for p in report["problems"]] == [(gone, "missing")]
    checked = offline(server, "verify-ledger")
    assert checked.returncode == 3 and f"missing: {gone}" in checked.stdout, checked.stdout


def test_the_audit_shows_who_made_the_room_and_recorded_it(
    server: ServerProcess, recordings: dict[str, Any]
) -> None:
    entries = server.client.get("/api/v1/audit", params={"room": "proof"}).json()
    said = [(e["who"], e["role"], e["action"], e["result"]) for e in entries]
    assert said[:5] == [
        ("admin", "admin", "POST /api/v1/rooms", 201),
        ("cdr north", "commander", "POST /api/v1/rooms/{room}/recordings", 201),
        ("cdr north", "commander", "POST /api/v1/recordings/{recording_id}/stop", 200),
        ("cdr north", "commander", "POST /api/v1/rooms/{room}/recordings", 201),
        ("cdr north", "commander", "POST /api/v1/recordings/{recording_id}/stop", 200),
    ]
    assert entries[1]["targets"] == {"id": recordings["first"]}
    assert entries[1]["address"] == "127.0.0.1"
    with commander(server) as client:
        assert client.get("/api/v1/audit").status_code == 403
    assert server.client.get("/api/v1/audit/verify").json()["ok"]
