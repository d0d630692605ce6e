"""Configuration: embedded defaults, the TOML file, MEDIACORE_<SECTION>_<KEY> overrides, options."""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from mediacore.legpolicy import LegPolicy
from mediacore.room import RoomSettings
from mediacore.server import cli
from mediacore.server.cli import _apply_options
from mediacore.server.config import (
    Config,
    ConfigError,
    TokenEntry,
    default_worker_count,
    load_config,
    outbound_networks,
)


def write(tmp_path: Path, text: str | bytes, name: str = "mediacore.toml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def assert_refused(tmp_path: Path, text: str | bytes, naming: str | None = None) -> None:
    """Loading this file fails with a ConfigError whose message matches `naming`."""
    with pytest.raises(ConfigError, match=naming):
        load_config(write(tmp_path, text), {})


def options(**values: object) -> argparse.Namespace:
    fields = ("config", "data_dir", "host", "http_port", "sip_port", "rtp_ports", "log_level")
    return argparse.Namespace(**{name: values.get(name) for name in fields})


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MEDIACORE_* variable of the machine running the tests leaks into them."""
    for key in list(os.environ):
        if key.startswith("MEDIACORE_"):
            monkeypatch.delenv(key)


# -- embedded defaults ----------------------------------------------------------------------


def test_defaults_without_file_or_environment_match_the_contract() -> None:
    config = load_config(None, {})
    assert config.server.http_port == 8080
    assert config.server.host == "0.0.0.0"
    assert config.sip.port == 5060
    assert (config.rtp.port_min, config.rtp.port_max) == (20000, 29999)
    assert config.data_dir == Path("./var")
    assert [room.name for room in config.rooms] == ["command"]
    assert config.rooms[0] == RoomSettings("command")
    assert config.tokens == ()


def loaded_defaults() -> Config:
    """What `mediacore serve` runs on with nothing said: one media worker per core."""
    return replace(Config(), server=replace(Config().server, workers=default_worker_count()))


def test_default_config_object_equals_loaded_defaults() -> None:
    assert load_config(None, {}) == loaded_defaults()
    assert load_config(None, {}).server.workers >= 1


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), {}) == loaded_defaults()


def test_workers_said_in_the_file_or_the_environment_win_over_one_per_core(
    tmp_path: Path,
) -> None:
    assert load_config(write(tmp_path, "[server]\nworkers = 0\n"), {}).server.workers == 0
    assert load_config(None, {"MEDIACORE_SERVER_WORKERS": "3"}).server.workers == 3


def test_load_config_reads_the_process_environment_when_none_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEDIACORE_SERVER_HTTP_PORT", "8181")
    assert load_config().server.http_port == 8181


# -- the TOML file --------------------------------------------------------------------------


def test_file_values_replace_defaults_in_every_section(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[server]
host = "127.0.0.1"
http_port = 9000
data_dir = "/srv/mediacore"
log_level = "debug"
log_format = "text"
access_log = true

[sip]
port = 5070

[rtp]
port_min = 30000
port_max = 30999
timeout = 12.5
public_address = "192.0.2.10"
""",
    )
    config = load_config(path, {})
    assert config.server.host == "127.0.0.1"
    assert config.server.http_port == 9000
    assert config.data_dir == Path("/srv/mediacore")
    assert config.server.log_level == "debug"
    assert config.server.log_format == "text"
    assert config.server.access_log is True
    assert config.sip.port == 5070
    assert (config.rtp.port_min, config.rtp.port_max) == (30000, 30999)
    assert config.rtp.timeout == 12.5
    assert config.rtp.public_address == "192.0.2.10"


