"""The sipp scenarios in bench/sipp and the runner in bench/sipprun.py, proved against sipp's own
UAS or a second sipp running one of our UAS scenarios, all on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.sipprun import (
    SCENARIO_DIR,
    SippProcess,
    SippResult,
    build_command,
    free_media_port,
    numbered_users,
    percentile,
    read_final_stats,
    run_sipp,
    scenario_args,
    sipp_available,
    start_sipp,
    write_tone,
    write_users_csv,
)

# Tests that run sipp are slow (a second or two each) and need the binary; the pure helper
# tests at the top need neither.
needs_sipp = pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")

HOLD_MS = 300  # how long the calls stay up: long enough for some RTP, short for the suite
UAS_TIMEOUT = 15.0


@pytest.fixture
def users_csv(tmp_path: Path) -> Path:
    # The UASes look passwords up in a file named users.csv (see uas_registrar_auth.xml).
    return write_users_csv(tmp_path / "users.csv", numbered_users(3))


@pytest.fixture
def uases() -> Iterator[list[SippProcess]]:
    """The UASes a test starts; whatever is still running at the end is stopped."""
    started: list[SippProcess] = []
    yield started
    for uas in started:
        uas.stop()


def _uas(uases: list[SippProcess], scenario: str, workdir: Path, **options: Any) -> SippProcess:
    uas = start_sipp(scenario, workdir=workdir / "uas", timeout=UAS_TIMEOUT, **options)
    uases.append(uas)
    return uas


def _target(uas: SippProcess) -> str:
    return f"127.0.0.1:{uas.local_port}"


def _assert_all_ok(result: SippResult, calls: int = 1) -> None:
    assert (result.successful, result.failed) == (calls, 0), result.describe()
    assert result.returncode == 0, result.describe()


# --- pure helpers (no sipp needed) ---------------------------------------------------------


def test_users_csv_carries_the_authentication_keyword(tmp_path: Path) -> None:
    path = write_users_csv(tmp_path / "users.csv", [("alice", "s3cret")])
    assert path.read_text().splitlines() == [
        "SEQUENTIAL",
        "alice;[authentication username=alice password=s3cret];s3cret",
    ]
    with pytest.raises(ValueError):
        write_users_csv(tmp_path / "bad.csv", [("bob", "pass;word")])


def test_tone_is_whole_packets_of_mu_law(tmp_path: Path) -> None:
    data = write_tone(tmp_path / "tone.ulaw").read_bytes()
    assert len(data) == 8000 and len(data) % 160 == 0
    assert len(set(data)) > 20  # a tone, not silence


def test_percentile_interpolates() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([0.0, 10.0], 0.99) == pytest.approx(9.9)


def test_final_stats_row_is_read_by_column(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("A;SuccessfulCall(C);\n1;0;\n2;7;\n")
    assert read_final_stats(path) == {"A": "2", "SuccessfulCall(C)": "7"}


def test_command_is_bounded_and_on_explicit_ports(tmp_path: Path) -> None:
    command = build_command(
        "uac_auth_call",
        "127.0.0.1:5070",
        local_ip="127.0.0.1",
        local_port=40000,
        media_port=40010,
        control_port=40020,
        transport="t1",
        calls=5,
        rate=2.5,
        concurrent=3,
        user="alice",
        password="pw",
        service="room1",
        duration_ms=1500,
        injection=None,
        injection_index=None,
        keys={"k": "v"},
        auth_uri="room1@127.0.0.1:5070",
        rtp_echo=False,
        trace_messages=False,
        timeout=7.5,
        files={name: tmp_path / name for name in ("stat", "errors", "logs", "messages")},
        extra_args=("-nr",),
    )
    pairs = dict(zip(command, command[1:], strict=False))
    assert command[:2] == ["sipp", "127.0.0.1:5070"]
    assert pairs["-sf"] == str(SCENARIO_DIR / "uac_auth_call.xml")
    expected = {"-p": "40000", "-mp": "40010", "-cp": "40020", "-t": "t1", "-m": "5", "-r": "2.5"}
    assert {flag: pairs[flag] for flag in expected} == expected
    assert (pairs["-timeout"], pairs["-l"], pairs["-d"]) == ("7500ms", "3", "1500")
    assert (pairs["-s"], pairs["-au"], pairs["-ap"]) == ("room1", "alice", "pw")
    assert pairs["-auth_uri"] == "room1@127.0.0.1:5070" and pairs["-key"] == "k"
    assert {"-nostdin", "-timeout_error", "-trace_rtt"} <= set(command) and command[-1] == "-nr"
    assert "-rtp_echo" not in command
    assert scenario_args("uas") == ["-sn", "uas"]


# --- calls ----------------------------------------------------------------------------------


@pytest.mark.slow
@needs_sipp
@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_call_against_sipps_own_uas(
    tmp_path: Path, uases: list[SippProcess], transport: str
) -> None:
    uas = _uas(uases, "uas", tmp_path, transport=transport)
    result = run_sipp(
        "uac_auth_call",
        _target(uas),
        transport=transport,
        service="room1",
        duration_ms=HOLD_MS,
        timeout=15,
        workdir=tmp_path / "uac",
    )
    _assert_all_ok(result)
    assert len(result.response_times_ms) == 1  # INVITE -> 200, from -trace_rtt
    assert sum(result.response_time_buckets.values()) == 1
    assert result.stat_csv is not None and result.retransmissions == 0


@pytest.mark.slow
@needs_sipp
def test_call_answers_a_digest_challenge(
    tmp_path: Path, uases: list[SippProcess], users_csv: Path
) -> None:
    user, password = numbered_users(3)[1]
    uas = _uas(uases, "uas_auth_answer", tmp_path, injection=users_csv, injection_index=0)
    result = run_sipp(
        "uac_auth_call",
        _target(uas),
        service="room1",
        user=user,
        password=password,
        duration_ms=HOLD_MS,
        trace_messages=True,
        timeout=15,
        workdir=tmp_path / "uac",
    )
    _assert_all_ok(result)
    assert result.messages_log is not None
    sent = result.messages_log.read_text()
    assert f'Authorization: Digest username="{user}"' in sent and "qop=auth" in sent
    assert f'uri="sip:room1@{_target(uas)}"' in sent  # the Request-URI, thanks to -auth_uri
    _assert_all_ok(uas.wait(10))  # the UAS's verifyauth accepted it and got the BYE


@pytest.mark.slow
@needs_sipp
def test_call_with_a_wrong_password_fails(
    tmp_path: Path, uases: list[SippProcess], users_csv: Path
) -> None:
    user, _ = numbered_users(3)[0]
    uas = _uas(uases, "uas_auth_answer", tmp_path, injection=users_csv, injection_index=0)
    result = run_sipp(
        "uac_auth_call",
        _target(uas),
        service="room1",
        user=user,
        password="wrong",
        timeout=10,
        workdir=tmp_path / "uac",
    )
    assert (result.successful, result.failed, result.returncode) == (0, 1, 1), result.describe()
    assert "403 Forbidden" in result.errors


@pytest.mark.slow
@needs_sipp
def test_rtp_flows_both_ways_in_pcmu_from_the_advertised_ports(
    tmp_path: Path, uases: list[SippProcess]
) -> None:
    """Each side's SDP is pointed at a Python socket instead of at the other sipp, so what
    rtp_stream sends can be looked at: PT 0, 160-byte payloads, every 20 ms, sent from the
    sender's own [media_port] (so a symmetric-RTP server answers to the advertised port)."""
    from_uac, from_uas = _Sink(), _Sink()
    uac_scenario = _redirect_sdp(SCENARIO_DIR / "uac_auth_call.xml", from_uas.port, tmp_path)
    uas_scenario = _redirect_sdp(SCENARIO_DIR / "uas_answer.xml", from_uac.port, tmp_path)
    uas = _uas(uases, str(uas_scenario), tmp_path)
    result = run_sipp(
        str(uac_scenario),
        _target(uas),
        service="room1",
        duration_ms=1000,
        timeout=15,
        workdir=tmp_path / "uac",
    )
    _assert_all_ok(result)
    for sink in (from_uac, from_uas):
        sink.close()
        assert 40 <= len(sink.packets) <= 70, len(sink.packets)  # ~1 s at 50 a second
        assert {p[1] & 0x7F for p in sink.packets} == {0}
        assert {len(p) for p in sink.packets} == {12 + 160}
    assert from_uac.sources == {("127.0.0.1", result.media_port)}
    assert from_uas.sources == {("127.0.0.1", uas.media_port)}


