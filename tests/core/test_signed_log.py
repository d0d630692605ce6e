"""The server's signing key and the signed, hash-chained log: a key is made once, 0600, and
reloaded; every change to a log line (edited, removed, moved, written with another key) is
found at its line, and a torn last line does not break what follows."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from mediacore.chainedlog import ChainedLogFile, entry_signed, read_lines, verify_chain
from mediacore.signing import KeyFileError, PublicKey, SigningKey, public_key_path


def test_a_key_is_made_private_once_and_its_public_half_written_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.key"
    key = SigningKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = SigningKey.load_or_create(path)
    assert again.public.id == key.public.id
    public = PublicKey.load(public_key_path(path))
    assert public.id == key.public.id
    signature = key.sign(b"domain\0", b"message")
    assert public.verify(b"domain\0", b"message", signature)
    assert not public.verify(b"other\0", b"message", signature)  # domains keep kinds apart
    assert not public.verify(b"domain\0", b"messagE", signature)
    assert not public.verify(b"domain\0", b"message", "not base64!")


def test_a_file_that_is_not_a_key_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    path.write_text("not a key\n")
    with pytest.raises(KeyFileError):
        SigningKey.load_or_create(path)
    assert path.read_text() == "not a key\n"
    with pytest.raises(KeyFileError):
        PublicKey.from_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    return SigningKey.load_or_create(tmp_path / "keys" / "signing.key")


def written(tmp_path: Path, key: SigningKey, count: int = 4) -> Path:
    path = tmp_path / "log.jsonl"
    log = ChainedLogFile(path, "test", key)
    for n in range(count):
        log.append({"at": f"2026-12-07T05:00:0{n}.000Z", "action": f"act-{n}"})
    return path


def lines(path: Path) -> list[bytes]:
    return list(read_lines(path))


def problems(path: Path, public: PublicKey) -> list[tuple[int | None, str]]:
    report = verify_chain("test", read_lines(path), public)
    return [(p["line"], p["problem"]) for p in report.problems]


def test_an_untouched_log_verifies_and_goes_on_after_a_restart(
    tmp_path: Path, key: SigningKey
) -> None:
    path = written(tmp_path, key, 2)
    ChainedLogFile(path, "test", key).append({"action": "after-restart"})
    report = verify_chain("test", read_lines(path), key.public)
    assert report.ok, report.problems
    assert [entry["seq"] for entry in report.entries] == [1, 2, 3]
    assert report.head == report.entries[-1]["hash"]


def test_an_edited_line_fails_its_hash(tmp_path: Path, key: SigningKey) -> None:
    path = written(tmp_path, key)
    text = path.read_text().replace('"act-1"', '"act-X"')
    path.write_text(text)
    assert problems(path, key.public) == [(2, "hash")]


def test_an_edited_and_rehashed_line_fails_its_signature(tmp_path: Path, key: SigningKey) -> None:
    from mediacore.chainedlog import entry_hash

    path = written(tmp_path, key)
    raw = lines(path)
    entry = json.loads(raw[1])
    entry["action"] = "act-X"
    entry["hash"] = entry_hash(entry)  # the forger can hash, not sign
    raw[1] = (json.dumps(entry) + "\n").encode()
    path.write_bytes(b"".join(raw))
    found = problems(path, key.public)
    assert (2, "sig") in found and (3, "chain") in found  # the next line names the old hash


def test_a_removed_line_breaks_seq_and_chain_at_the_next(tmp_path: Path, key: SigningKey) -> None:
    path = written(tmp_path, key)
    raw = lines(path)
    path.write_bytes(b"".join(raw[:1] + raw[2:]))
    assert problems(path, key.public) == [(2, "seq"), (2, "chain")]


def test_reordered_lines_are_found(tmp_path: Path, key: SigningKey) -> None:
    path = written(tmp_path, key)
    raw = lines(path)
    path.write_bytes(b"".join([raw[0], raw[2], raw[1], raw[3]]))
    found = {line for line, _ in problems(path, key.public)}
    assert found == {2, 3, 4}


def test_a_log_written_with_another_key_fails_every_signature(
    tmp_path: Path, key: SigningKey
) -> None:
    other = SigningKey.load_or_create(tmp_path / "other.key")
    path = written(tmp_path, other, 2)
    assert problems(path, key.public) == [(1, "sig"), (2, "sig")]


def test_a_torn_last_line_is_reported_and_the_next_entry_starts_a_line(
    tmp_path: Path, key: SigningKey
) -> None:
    path = written(tmp_path, key, 2)
    with path.open("ab") as file:
        file.write(b'{"at": "2026-12-07T05:00:09.000Z", "act')  # a crash mid-append
    ChainedLogFile(path, "test", key).append({"action": "after-crash"})
    report = verify_chain("test", read_lines(path), key.public)
    assert [(p["line"], p["problem"]) for p in report.problems] == [(3, "line")]
    assert report.entries[-1]["action"] == "after-crash" and report.entries[-1]["seq"] == 3


def test_one_entry_taken_out_of_its_log_is_checked_alone(tmp_path: Path, key: SigningKey) -> None:
    entry = json.loads(lines(written(tmp_path, key))[2])
    assert entry_signed(entry, key.public)
    assert not entry_signed({**entry, "action": "other"}, key.public)
    other = SigningKey.load_or_create(tmp_path / "other.key")
    assert not entry_signed(entry, other.public)


def test_a_record_may_not_set_the_chain_fields(tmp_path: Path, key: SigningKey) -> None:
    log = ChainedLogFile(tmp_path / "log.jsonl", "test", key)
    with pytest.raises(ValueError):
        log.append({"seq": 7})