def test_integer_in_file_is_accepted_for_a_float_key(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[rtp]\ntimeout = 5\n"), {})
    assert config.rtp.timeout == 5.0
    assert isinstance(config.rtp.timeout, float)


def test_partial_section_keeps_defaults_for_missing_keys(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[server]\nhttp_port = 9001\n"), {})
    assert config.server.http_port == 9001
    assert config.server.host == "0.0.0.0"
    assert config.rtp.port_min == 20000


def test_rooms_tables_replace_the_default_room(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[rooms]]
name = "ops"
ptime = 10
rate = 16000
floor = "queue"
max_talkers = 2

[[rooms]]
name = "fire-1"
""",
    )
    rooms = load_config(path, {}).rooms
    assert rooms == (
        RoomSettings("ops", ptime=10, rate=16000, floor="queue", max_talkers=2),
        RoomSettings("fire-1"),
    )


def test_empty_rooms_list_means_no_rooms(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "rooms = []\n"), {}).rooms == ()


def test_auth_tokens_tables_become_token_entries(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[auth.tokens]]
token = "s3cret-commander"
role = "commander"
name = "Chief"

[[auth.tokens]]
token = "s3cret-reviewer-token"
role = "reviewer"
""",
    )
    assert load_config(path, {}).tokens == (
        TokenEntry("s3cret-commander", "commander", "Chief"),
        TokenEntry("s3cret-reviewer-token", "reviewer", ""),
    )


# -- bad files, keys and types ----------------------------------------------------------------


def test_missing_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="nope.toml"):
        load_config(missing, {})


def test_invalid_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server\nhttp_port = 1\n", name="broken.toml")
    with pytest.raises(ConfigError, match=r"broken\.toml.*not valid TOML"):
        load_config(path, {})


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[server]\nhttp_prot = 1\n", "http_prot"),
        ("[sip]\nprot = 1\n", "prot"),
        ("[rtp]\nport_minimum = 1\n", "port_minimum"),
    ],
)
def test_unknown_key_in_a_section_is_a_config_error_naming_it(
    tmp_path: Path, text: str, key: str
) -> None:
    assert_refused(tmp_path, text, key)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[server]\nhttp_port = "eighty"\n', "server.http_port"),
        ('[sip]\nport = "five"\n', "sip.port"),
        ('[rtp]\ntimeout = "soon"\n', "rtp.timeout"),
        ('[server]\naccess_log = "sometimes"\n', "server.access_log"),
        ("[rtp]\nport_min = [1, 2]\n", "rtp.port_min"),
    ],
)
def test_value_of_the_wrong_type_is_a_config_error_naming_the_key(
    tmp_path: Path, text: str, key: str
) -> None:
    assert_refused(tmp_path, text, re.escape(key))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[server]\nhttp_port = 80.5\n", "server.http_port"),
        ("[server]\nhttp_port = true\n", "server.http_port"),
        ("[server]\nhost = 5\n", "server.host"),
        ("[server]\naccess_log = 5\n", "server.access_log"),
    ],
)
def test_toml_value_of_another_type_is_not_silently_converted(
    tmp_path: Path, text: str, key: str
) -> None:
    assert_refused(tmp_path, text, re.escape(key))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[server]\nhttp_port = 70000\n", "http_port"),
        ("[sip]\nport = -1\n", "port"),
        ("[rtp]\nport_min = 30000\nport_max = 20000\n", "port_m"),
        ("[rtp]\nport_max = 70000\n", "port_max"),
    ],
)
def test_port_out_of_range_is_a_config_error_naming_the_key(
    tmp_path: Path, text: str, key: str
) -> None:
    assert_refused(tmp_path, text, key)


@pytest.mark.parametrize(
    "text",
    [
        "server = 5\n",
        'server = "abc"\n',
        "auth = 5\n",
        "[auth]\ntokens = 5\n",
        "rooms = 5\n",
        b"\xff\xfe[server]\n",
    ],
    ids=["server-int", "server-str", "auth-int", "auth-tokens-int", "rooms-int", "not-utf8"],
)
def test_malformed_file_structure_is_a_config_error(tmp_path: Path, text: str | bytes) -> None:
    assert_refused(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "key"),
    [("[sever]\nhttp_port = 1\n", "sever"), ("[auth]\ntoken = 'x'\n", "token")],
)
def test_unknown_section_or_auth_key_is_a_config_error_naming_it(
    tmp_path: Path, text: str, key: str
) -> None:
    assert_refused(tmp_path, text, key)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[[rooms]]\nname = "ops"\ncolour = "red"\n', "colour"),
        ('[[rooms]]\nname = "ops"\nptime = 30\n', "ptime"),
        ('[[rooms]]\nname = "ops"\nrate = 44100\n', "rate"),
        ('[[rooms]]\nname = "ops"\nfloor = "grab"\n', "floor"),
        ('[[rooms]]\nname = "bad name"\n', "room names"),
        ("[[rooms]]\nptime = 20\n", "name"),
    ],
)
def test_bad_room_table_is_a_config_error_naming_the_problem(
    tmp_path: Path, text: str, fragment: str
) -> None:
    assert_refused(tmp_path, text, fragment)


