from __future__ import annotations

import pytest

from mediacore.server.cli import _apply_options, main
from mediacore.server.config import Config, ConfigError, load_config


def test_embedded_by_default() -> None:
    assert not load_config(environ={}).cluster.enabled


def test_cluster_section_from_file(tmp_path) -> None:
    path = tmp_path / "mediacore.toml"
    path.write_text(
        '[cluster]\nredis = "redis://10.0.0.5:6379/2"\nnode = "node-a"\nadvertise = "10.0.0.11"\n'
    )
    cluster = load_config(path, environ={}).cluster
    assert (cluster.redis, cluster.node, cluster.advertise) == (
        "redis://10.0.0.5:6379/2",
        "node-a",
        "10.0.0.11",
    )
    assert cluster.enabled


def test_cluster_from_the_command_line() -> None:
    import argparse

    args = argparse.Namespace(
        data_dir=None, host=None, http_port=None, log_level=None, workers=None,
        insecure_http=False, rtp_ports=None, sip_port=None, sip_tls_port=None,
        cluster="redis://127.0.0.1:6379/0", node="n1", advertise="127.0.0.2",
    )  # fmt: skip
    cluster = _apply_options(Config(), args).cluster
    assert (cluster.redis, cluster.node, cluster.advertise) == (
        "redis://127.0.0.1:6379/0",
        "n1",
        "127.0.0.2",
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('redis = "http://x"', "redis://"),
        ('redis = "redis://h:1/0"\nnode = "bad name!"', "cluster.node"),
        ('redis = "redis://h:1/0"\nheartbeat_ms = 5000', "heartbeat_ms"),
    ],
)
def test_bad_cluster_settings_are_refused(tmp_path, table: str, message: str) -> None:
    path = tmp_path / "mediacore.toml"
    path.write_text(f"[cluster]\n{table}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path, environ={})


def test_bad_cluster_url_on_the_command_line_exits_2(capsys) -> None:
    assert main(["serve", "--cluster", "nonsense"]) == 2
    assert "cluster.redis" in capsys.readouterr().err