@pytest.mark.slow
@needs_sipp
@pytest.mark.parametrize("challenge", [False, True])
def test_wait_bye_takes_the_far_ends_hangup(
    tmp_path: Path, uases: list[SippProcess], challenge: bool
) -> None:
    scenario = _uas_scenario("uas_hangup", challenge, tmp_path)
    uas = _uas(uases, scenario, tmp_path, duration_ms=HOLD_MS)
    result = run_sipp(
        "uac_wait_bye",
        _target(uas),
        service="room1",
        user="u",
        password="p",
        timeout=15,
        workdir=tmp_path / "uac",
    )
    _assert_all_ok(result)
    _assert_all_ok(uas.wait(5))


@pytest.mark.slow
@needs_sipp
def test_wait_bye_without_a_hangup_is_cut_off_and_not_counted(
    tmp_path: Path, uases: list[SippProcess]
) -> None:
    uas = _uas(uases, "uas", tmp_path)  # answers, then waits for a BYE of its own
    result = run_sipp(
        "uac_wait_bye", _target(uas), service="room1", timeout=2, workdir=tmp_path / "uac"
    )
    # -timeout_error: sipp exits 255 with the call still open, neither successful nor failed
    assert result.returncode != 0 and result.successful == 0, result.describe()
    assert result.stats.get("CurrentCall") == "1"