@pytest.mark.parametrize("interval", ["-1", "0.5", "4000"])
def test_sip_keepalive_interval_out_of_range_is_a_config_error(
    tmp_path: Path, interval: str
) -> None:
    assert_refused(tmp_path, f"[sip]\nkeepalive_interval = {interval}\n", "keepalive_interval")


def test_digest_is_md5_for_the_realm_and_sha256_per_account(tmp_path: Path) -> None:
    text = (
        '[[sip.users]]\nuser = "a"\npassword = "p"\n\n'
        '[[sip.users]]\nuser = "b"\npassword = "p"\ndigest_algorithms = "sha-256, MD5"\n'
    )
    config = load_config(write(tmp_path, text), {})
    assert config.sip.algorithms == ("MD5",)
    assert [user.algorithms for user in config.sip.users] == [(), ("SHA-256", "MD5")]
    bad = '[[sip.users]]\nuser = "a"\npassword = "p"\ndigest_algorithms = "SHA-512"\n'
    assert_refused(tmp_path, bad, "digest_algorithms")


TRUNK = '[[sip.trunks]]\nname = "pbx"\nproxy = "sip:10.1.1.5"\n'


def test_trunks_are_trusted_by_address_unless_told_otherwise(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TRUNK), {})
    assert config.sip.trunks[0].inbound == "address"
    digest = TRUNK + 'inbound = "digest"\nusername = "pbx"\npassword = "secret"\n'
    assert load_config(write(tmp_path, digest), {}).sip.trunks[0].inbound == "digest"
    assert config.sip.trunks[0].video is False
    mcu = load_config(write(tmp_path, TRUNK + "video = true\n"), {})  # another MCU (级联)
    assert mcu.sip.trunks[0].video is True
    assert_refused(tmp_path, TRUNK + 'video = "yes"\n', "video must be bool")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (TRUNK + 'inbound = "ip"\n', "inbound must be one of"),
        (TRUNK + 'inbound = "digest"\n', "needs username and password"),
        (
            '[[sip.users]]\nuser = "pbx"\npassword = "p"\n\n'
            + TRUNK
            + 'inbound = "digest"\nusername = "pbx"\npassword = "secret"\n',
            "usernames of their own",
        ),
    ],
)
def test_bad_trunk_inbound_settings_are_config_errors(
    tmp_path: Path, text: str, fragment: str
) -> None:
    assert_refused(tmp_path, text, fragment)


@pytest.mark.parametrize(
    "keys",
    [
        "tcp_max_per_address = 0",
        "tcp_max_per_address = 50\ntcp_max_connections = 10",
        "tcp_message_timeout = 0.5",
        "tcp_message_timeout = 100\ntcp_idle_timeout = 50",
    ],
)
def test_sip_tcp_limits_out_of_range_are_config_errors(tmp_path: Path, keys: str) -> None:
    assert_refused(tmp_path, f"[sip]\n{keys}\n", "sip.tcp_")


