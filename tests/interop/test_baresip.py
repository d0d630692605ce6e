"""Debian's baresip (libre's SIP stack) against a server on its default configuration.

libre's digest client gives up at the first challenge whose algorithm is not MD5, even when an
MD5 one follows ("Function not implemented"): with SHA-256 offered first by default it could
neither register nor call. The default is MD5 now; this phone must register, call a room with
its account and be heard there."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.rtppeer import RtpPeer
from bench.sipprun import free_sip_port
from mediacore.audio import tone_level_dbfs
from mediacore.codecs import PCMU
from mediacore.sdes import SrtpMode
from tests.e2e.server import ServerProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("baresip") is None, reason="Debian package baresip-core"),
]

MODULES = "/usr/lib/baresip/modules"
SINE_HZ = 600.0
SERVER_CONFIG = """
[[sip.users]]
user = "alice"
password = "alice-pw"
role = "operator"

[[sip.users]]
user = "secure"
password = "secure-pw"
role = "operator"
srtp = "mandatory"
"""


class Baresip:
    """A headless baresip with a 600 Hz sine for a microphone, driven on stdin."""

    def __init__(
        self,
        folder: Path,
        account: str,
        modules: tuple[str, ...] = (),
        extra_config: tuple[str, ...] = (),
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        port = free_sip_port()
        (folder / "config").write_text(
            "\n".join(
                [
                    f"module_path {MODULES}",
                    *(
                        f"module {name}.so"
                        for name in ("stdio", "g711", "ausine", "aubridge", *modules)
                    ),
                    "module account.so",
                    "module_app menu.so",
                    f"sip_listen 127.0.0.1:{port}",
                    f"audio_source ausine,{int(SINE_HZ)}",
                    "ausrc_srate 48000",
                    "ausrc_channels 2",
                    "audio_player aubridge,sink",
                    *extra_config,
                    "",
                ]
            )
        )
        (folder / "accounts").write_text(account + "\n")
        self.log_path = folder / "baresip.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            ["baresip", "-f", str(folder)],
            cwd=folder,  # where its snapshot module writes its PNGs
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def command(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode() + b"\n")
        self.process.stdin.flush()

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise AssertionError(f"baresip never said {text!r}:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.command("/quit")
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("baresip-server"), config=SERVER_CONFIG)
    yield process
    assert process.stop() == 0, process.log_path.read_text()[-4000:]


@pytest.fixture
def room(server: ServerProcess) -> Iterator[str]:
    response = server.client.post("/api/v1/rooms", json={"name": "baresip"})
    assert response.status_code == 201, response.text
    yield "baresip"
    server.client.delete("/api/v1/rooms/baresip")


@pytest.fixture
def phone(server: ServerProcess, tmp_path: Path) -> Iterator[Baresip]:
    account = f"<sip:alice@127.0.0.1:{server.sip_port}>;auth_pass=alice-pw;regint=60"
    baresip = Baresip(tmp_path / "baresip", account)
    yield baresip
    baresip.stop()


async def call_and_be_heard(
    server: ServerProcess,
    room: str,
    phone: Baresip,
    srtp: SrtpMode = "off",
    uri: str | None = None,
    transport: str = "udp",
) -> list[dict[str, object]]:
    """The phone calls `room` (at `uri`, over `transport`) and its sine reaches a listening
    RTP leg (SRTP as `srtp`); returns the room's roster during the call."""
    listener = RtpPeer(PCMU, srtp=srtp)
    await listener.open()
    _, answer = server.join(room, listener.make_offer(), name="listener")
    listener.accept(answer)
    try:
        phone.command(f"/dial {uri or f'sip:{room}@127.0.0.1:{server.sip_port}'}")
        phone.wait_for("Call established", 10)
        roster = server.roster(room)
        calls = server.client.get("/api/v1/calls").json()
        assert [call["transport"] for call in calls if call["room"] == room] == [transport]
        await asyncio.sleep(2.0)  # the sine through the room to the listener
        heard = tone_level_dbfs(listener.decoded(time.monotonic() - 1.0), SINE_HZ, 8000)
        assert heard > -40.0, (heard, phone.log())
        phone.command("/hangup")
        phone.wait_for("terminated", 5)
    finally:
        listener.close()
    return roster


async def test_baresip_registers_and_calls_a_room_with_the_default_digest(
    server: ServerProcess, room: str, phone: Baresip
) -> None:
    phone.wait_for("registered successfully", 10)
    users = server.client.get("/api/v1/registrations").json()["users"]
    assert [user["user"] for user in users] == ["alice"]
    roster = await call_and_be_heard(server, room, phone)
    assert sorted(str(entry.get("user")) for entry in roster) == ["None", "alice"]


async def test_baresip_registers_and_calls_a_room_over_tls(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    tls = f"127.0.0.1:{server.sip_tls_port};transport=tls"
    account = f"<sip:alice@{tls}>;auth_pass=alice-pw;regint=60"
    # The CA file is the certificate the server made (libre 1.0 trusts it; it checks no names).
    phone = Baresip(tmp_path / "baresip", account, extra_config=(f"sip_cafile {server.ca_file}",))
    try:
        phone.wait_for("registered successfully", 10)
        users = server.client.get("/api/v1/registrations").json()["users"]
        (alice,) = [user for user in users if user["source"].startswith("tls:")]
        assert alice["user"] == "alice" and "transport=tls" in alice["contact"].lower()
        roster = await call_and_be_heard(
            server, room, phone, uri=f"sip:{room}@{tls}", transport="tls"
        )
        assert sorted(str(entry.get("user")) for entry in roster) == ["None", "alice"]
    finally:
        phone.stop()


async def test_baresip_with_srtp_mandatory_calls_a_room_over_srtp_and_is_heard(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    account = f"<sip:secure@127.0.0.1:{server.sip_port}>;auth_pass=secure-pw;regint=0"
    phone = Baresip(tmp_path / "secure", account + ";mediaenc=srtp-mand", modules=("srtp",))
    try:
        roster = await call_and_be_heard(server, room, phone, srtp="mandatory")
    finally:
        phone.stop()
    entries = {str(entry.get("user")): entry for entry in roster}
    assert entries["secure"]["srtp"] is True and entries["None"]["srtp"] is True, roster