@pytest.mark.slow
@needs_sipp
@pytest.mark.parametrize("challenge", [False, True])
def test_cancel_while_ringing(tmp_path: Path, uases: list[SippProcess], challenge: bool) -> None:
    uas = _uas(uases, _uas_scenario("uas_ring", challenge, tmp_path), tmp_path)
    result = run_sipp(
        "uac_cancel",
        _target(uas),
        service="room1",
        user="u",
        password="p",
        timeout=15,
        workdir=tmp_path / "uac",
    )
    _assert_all_ok(result)
    _assert_all_ok(uas.wait(5))  # it got 200 for the CANCEL, 487 and the ACK in order


@pytest.mark.slow
@needs_sipp
def test_noauth_call_is_refused_with_a_challenge(
    tmp_path: Path, uases: list[SippProcess], users_csv: Path
) -> None:
    uas = _uas(uases, "uas_auth_answer", tmp_path, injection=users_csv, injection_index=0)
    result = run_sipp(
        "uac_noauth_call", _target(uas), service="room1", timeout=10, workdir=tmp_path / "uac"
    )
    _assert_all_ok(result)
    assert any(line.endswith("refused 401") for line in result.log_lines), result.log_lines


@pytest.mark.slow
@needs_sipp
def test_busy_callee_is_a_refusal(tmp_path: Path, uases: list[SippProcess]) -> None:
    uas = _uas(uases, "uas_busy", tmp_path)
    result = run_sipp(
        "uac_noauth_call", _target(uas), service="room1", timeout=10, workdir=tmp_path / "uac"
    )
    _assert_all_ok(result)
    assert any(line.endswith("refused 486") for line in result.log_lines), result.log_lines
    _assert_all_ok(uas.wait(5))  # the 486 was ACKed


# --- out of dialog --------------------------------------------------------------------------


@pytest.mark.slow
@needs_sipp
@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_options(tmp_path: Path, uases: list[SippProcess], transport: str) -> None:
    uas = _uas(uases, "uas_options", tmp_path, transport=transport, calls=3)
    result = run_sipp(
        "uac_options",
        _target(uas),
        transport=transport,
        calls=3,
        rate=50,
        timeout=10,
        workdir=tmp_path / "uac",
    )
    _assert_all_ok(result, calls=3)
    assert len(result.response_times_ms) == 3


@pytest.mark.slow
@needs_sipp
def test_register_and_unregister_many_users_with_digest(
    tmp_path: Path, uases: list[SippProcess], users_csv: Path
) -> None:
    uas = _uas(
        uases, "uas_registrar_auth", tmp_path, injection=users_csv, injection_index=0, calls=3
    )
    result = run_sipp(
        "uac_auth_register",
        _target(uas),
        calls=3,
        rate=50,
        injection=users_csv,
        timeout=10,
        workdir=tmp_path / "uac",
    )
    _assert_all_ok(result, calls=3)
    _assert_all_ok(uas.wait(5), calls=3)  # three users, each verified twice