def test_radio_gateways_are_read_from_the_config(tmp_path: Path) -> None:
    text = (
        '[[radio.gateways]]\nname = "north"\nuri = "sip:radio1@192.0.2.10:5060"\n'
        'room = "command"\nmode = "rx"\npriority = 1\n'
    )
    (gateway,) = load_config(write(tmp_path, text), {}).radio_gateways
    assert (gateway.name, gateway.uri, gateway.room, gateway.mode, gateway.priority) == (
        "north",
        "sip:radio1@192.0.2.10:5060",
        "command",
        "rx",
        1,
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[[radio.gateways]]\nname = "n"\nroom = "r"\n', "needs a name"),
        ('[[radio.gateways]]\nname = "n"\nuri = "http://x"\nroom = "r"\n', "bad uri"),
        ('[[radio.gateways]]\nname = "n"\nuri = "sip:a@b"\nroom = "r"\nmode = "x"\n', "mode"),
        ('[[radio.gateways]]\nname = "n"\nuri = "sip:a@b"\nroom = "r"\npriority = 7\n', "priority"),
        ('[[radio.gateways]]\nname = "n"\nuri = "sip:a@b"\nroom = "r"\ncolour = 1\n', "takes"),
        ("[radio]\nspeed = 1\n", "unknown key"),
    ],
)
def test_bad_radio_gateway_is_a_config_error(tmp_path: Path, text: str, fragment: str) -> None:
    assert_refused(tmp_path, text, fragment)


def test_duplicate_room_names_are_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[[rooms]]\nname = "ops"\n[[rooms]]\nname = "ops"\n')
    with pytest.raises(ConfigError, match="ops"):
        load_config(path, {})


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[[rooms]]\nname = "ops"\nmax_talkers = 2.5\n', "max_talkers"),
        ('[[rooms]]\nname = "ops"\ntalk_on_dbfs = nan\n', "talk_on_dbfs"),
    ],
)
def test_room_table_with_non_integral_or_nan_value_is_a_config_error(
    tmp_path: Path, text: str, key: str
) -> None:
    assert_refused(tmp_path, text, key)


@pytest.mark.parametrize(
    "text",
    [
        '[[auth.tokens]]\nrole = "admin"\n',
        '[[auth.tokens]]\ntoken = ""\nrole = "admin"\n',
        '[[auth.tokens]]\ntoken = "x"\n',
        '[[auth.tokens]]\ntoken = "x"\nrole = "superuser"\n',
    ],
    ids=["no-token", "empty-token", "no-role", "unknown-role"],
)
def test_bad_token_table_is_a_config_error_naming_auth_tokens(tmp_path: Path, text: str) -> None:
    assert_refused(tmp_path, text, r"auth\.tokens")


@pytest.mark.parametrize(
    ("text", "environment", "key"),
    [
        ('[[auth.tokens]]\ntoken = "fifteen-chars-x"\nrole = "admin"\n', {}, r"auth\.tokens"),
        ("", {"MEDIACORE_ADMIN_TOKEN": "short"}, "MEDIACORE_ADMIN_TOKEN"),
        ('[server]\nmetrics_token = "scrape"\n', {}, r"server\.metrics_token"),
    ],
    ids=["config", "environment", "metrics"],
)
def test_a_token_shorter_than_16_characters_is_refused(
    tmp_path: Path, text: str, environment: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError, match=f"{key}.*at least 16 characters"):
        load_config(write(tmp_path, text), environment)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[server]\nmax_body_bytes = 10\n", r"server\.max_body_bytes"),
        ("[server]\nmax_websockets_per_address = 0\n", r"server\.max_websockets_per_address"),
        ("[server]\nmax_exports_per_address = 0\n", r"server\.max_exports_per_address"),
        ('[outbound]\nallow_networks = "10.0.0.0/33"\n', r"\[outbound\].*10\.0\.0\.0/33"),
        ('[outbound]\ndeny_networks = "intranet"\n', r"\[outbound\].*intranet"),
    ],
)
def test_bad_security_limits_are_config_errors(tmp_path: Path, text: str, key: str) -> None:
    assert_refused(tmp_path, text, key)


