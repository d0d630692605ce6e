"""Bearer tokens, the generated admin token, and what each role may do."""

from __future__ import annotations

import hmac
import stat
from pathlib import Path

import pytest

from mediacore.server import auth
from mediacore.server.auth import (
    ADMIN_TOKEN_FILE,
    PERMISSIONS,
    Principal,
    TokenStore,
    build_token_store,
)
from mediacore.server.config import Config, ServerSection, TokenEntry


def config_in(data_dir: Path, *tokens: TokenEntry) -> Config:
    return Config(server=ServerSection(data_dir=str(data_dir)), tokens=tokens)


# -- the token store --------------------------------------------------------------------------


def test_known_token_authenticates_as_its_named_principal() -> None:
    store = TokenStore([TokenEntry("tok-a", "commander", "Chief"), TokenEntry("tok-b", "expert")])
    assert store.authenticate("tok-a") == Principal("Chief", "commander")


def test_token_without_name_is_named_after_its_role() -> None:
    store = TokenStore([TokenEntry("tok-b", "expert")])
    assert store.authenticate("tok-b") == Principal("expert", "expert")


@pytest.mark.parametrize(
    "candidate", ["", "tok", "tok-a-", "TOK-A", " tok-a", "tok-a\n", "tök-a", "tok-b"]
)
def test_unknown_token_authenticates_as_nobody(candidate: str) -> None:
    store = TokenStore([TokenEntry("tok-a", "admin")])
    assert store.authenticate(candidate) is None


def test_empty_store_authenticates_nobody() -> None:
    assert TokenStore([]).authenticate("anything") is None
    assert len(TokenStore([])) == 0


def test_non_ascii_token_compares_without_error() -> None:
    store = TokenStore([TokenEntry("pässwörd-✓", "operator")])
    assert store.authenticate("pässwörd-✓") == Principal("operator", "operator")
    assert store.authenticate("passwort") is None


def test_authenticate_compares_with_hmac_compare_digest_against_every_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Constant time: the comparison is hmac.compare_digest, and a match (or an early
    mismatch) does not stop the loop, so timing does not reveal which entry matched."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    store = TokenStore([TokenEntry(f"tok-{n}", "expert") for n in range(5)])
    assert store.authenticate("tok-0") is not None
    assert len(calls) == 5
    calls.clear()
    assert store.authenticate("zzz") is None
    assert len(calls) == 5


def test_added_token_authenticates() -> None:
    store = TokenStore([])
    store.add(TokenEntry("late", "reviewer", "Auditor"))
    assert len(store) == 1
    assert store.authenticate("late") == Principal("Auditor", "reviewer")


# -- the generated admin token ----------------------------------------------------------------


def test_first_start_generates_admin_token_file_with_mode_0600_and_prints_only_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "var" / "nested"  # created on demand
    store = build_token_store(config_in(data_dir))
    path = data_dir / ADMIN_TOKEN_FILE
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text(encoding="utf-8").strip()
    assert len(token) >= 24
    assert store.authenticate(token) == Principal("admin", "admin")
    captured = capsys.readouterr()
    assert token not in captured.out and token not in captured.err  # stdout ends up in logs
    assert str(path) in captured.out


def test_next_start_reloads_the_same_token_without_printing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_token_store(config_in(tmp_path))
    token = (tmp_path / ADMIN_TOKEN_FILE).read_text(encoding="utf-8").strip()
    capsys.readouterr()
    again = build_token_store(config_in(tmp_path))
    assert again.authenticate(token) == Principal("admin", "admin")
    assert len(again) == 1
    captured = capsys.readouterr()
    assert token not in captured.out
    assert token not in captured.err
    assert (tmp_path / ADMIN_TOKEN_FILE).read_text(encoding="utf-8").strip() == token


