"""`bench sip --attack` end to end, small: phones register and call through a spoofed flood."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.sipflood import addresses, spoofed
from bench.sipprun import sipp_available
from sip.message import Request, parse_message


def test_the_flood_sends_well_formed_requests_without_credentials_that_match() -> None:
    for n, method in enumerate(("REGISTER", "INVITE", "OPTIONS")):
        message = parse_message(spoofed(method, "127.0.0.10", 40000, "127.0.0.1:5060", "r", n))
        assert isinstance(message, Request) and message.method == method
        assert message.top_via.host == "127.0.0.10"
    assert addresses("127.0.0.10-127.0.0.12") == ["127.0.0.10", "127.0.0.11", "127.0.0.12"]


@pytest.mark.slow
@pytest.mark.skipif(not sipp_available(), reason="sipp (Debian sip-tester) is not installed")
def test_a_short_attack_run_keeps_the_phones_working_and_writes_json_and_a_plot(
    tmp_path: Path,
) -> None:
    # A smoke run: the report's shape and phones that work through a short flood (the held calls
    # last the flood and 12 s more, the bench's fixed margin). The real run: `python -m bench sip
    # --attack` (40 s at 2000 requests/s).
    arguments = ["--attack-rate", "200", "--attack-seconds", "4", "--attack-processes", "2"]
    code = main(["--out", str(tmp_path), "sip", "--attack", *arguments, "--held-calls", "2"])
    report = json.loads((tmp_path / "sip-attack.json").read_text())
    assert report["flood"]["sent"] >= 0.9 * 200 * 4
    assert report["flood"]["sources"] == 200
    for name, phone in report["phones"].items():
        assert phone["failed"] == 0 and phone["successful"] > 0, (name, phone)
    assert report["clock"]["attack"]["ticks"] > 0
    assert (tmp_path / "sip-attack.png").stat().st_size > 10_000
    assert code == (0 if report["passed"] else 1)