def test_security_defaults_deny_metadata_and_loopback_and_hide_the_api_description() -> None:
    config = load_config(None, {})
    assert not config.server.api_docs and not config.server.metrics_token
    assert config.server.max_body_bytes == 1024 * 1024
    policy = outbound_networks(config.outbound)
    assert not policy.allows(ipaddress.ip_address("169.254.169.254"))
    assert not policy.allows(ipaddress.ip_address("127.0.0.1"))
    assert policy.allows(ipaddress.ip_address("192.168.10.20"))
    lab = load_config(None, {"MEDIACORE_OUTBOUND_ALLOW_LOOPBACK": "true"})
    assert outbound_networks(lab.outbound).allows(ipaddress.ip_address("127.0.0.1"))


# -- environment overrides --------------------------------------------------------------------


def test_environment_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[server]\nhttp_port = 9000\nhost = "10.0.0.1"\n[sip]\nport = 5070\n'
        "[rtp]\nport_min = 30000\nport_max = 39999\n",
    )
    config = load_config(
        path,
        {
            "MEDIACORE_SERVER_HTTP_PORT": "9100",
            "MEDIACORE_SIP_PORT": "5080",
            "MEDIACORE_RTP_PORT_MIN": "31000",
            "MEDIACORE_RTP_TIMEOUT": "2.5",
        },
    )
    assert config.server.http_port == 9100
    assert config.server.host == "10.0.0.1"  # not overridden: the file's value stays
    assert config.sip.port == 5080
    assert config.rtp.port_min == 31000
    assert config.rtp.timeout == 2.5


def test_environment_overrides_apply_without_a_file() -> None:
    config = load_config(
        None,
        {"MEDIACORE_SERVER_DATA_DIR": "/data", "MEDIACORE_RTP_PUBLIC_ADDRESS": "198.51.100.7"},
    )
    assert config.data_dir == Path("/data")
    assert config.rtp.public_address == "198.51.100.7"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", True), ("true", True), ("YES", True), ("0", False), ("False", False), ("no", False)],
)
def test_boolean_environment_override_accepts_usual_spellings(text: str, expected: bool) -> None:
    config = load_config(None, {"MEDIACORE_SERVER_ACCESS_LOG": text})
    assert config.server.access_log is expected


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("MEDIACORE_SERVER_HTTP_PORT", "http", "server.http_port"),
        ("MEDIACORE_SIP_PORT", "5060.5", "sip.port"),
        ("MEDIACORE_RTP_TIMEOUT", "never", "rtp.timeout"),
        ("MEDIACORE_SERVER_ACCESS_LOG", "maybe", "server.access_log"),
    ],
)
def test_bad_environment_override_is_a_config_error_naming_the_key(
    variable: str, value: str, key: str
) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, {variable: value})


def test_unrelated_environment_variables_are_ignored() -> None:
    config = load_config(None, {"MEDIACORE_NOPE_THING": "1", "HTTP_PORT": "1", "PATH": "/bin"})
    assert config == loaded_defaults()


def test_admin_token_from_environment_adds_an_admin_token_entry(tmp_path: Path) -> None:
    path = write(tmp_path, '[[auth.tokens]]\ntoken = "operator-token-0001"\nrole = "operator"\n')
    config = load_config(path, {"MEDIACORE_ADMIN_TOKEN": "admin-token-from-env"})
    assert TokenEntry("operator-token-0001", "operator", "") in config.tokens
    assert TokenEntry("admin-token-from-env", "admin", "admin") in config.tokens
    assert len(config.tokens) == 2


def test_empty_admin_token_variable_adds_no_token() -> None:
    assert load_config(None, {"MEDIACORE_ADMIN_TOKEN": ""}).tokens == ()


# -- command-line options ---------------------------------------------------------------------


def test_options_win_over_environment_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nhttp_port = 9000\n[sip]\nport = 5070\n")
    loaded = load_config(path, {"MEDIACORE_SERVER_HTTP_PORT": "9100"})
    config = _apply_options(
        loaded,
        options(
            http_port=9200,
            sip_port=5090,
            host="127.0.0.1",
            data_dir=str(tmp_path / "data"),
            rtp_ports="40000-40999",
            log_level="warning",
        ),
    )
    assert config.server.http_port == 9200
    assert config.sip.port == 5090
    assert config.server.host == "127.0.0.1"
    assert config.data_dir == tmp_path / "data"
    assert (config.rtp.port_min, config.rtp.port_max) == (40000, 40999)
    assert config.server.log_level == "warning"