def test_generated_tokens_differ_between_data_dirs(tmp_path: Path) -> None:
    build_token_store(config_in(tmp_path / "a"), announce=False)
    build_token_store(config_in(tmp_path / "b"), announce=False)
    a = (tmp_path / "a" / ADMIN_TOKEN_FILE).read_text(encoding="utf-8")
    b = (tmp_path / "b" / ADMIN_TOKEN_FILE).read_text(encoding="utf-8")
    assert a != b


def test_announce_false_generates_the_token_without_printing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_token_store(config_in(tmp_path), announce=False)
    assert (tmp_path / ADMIN_TOKEN_FILE).exists()
    assert capsys.readouterr().out == ""


def test_configured_tokens_mean_no_generated_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = build_token_store(config_in(tmp_path, TokenEntry("op-token", "operator")))
    assert not (tmp_path / ADMIN_TOKEN_FILE).exists()
    assert len(store) == 1
    assert store.authenticate("op-token") == Principal("operator", "operator")
    assert capsys.readouterr().out == ""


def test_configured_tokens_ignore_a_left_over_token_file(tmp_path: Path) -> None:
    build_token_store(config_in(tmp_path), announce=False)
    old = (tmp_path / ADMIN_TOKEN_FILE).read_text(encoding="utf-8").strip()
    store = build_token_store(config_in(tmp_path, TokenEntry("env-admin", "admin", "admin")))
    assert store.authenticate(old) is None
    assert store.authenticate("env-admin") == Principal("admin", "admin")


def test_empty_admin_token_file_never_makes_the_empty_string_an_admin_token(
    tmp_path: Path,
) -> None:
    (tmp_path / ADMIN_TOKEN_FILE).write_text("\n", encoding="utf-8")
    try:
        store = build_token_store(config_in(tmp_path), announce=False)
    except Exception:  # refusing to start is a correct answer too
        return
    assert store.authenticate("") is None


# -- roles and permissions --------------------------------------------------------------------

ROOM_PERMISSIONS = (
    "rooms:read",
    "rooms:write",
    "rooms:join",
    "participants:write",
    "legs:create",
    "floor:talk",
    "sip:read",
    "join-links:write",
)

# role -> the room-related permissions it has; recordings permissions are the recorder's.
# Experts join only; reviewers see recordings only.
EXPECTED_ROOM_PERMISSIONS = {
    "admin": set(ROOM_PERMISSIONS),
    "commander": set(ROOM_PERMISSIONS),
    "operator": {
        "rooms:read",
        "rooms:join",
        "participants:write",
        "legs:create",
        "floor:talk",
        "sip:read",
    },
    "expert": {"rooms:read", "rooms:join", "floor:talk"},
    "reviewer": set(),
}


def test_every_role_of_the_config_has_a_permission_set() -> None:
    from mediacore.server.config import ROLES

    # and one more: the metrics token's, which reads /metrics only
    assert set(PERMISSIONS) == {*ROLES, "metrics"}
    assert PERMISSIONS["metrics"] == {"metrics:read"}


@pytest.mark.parametrize("role", sorted(EXPECTED_ROOM_PERMISSIONS))
@pytest.mark.parametrize("permission", ROOM_PERMISSIONS)
def test_role_has_exactly_the_room_permissions_of_its_rank(role: str, permission: str) -> None:
    expected = permission in EXPECTED_ROOM_PERMISSIONS[role]
    assert Principal("someone", role).may(permission) is expected


def test_admin_may_do_everything_any_role_may() -> None:
    everything = frozenset().union(*PERMISSIONS.values())
    assert everything <= PERMISSIONS["admin"]


def test_reviewer_may_read_recordings_and_admin_may_write_them() -> None:
    assert Principal("r", "reviewer").may("recordings:read")
    assert Principal("a", "admin").may("recordings:write")
    assert not Principal("e", "expert").may("recordings:write")


def test_unknown_role_or_permission_is_never_allowed() -> None:
    assert not Principal("x", "superuser").may("rooms:read")
    assert not Principal("x", "admin").may("rooms:destroy-everything")
    assert not Principal("x", "admin").may("")
