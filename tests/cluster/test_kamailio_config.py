"""The shipped Kamailio config on loopback, without nodes: it parses with a deployment's
defines, and with the cluster's Redis away it answers 503 at once and keeps serving."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.cluster.kamailio import CONFIG, KAMAILIO, kamailio, options
from tests.cluster.redisserver import free_port


def test_the_config_parses_with_a_deployment_s_defines() -> None:
    if not Path(KAMAILIO).exists():
        pytest.skip("kamailio is not installed (scripts/bootstrap test installs it)")
    defines = [
        "LISTEN=127.0.0.1:5099",
        'REDIS="name=mc;addr=10.0.0.2;port=6379;db=3"',
        'NODE_NET="10.0.0.0/24"',
        "DEAD_AFTER_MS=5000",
        "SIP_DOMAIN=sip.example.org",
        "WITH_ROUTE_LOG",
    ]
    argv = [KAMAILIO, "-c", "-f", str(CONFIG)] + [f"-A{define}" for define in defines]
    checked = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert "udp: 127.0.0.1 [127.0.0.1]:5099" in checked.stdout + checked.stderr


def test_without_redis_a_call_gets_503_at_once_and_kamailio_keeps_answering(
    tmp_path: Path,
) -> None:
    away = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with kamailio(tmp_path, away) as proxy:
        for _ in range(2):  # the second after ndb_redis gave up on the first
            started = time.monotonic()
            refused = options("127.0.0.1", proxy, f"sip:command@{proxy.address}", wait=10)
            assert refused.startswith("SIP/2.0 503"), refused
            assert time.monotonic() - started < 5.0
        assert options("127.0.0.1", proxy, f"sip:{proxy.address}").startswith("SIP/2.0 200")