def test_no_options_leave_the_loaded_config_unchanged(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, "[server]\nhttp_port = 9000\n"), {})
    assert _apply_options(loaded, options()) == loaded


@pytest.mark.parametrize("value", ["bad", "20000", "20000-", "-20000", "30000-20000", "a-b", "5-5"])
def test_malformed_rtp_port_option_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="--rtp-ports"):
        _apply_options(Config(), options(rtp_ports=value))


@pytest.fixture
def serve_calls(monkeypatch: pytest.MonkeyPatch) -> list[Config]:
    """Replaces the part of `main` that starts the server, recording what it was given."""
    calls: list[Config] = []

    def fake_serve(config: Config) -> int:
        calls.append(config)
        return 0

    monkeypatch.setattr(cli, "_serve", fake_serve)
    return calls


def test_main_with_bad_rtp_ports_exits_2_without_serving(
    serve_calls: list[Config], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", "--rtp-ports", "bad"]) == 2
    assert serve_calls == []
    assert "--rtp-ports" in capsys.readouterr().err


def test_main_with_bad_config_file_exits_2_naming_the_key(
    tmp_path: Path, serve_calls: list[Config], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[server]\nhttp_prot = 1\n")
    assert cli.main(["serve", "--config", str(path)]) == 2
    assert serve_calls == []
    assert "http_prot" in capsys.readouterr().err


def test_main_with_bad_environment_exits_2_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, serve_calls: list[Config], capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEDIACORE_SIP_PORT", "sip")
    assert cli.main(["serve"]) == 2
    assert serve_calls == []
    assert "sip.port" in capsys.readouterr().err


def test_main_serves_the_layered_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serve_calls: list[Config]
) -> None:
    path = write(tmp_path, "[server]\nhttp_port = 9000\nhost = '10.1.1.1'\n[sip]\nport = 5070\n")
    monkeypatch.setenv("MEDIACORE_SERVER_HTTP_PORT", "9100")
    monkeypatch.setenv("MEDIACORE_ADMIN_TOKEN", "env-admin-token-0001")
    argv = ["serve", "--config", str(path), "--host", "127.0.0.1", "--rtp-ports", "40000-40100"]
    assert cli.main(argv) == 0
    (config,) = serve_calls
    assert config.server.http_port == 9100  # environment over file
    assert config.server.host == "127.0.0.1"  # option over file
    assert config.sip.port == 5070  # file over default
    assert (config.rtp.port_min, config.rtp.port_max) == (40000, 40100)
    assert TokenEntry("env-admin-token-0001", "admin", "admin") in config.tokens


@pytest.mark.parametrize(
    ("argv", "environment"),
    [
        (["serve", "--rtp-ports", "100-200"], {}),
        (["serve", "--rtp-ports", "60000-70000"], {}),
        (["serve", "--log-level", "loud"], {}),
        (["serve"], {"MEDIACORE_SERVER_LOG_LEVEL": "loud"}),
    ],
    ids=["rtp-below-1024", "rtp-above-65535", "log-level-option", "log-level-env"],
)
def test_main_with_unusable_values_exits_2_without_serving(
    monkeypatch: pytest.MonkeyPatch,
    serve_calls: list[Config],
    argv: list[str],
    environment: dict[str, str],
) -> None:
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    assert cli.main(argv) == 2
    assert serve_calls == []


def test_main_version_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    from mediacore.server.app import VERSION

    assert cli.main(["version"]) == 0
    assert capsys.readouterr().out.strip() == VERSION


def test_main_without_a_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 2


def test_rooms_recorded_from_the_start_may_run_in_media_workers(tmp_path: Path) -> None:
    path = tmp_path / "mediacore.toml"
    path.write_text('[server]\nworkers = 2\n\n[[rooms]]\nname = "command"\nrecord = true\n')
    config = load_config(path, environ={})
    assert config.server.workers == 2 and config.rooms[0].record


def test_the_signing_key_defaults_to_the_data_dirs_keys_and_never_lies_in_recordings(
    tmp_path: Path,
) -> None:
    data = tmp_path / "var"
    environ = {"MEDIACORE_SERVER_DATA_DIR": str(data)}
    assert load_config(environ=environ).signing_key_path == data / "keys" / "signing.key"
    elsewhere = str(tmp_path / "secure" / "mediacore.key")
    environ["MEDIACORE_RECORDING_SIGNING_KEY"] = elsewhere
    assert load_config(environ=environ).signing_key_path == Path(elsewhere)
    environ["MEDIACORE_RECORDING_SIGNING_KEY"] = str(data / "recordings" / "signing.key")
    with pytest.raises(ConfigError, match="outside the data dir's recordings"):
        load_config(environ=environ)


def test_srtp_and_nat_per_account_trunk_and_gateway_with_a_server_default(
    tmp_path: Path,
) -> None:
    text = (
        '[sip]\nsrtp = "mandatory"\n\n'
        '[[sip.users]]\nuser = "a"\npassword = "p"\nsrtp = "off"\nnat = true\n\n'
        '[[sip.users]]\nuser = "b"\npassword = "p"\n\n' + TRUNK + 'srtp = "optional"\n\n'
        '[[radio.gateways]]\nname = "g"\nuri = "sip:r@192.0.2.10"\nroom = "command"\nnat = true\n'
    )
    config = load_config(write(tmp_path, text), {})
    sip = config.sip
    a, b = sip.users
    assert sip.policy(a.srtp, a.nat) == LegPolicy("off", True)
    assert sip.policy(b.srtp, b.nat) == LegPolicy("mandatory", False)
    assert sip.policy(sip.trunks[0].srtp).srtp == "optional"
    (gateway,) = config.radio_gateways
    assert sip.policy(gateway.srtp, gateway.nat) == LegPolicy("mandatory", True)
    assert load_config(None, {"MEDIACORE_SIP_SRTP": "off"}).sip.srtp == "off"
    assert load_config(None, {}).sip.srtp == "optional"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[sip]\nsrtp = "required"\n', "sip.srtp"),
        ('[[sip.users]]\nuser = "a"\npassword = "p"\nsrtp = "yes"\n', "srtp must be one of"),
        ('[[sip.users]]\nuser = "a"\npassword = "p"\nnat = "yes"\n', "nat must be"),
        (TRUNK + 'srtp = "on"\n', "srtp must be one of"),
    ],
)
def test_bad_srtp_or_nat_settings_are_config_errors(
    tmp_path: Path, text: str, fragment: str
) -> None:
    assert_refused(tmp_path, text, fragment)