@pytest.mark.slow
@needs_sipp
def test_register_with_a_wrong_password_is_refused(
    tmp_path: Path, uases: list[SippProcess], users_csv: Path
) -> None:
    uas = _uas(uases, "uas_registrar_auth", tmp_path, injection=users_csv, injection_index=0)
    impostor = write_users_csv(tmp_path / "impostor.csv", [(numbered_users(1)[0][0], "nope")])
    result = run_sipp(
        "uac_auth_register",
        _target(uas),
        injection=impostor,
        timeout=10,
        workdir=tmp_path / "uac",
    )
    assert (result.successful, result.failed) == (0, 1), result.describe()


@pytest.mark.slow
@needs_sipp
def test_udp_retransmission_is_counted_and_traced(tmp_path: Path) -> None:
    """A peer that ignores the first OPTIONS: sipp sends it again after T1 (500 ms), the
    statistics count one retransmission and -trace_msg shows both copies."""
    peer = _Sink(answer_from=2)
    result = run_sipp(
        "uac_options",
        f"127.0.0.1:{peer.port}",
        trace_messages=True,
        timeout=10,
        workdir=tmp_path,
    )
    peer.close()
    _assert_all_ok(result)
    assert result.retransmissions == 1
    assert result.messages_log is not None
    assert result.messages_log.read_text().count("OPTIONS sip:") == 2


# --- helpers --------------------------------------------------------------------------------


class _Sink:
    """A UDP socket on 127.0.0.1 that records what arrives; with answer_from=n it answers the
    n-th datagram (a SIP request) with 200 OK, making it a minimal, forgetful SIP peer."""

    def __init__(self, answer_from: int | None = None) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", free_media_port()))
        self.socket.settimeout(0.2)
        self.port = int(self.socket.getsockname()[1])
        self.packets: list[bytes] = []
        self.sources: set[tuple[str, int]] = set()
        self._answer_from = answer_from
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.socket.recvfrom(4096)
            except TimeoutError:
                continue
            self.packets.append(data)
            self.sources.add(source)
            if self._answer_from is not None and len(self.packets) >= self._answer_from:
                self.socket.sendto(_ok_for(data), source)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


def _ok_for(request: bytes) -> bytes:
    """200 OK echoing a request's Via, From, To, Call-ID and CSeq."""
    kept = ("via:", "from:", "to:", "call-id:", "cseq:")
    headers = [line for line in request.decode().split("\r\n") if line.lower().startswith(kept)]
    return ("SIP/2.0 200 OK\r\n" + "\r\n".join(headers) + "\r\nContent-Length: 0\r\n\r\n").encode()


def _redirect_sdp(scenario: Path, port: int, workdir: Path) -> Path:
    """A copy of scenario whose SDP advertises port (on 127.0.0.1) instead of [media_port]."""
    text = scenario.read_text().replace("m=audio [media_port]", f"m=audio {port}")
    copy = workdir / f"redirected_{port}_{scenario.name}"
    copy.write_text(text)
    return copy


# A 401 exchange (unchecked: any credentials pass) put in front of a UAS scenario's INVITE, to
# prove the UAC scenarios' challenged path where the bench/sipp UAS does not challenge.
_CHALLENGE = """  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[

      SIP/2.0 401 Unauthorized
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      WWW-Authenticate: Digest realm="test", nonce="n[call_number]", qop="auth", algorithm=MD5
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>

"""


def _uas_scenario(name: str, challenge: bool, workdir: Path) -> str:
    """bench/sipp's UAS scenario name, or a copy of it that first challenges the INVITE."""
    if not challenge:
        return name
    text = (SCENARIO_DIR / f"{name}.xml").read_text()
    first_invite = text.index('  <recv request="INVITE"')
    copy = workdir / f"challenging_{name}.xml"
    copy.write_text(text[:first_invite] + _CHALLENGE + text[first_invite:])
    return str(copy)


@needs_sipp
def test_a_uas_whose_control_port_was_taken_meanwhile_starts_again_on_new_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A free port can be taken between choosing it and sipp binding it (other processes open
    sockets meanwhile): sipp exits 254 having sent nothing, and is started again."""
    import bench.sipprun as sipprun

    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    chosen = iter([taken.getsockname()[1]])
    real = sipprun.free_udp_port
    monkeypatch.setattr(
        sipprun, "free_udp_port", lambda host="127.0.0.1": next(chosen, None) or real(host)
    )
    try:
        sipp = sipprun.start_sipp("uas", workdir=tmp_path, timeout=5.0)
        try:
            assert sipp.process.poll() is None  # the second start listens
        finally:
            sipp.stop()
    finally:
        taken.close()
