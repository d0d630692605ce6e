"""The pieces of logging in, each alone: password hashes, the throttle of failed logins,
session tokens (expiry, revocation) and the accounts file."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from mediacore.clock import FakeClock
from mediacore.server import accounts as accounts_module
from mediacore.server.accounts import ACCOUNTS_FILE, API, CONFIG, Account, AccountError, Accounts
from mediacore.server.auth import TokenStore
from mediacore.server.config import TokenEntry
from mediacore.server.loginthrottle import MAX_LOCK, LoginThrottle
from mediacore.server.passwords import (
    MAX_PASSWORD_BYTES,
    N,
    decoy,
    hash_password,
    same_secret,
    verify_password,
)
from mediacore.server.sessions import MAX_PER_USER, PREFIX, SessionStore
from sip.settings import SipUser

# Cheap parameters where only the logic is under test (the real ones take tens of ms).
FAST = {"n": 2**4, "r": 1, "p": 1}

# -- password hashes --------------------------------------------------------------------------


def test_a_hash_records_its_algorithm_parameters_and_salt_and_never_the_password() -> None:
    record = hash_password("correct horse battery staple")
    assert record["algorithm"] == "scrypt" and record["n"] == N and record["r"] == 8
    assert len(base64.b64decode(record["salt"])) == 16
    assert len(base64.b64decode(record["hash"])) == 32
    assert "correct horse" not in json.dumps(record)
    assert verify_password("correct horse battery staple", record)
    assert not verify_password("correct horse battery stapl", record)


def test_two_hashes_of_one_password_differ_by_their_salt() -> None:
    first, second = hash_password("same password", **FAST), hash_password("same password", **FAST)
    assert first["salt"] != second["salt"] and first["hash"] != second["hash"]
    assert verify_password("same password", first) and verify_password("same password", second)


def test_stored_parameters_are_the_ones_checked_with() -> None:
    cheap = hash_password("old but good", **FAST)
    assert cheap["n"] == 16 and verify_password("old but good", cheap)


@pytest.mark.parametrize(
    "tamper",
    [
        {"algorithm": "md5"},
        {"n": 3},  # not a power of two
        {"n": 2**30},  # would take gigabytes
        {"r": 0},
        {"salt": "!!"},
        {"hash": ""},
        {"n": "x"},
    ],
)
def test_a_tampered_record_never_matches_and_never_raises(tamper: dict[str, object]) -> None:
    record = {**hash_password("pw-123456", **FAST), **tamper}
    assert not verify_password("pw-123456", record)


def test_empty_and_overlong_passwords_are_refused_without_hashing() -> None:
    record = hash_password("x" * 10, **FAST)
    assert not verify_password("", record)
    assert not verify_password("x" * (MAX_PASSWORD_BYTES + 1), record)
    with pytest.raises(ValueError):
        hash_password("")


def test_clear_passwords_compare_equal_only_when_identical() -> None:
    assert same_secret("pässwörd", "pässwörd")
    assert not same_secret("pässwörd", "passwörd")
    assert not same_secret("", "x")


# -- the throttle -----------------------------------------------------------------------------

KEYS = ("address 10.0.0.1", "user alice")


def test_the_fifth_failure_within_the_window_locks_for_the_window() -> None:
    throttle = LoginThrottle(limit=5, window=300)
    for second in range(4):
        assert throttle.failed(KEYS, 1000 + second) == 0
        assert throttle.retry_after(KEYS, 1000 + second) == 0
    assert throttle.failed(KEYS, 1004) == 300
    assert throttle.retry_after(KEYS, 1004) == 300
    assert throttle.retry_after(("address 10.0.0.1",), 1104) == 200
    assert throttle.retry_after(KEYS, 1304) == 0


def test_failures_spread_wider_than_the_window_never_lock() -> None:
    throttle = LoginThrottle(limit=3, window=60)
    assert [throttle.failed(KEYS, 1000 + 31 * n) for n in range(10)] == [0] * 10


def test_each_lockout_doubles_up_to_the_longest() -> None:
    throttle = LoginThrottle(limit=2, window=60)
    now, locks = 1000.0, []
    for _ in range(8):
        throttle.failed(KEYS, now)
        lock = throttle.failed(KEYS, now)
        locks.append(lock)
        now += lock
    assert locks[:4] == [60, 120, 240, 480]
    assert max(locks) == MAX_LOCK == locks[-1]


def test_a_success_clears_the_users_count_but_not_the_addresss() -> None:
    throttle = LoginThrottle(limit=3, window=300)
    throttle.failed(KEYS, 1000)
    throttle.failed(KEYS, 1001)
    throttle.succeeded("user alice")
    assert throttle.failed(("address 10.0.0.1", "user alice"), 1002) == 300  # the address's third
    assert throttle.retry_after(("user alice",), 1002) == 0  # alice had only one since


def test_one_addresss_guesses_at_many_users_lock_the_address() -> None:
    throttle = LoginThrottle(limit=5, window=300)
    locks = [throttle.failed(("address 10.0.0.9", f"user u{n}"), 1000 + n) for n in range(5)]
    assert locks[-1] == 300
    assert throttle.retry_after(("address 10.0.0.9", "user someone-else"), 1010) > 0
    assert throttle.retry_after(("address 10.0.0.8", "user u1"), 1010) == 0


# -- sessions ---------------------------------------------------------------------------------


def test_a_session_token_is_random_and_stands_for_its_user_until_it_expires() -> None:
    clock = FakeClock(1_800_000_000.0)
    sessions = SessionStore(minutes=10, clock=clock.now)
    token, session = sessions.open("alice", "commander", "Alice")
    other, _ = sessions.open("alice", "commander", "Alice")
    assert token.startswith(PREFIX) and len(token) > 40 and token != other
    assert session.expires == 1_800_000_000.0 + 600
    assert sessions.verify(token) == session
    clock.advance(599)
    assert sessions.verify(token) == session
    clock.advance(1)
    assert sessions.verify(token) is None
    assert sessions.verify(other) is None


def test_only_digests_of_session_tokens_are_kept() -> None:
    sessions = SessionStore()
    token, _ = sessions.open("alice", "operator")
    assert token not in repr(vars(sessions)) and token[len(PREFIX) :] not in repr(vars(sessions))


def test_a_revoked_session_is_refused_and_the_others_stay() -> None:
    sessions = SessionStore()
    first, _ = sessions.open("alice", "operator")
    second, _ = sessions.open("alice", "operator")
    bob, _ = sessions.open("bob", "expert")
    assert sessions.revoke(first) and not sessions.revoke(first)
    assert sessions.verify(first) is None and sessions.verify(second) is not None
    assert sessions.revoke_user("alice") == 1
    assert sessions.verify(second) is None and sessions.verify(bob) is not None


@pytest.mark.parametrize("token", ["", PREFIX, PREFIX + "x" * 43, "ms2.abc", PREFIX + "y" * 500])
def test_forged_session_tokens_are_refused(token: str) -> None:
    sessions = SessionStore()
    sessions.open("alice", "admin")
    assert sessions.verify(token) is None


def test_an_account_keeps_at_most_a_bounded_number_of_sessions() -> None:
    sessions = SessionStore()
    tokens = [sessions.open("alice", "operator")[0] for _ in range(MAX_PER_USER + 3)]
    assert len(sessions) == MAX_PER_USER
    assert sessions.verify(tokens[0]) is None and sessions.verify(tokens[-1]) is not None


def test_the_token_store_takes_a_session_for_its_account_with_its_role() -> None:
    sessions = SessionStore(minutes=5)
    store = TokenStore([TokenEntry("machine-token-000001", "admin")], sessions=sessions)
    token, session = sessions.open("alice", "reviewer", "Alice")
    principal = store.authenticate(token)
    assert principal is not None
    assert (principal.name, principal.role, principal.identity) == (
        "alice",
        "reviewer",
        "account-alice",
    )
    assert principal.expires == int(session.expires) and principal.may("recordings:read")
    assert store.authenticate("machine-token-000001") is not None  # machine tokens stay
    sessions.revoke(token)
    assert store.authenticate(token) is None


# -- accounts ---------------------------------------------------------------------------------

PHONE = SipUser("1001", "sip-secret-1001", "operator", "Unit 1")


def test_a_sip_user_checks_against_its_configured_password(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path, [PHONE])
    assert accounts.check("1001", "sip-secret-1001") == Account(
        "1001", "operator", "Unit 1", CONFIG
    )
    assert accounts.check("1001", "sip-secret-100") is None
    assert accounts.check("nobody", "sip-secret-1001") is None


def test_api_accounts_are_stored_hashed_0600_and_survive_a_restart(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path, [PHONE])
    assert accounts.put(
        Account("alice", "commander", "Alice", API), hash_password("s3cret-pw", **FAST)
    )
    path = tmp_path / ACCOUNTS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "s3cret-pw" not in path.read_text()
    again = Accounts(tmp_path, [PHONE])
    assert again.check("alice", "s3cret-pw") == Account("alice", "commander", "Alice", API)
    assert [a.user for a in again.all()] == ["1001", "alice"]


def test_a_change_without_a_password_keeps_the_old_one(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path)
    accounts.put(Account("alice", "operator", "", API), hash_password("first-pw", **FAST))
    assert not accounts.put(Account("alice", "admin", "Alice", API), None)
    assert accounts.check("alice", "first-pw") == Account("alice", "admin", "Alice", API)


def test_config_accounts_cannot_be_changed_and_new_ones_need_a_password(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path, [PHONE])
    with pytest.raises(AccountError) as refused:
        accounts.put(Account("1001", "admin", "", API), hash_password("x" * 8, **FAST))
    assert refused.value.status == 409
    with pytest.raises(AccountError) as refused:
        accounts.delete("1001")
    assert refused.value.status == 409
    with pytest.raises(AccountError) as refused:
        accounts.put(Account("new", "admin", "", API), None)
    assert refused.value.status == 422
    with pytest.raises(AccountError) as refused:
        accounts.delete("new")
    assert refused.value.status == 404
    assert not (tmp_path / ACCOUNTS_FILE).exists()


def test_a_deleted_account_no_longer_logs_in(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path)
    accounts.put(Account("alice", "operator", "", API), hash_password("first-pw", **FAST))
    accounts.delete("alice")
    assert accounts.check("alice", "first-pw") is None
    assert Accounts(tmp_path).get("alice") is None


def test_an_unreadable_accounts_file_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / ACCOUNTS_FILE).write_text('{"accounts": [{"user": "../x"}]}')
    with pytest.raises(ValueError, match="accounts.json"):
        Accounts(tmp_path)


def test_an_unknown_name_costs_one_scrypt_check_as_a_known_one_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So that whether a name exists does not show in how long the answer takes."""
    accounts = Accounts(tmp_path)
    accounts.put(Account("alice", "operator", "", API), hash_password("first-pw", **FAST))
    checked: list[dict[str, object]] = []

    def counting(password: str, stored: dict[str, object]) -> bool:
        checked.append(stored)
        return verify_password(password, stored)  # type: ignore[arg-type]

    monkeypatch.setattr(accounts_module, "verify_password", counting)
    accounts.check("alice", "wrong-password")
    accounts.check("mallory", "wrong-password")
    assert len(checked) == 2 and checked[1] is decoy() and decoy()["n"] == N