def test_auth_login_keys_come_from_the_file_and_the_environment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[auth]\nsession_minutes = 60\nlogin_attempts = 3\n\n[[auth.tokens]]\n"
        'token = "operator-token-0001"\nrole = "operator"\n',
    )
    config = load_config(path, {"MEDIACORE_AUTH_LOGIN_WINDOW": "30"})
    assert (config.auth.session_minutes, config.auth.login_attempts) == (60, 3)
    assert config.auth.login_window == 30.0 and len(config.tokens) == 1
    assert Config().auth.session_minutes == 720


@pytest.mark.parametrize(
    "text",
    ["[auth]\nsession_minutes = 0\n", "[auth]\nlogin_attempts = 0\n", "[auth]\nlogin_window = 0\n",
     '[auth]\nsession_minutes = "x"\n'],
)  # fmt: skip
def test_unusable_auth_login_keys_are_refused_naming_them(tmp_path: Path, text: str) -> None:
    assert_refused(tmp_path, text, r"auth\.")


def test_media_workers_keep_the_servers_niceness_unless_told_otherwise(tmp_path: Path) -> None:
    assert load_config(None, {}).server.media_nice == 0
    said = write(tmp_path, "[server]\nmedia_nice = -10\n")
    assert load_config(said, {}).server.media_nice == -10
    assert_refused(tmp_path, "[server]\nmedia_nice = 5\n", "media_nice must be -20 to 0")
