"""Signed manifests and the ledger of sealed recordings: the recorder service signs what it
seals (stopped, amended, recovered), `verify` checks the signature offline with the public key
alone (an edited and resealed manifest, or one signed by another key, fails), and the ledger
notices a recording deleted by hand, one that appeared, and a manifest swapped for an older
one; deletions through the service are on record and not reported."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from mediacore.room import Room
from mediacore.signing import PublicKey, SigningKey, default_key_path, public_key_path
from recorder.ledger import LEDGER_FILE, RecordingLedger, verify_ledger
from recorder.manifest import read_manifest, seal, write_manifest
from recorder.service import RecorderService
from recorder.signature import sign_manifest, signature_problem
from recorder.verify import verify_recording
from tests.recorder.test_live import feed
from tests.recorder.test_recorder_service import LosingSite
from tests.recorder.test_recorder_service import room as room  # noqa: F401 (fixture)
from tests.recorder.test_verify import edit_manifest, record


def codes(report: Any) -> list[str]:
    return [problem["problem"] for problem in report.problems]


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    return SigningKey.load_or_create(tmp_path / "keys" / "signing.key")


def signed_recording(directory: Path, key: SigningKey) -> None:
    """A sealed, signed recording whose manifest names its directory (the ledger's key; the
    tracks keep the chain of "rec-1": the ledger does not read them)."""
    record(directory)
    if directory.name != "rec-1":
        edit_manifest(directory, lambda m: m.update(id=directory.name), reseal=True)
    write_manifest(directory, sign_manifest(read_manifest(directory), key))


def test_a_signed_recording_verifies_with_the_public_key_alone(
    tmp_path: Path, key: SigningKey
) -> None:
    directory = tmp_path / "rec-1"
    signed_recording(directory, key)
    public = PublicKey.load(public_key_path(tmp_path / "keys" / "signing.key"))
    assert verify_recording(directory, public).ok
    assert read_manifest(directory)["signature"]["key"] == public.id


def test_a_manifest_edited_and_resealed_after_signing_fails_its_signature(
    tmp_path: Path, key: SigningKey
) -> None:
    directory = tmp_path / "rec-1"
    signed_recording(directory, key)
    edit_manifest(directory, lambda m: m.update(room="elsewhere"), reseal=True)
    report = verify_recording(directory, key.public)
    assert codes(report) == ["signature"]
    assert "changed after it was signed" in report.problems[0]["detail"]


def test_a_manifest_re_signed_with_another_key_names_that_key(
    tmp_path: Path, key: SigningKey
) -> None:
    directory = tmp_path / "rec-1"
    record(directory)
    forger = SigningKey.load_or_create(tmp_path / "forger.key")
    write_manifest(directory, sign_manifest(read_manifest(directory), forger))
    report = verify_recording(directory, key.public)
    assert codes(report) == ["signature"]
    assert forger.public.id in report.problems[0]["detail"]


def test_an_unsigned_manifest_is_reported_when_a_key_is_given(
    tmp_path: Path, key: SigningKey
) -> None:
    record(tmp_path / "rec-1")
    assert codes(verify_recording(tmp_path / "rec-1", key.public)) == ["signature"]
    assert verify_recording(tmp_path / "rec-1").ok  # no key: hashes and chain only
    assert signature_problem({"signature": "text"}, key.public) == "the manifest is not signed"


def test_the_signature_does_not_change_the_seal(tmp_path: Path, key: SigningKey) -> None:
    record(tmp_path / "rec-1")
    sealed = read_manifest(tmp_path / "rec-1")
    signed = sign_manifest(sealed, key)
    assert seal(signed)["manifest_sha256"] == sealed["manifest_sha256"]


# -- the ledger ---------------------------------------------------------------------------


def ledgered(tmp_path: Path, key: SigningKey, ids: list[str]) -> tuple[Path, RecordingLedger]:
    root = tmp_path / "recordings"
    root.mkdir(exist_ok=True)
    ledger = RecordingLedger(tmp_path / LEDGER_FILE, key)
    for recording_id in ids:
        signed_recording(root / recording_id, key)
        ledger.sealed(read_manifest(root / recording_id), "stopped")
    return root, ledger


def ledger_problems(tmp_path: Path, key: SigningKey, **kwargs: Any) -> list[tuple[Any, str]]:
    report = verify_ledger(tmp_path / LEDGER_FILE, tmp_path / "recordings", key.public, **kwargs)
    return [(p.get("recording") or p.get("line"), p["problem"]) for p in report.problems]


def test_a_recording_deleted_by_hand_is_missing_one_deleted_through_the_server_is_not(
    tmp_path: Path, key: SigningKey
) -> None:
    root, ledger = ledgered(tmp_path, key, ["rec-a", "rec-b", "rec-c"])
    assert ledger_problems(tmp_path, key) == []
    shutil.rmtree(root / "rec-b")
    ledger.deleted("rec-c", "admin")
    shutil.rmtree(root / "rec-c")
    assert ledger_problems(tmp_path, key) == [("rec-b", "missing")]


def test_a_recording_that_appeared_and_one_still_recording(tmp_path: Path, key: SigningKey) -> None:
    root, _ = ledgered(tmp_path, key, ["rec-a"])
    (root / "rec-planted").mkdir()
    (root / "rec-live").mkdir()
    found = ledger_problems(tmp_path, key, recording_now={"rec-live"})
    assert found == [("rec-planted", "not-in-ledger")]


def test_an_older_manifest_put_back_is_found(tmp_path: Path, key: SigningKey) -> None:
    root, ledger = ledgered(tmp_path, key, ["rec-a"])
    older = (root / "rec-a" / "manifest.json").read_bytes()
    edit_manifest(root / "rec-a", lambda m: m.update(legal_hold=True), reseal=True)
    ledger.sealed(read_manifest(root / "rec-a"), "amended")
    (root / "rec-a" / "manifest.json").write_bytes(older)  # the hold "never happened"
    assert ledger_problems(tmp_path, key) == [("rec-a", "manifest-replaced")]


def test_a_ledger_line_removed_breaks_its_chain(tmp_path: Path, key: SigningKey) -> None:
    ledgered(tmp_path, key, ["rec-a", "rec-b", "rec-c"])
    path = tmp_path / LEDGER_FILE
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[2])  # and the recording with it
    shutil.rmtree(tmp_path / "recordings" / "rec-b")
    assert ledger_problems(tmp_path, key) == [(2, "seq"), (2, "chain")]


# -- the service signs what it seals ------------------------------------------------------


async def test_the_service_signs_stopped_and_amended_recordings_and_enters_them(
    tmp_path: Path,
    room: Room,  # noqa: F811
) -> None:
    site = LosingSite(room)
    recorder = RecorderService(tmp_path, room.bus, site)
    await recorder.start()
    try:
        recording = await recorder.start_recording("r", "alice")
        (live,) = recorder.live_recordings()
        feed(live, room, 60)
        site.flushed()
        manifest = await recorder.stop_room("r")
        directory = tmp_path / "recordings" / recording.id
        assert read_manifest(directory)["signature"] == manifest["signature"]
        assert (await recorder.verify(recording.id)).ok
        held = await recorder.set_legal_hold(recording.id, True)
        assert held["signature"] != manifest["signature"]  # signed again
        public = PublicKey.load(public_key_path(default_key_path(tmp_path)))
        assert verify_recording(directory, public).ok
        assert (await recorder.verify_ledger()).ok
        await recorder.set_legal_hold(recording.id, False)
        await recorder.delete(recording.id, by="admin user")
        report = await recorder.verify_ledger()
        assert report.ok and report.entries == 4  # sealed, amended twice, deleted
    finally:
        await recorder.stop()
    lines = (tmp_path / LEDGER_FILE).read_text().splitlines()
    assert '"by":"admin user"' in lines[-1] and '"event":"deleted"' in lines[-1]


async def test_recordings_present_when_the_ledger_is_made_are_adopted(
    tmp_path: Path,
    room: Room,  # noqa: F811
) -> None:
    site = LosingSite(room)
    recorder = RecorderService(tmp_path, room.bus, site)
    await recorder.start()
    recording = await recorder.start_recording("r", "alice")
    feed(recorder.live_recordings()[0], room, 20)
    site.flushed()
    await recorder.stop_room("r")
    await recorder.stop()
    # As before signing existed: no ledger, an unsigned manifest.
    (tmp_path / LEDGER_FILE).unlink()
    directory = tmp_path / "recordings" / recording.id
    unsigned = {k: v for k, v in read_manifest(directory).items() if k != "signature"}
    write_manifest(directory, unsigned)
    recorder = RecorderService(tmp_path, room.bus, LosingSite(room))
    await recorder.start()
    try:
        assert (await recorder.verify(recording.id)).ok
        assert (await recorder.verify_ledger()).ok
    finally:
        await recorder.stop()
    assert '"event":"adopted"' in (tmp_path / LEDGER_FILE).read_text()
