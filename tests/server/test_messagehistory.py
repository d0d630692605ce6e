"""The history of texts in SQLite: rows per recipient, statuses updated in order, searches by
party, room and time, bounded results, and a party name that cannot be a LIKE pattern."""

from __future__ import annotations

from pathlib import Path

from mediacore.server.messagehistory import MAX_RESULTS, MessageHistory, MessageRecord

T0 = 1_700_000_000.0


def record(message_id: str, sender: str, recipient: str, at: float, *, room: str | None = None,
           direction: str = "in", status: str = "received") -> MessageRecord:  # fmt: skip
    return MessageRecord(message_id, direction, "room" if room else "user", sender, "", recipient,
                         room, f"text {message_id}", status, at)  # fmt: skip


async def test_rows_come_back_oldest_first_with_their_latest_status(tmp_path: Path) -> None:
    history = MessageHistory(tmp_path)
    history.add(record("m1", "sip:alice@h:5060", "sip:bob@h:5060", T0))
    history.add(record("m2", "dispatch", "bob", T0 + 1, direction="out", status="sending"))
    history.update("m2", "bob", "sent", None, "")
    history.update("m2", "bob", "delivered", 200, "OK")
    rows = await history.search()
    assert [(r["id"], r["status"], r["code"]) for r in rows] == [
        ("m1", "received", None),
        ("m2", "delivered", 200),
    ]
    assert rows[0]["from"] == "sip:alice@h:5060" and rows[0]["at"].startswith("2023-11-14T")
    history.close()


async def test_a_party_is_an_address_or_an_accounts_name(tmp_path: Path) -> None:
    history = MessageHistory(tmp_path)
    history.add(record("m1", "sip:alice@h:5060", "sip:bob@h:5060", T0))
    history.add(record("m2", "sips:bob@h", "dispatch", T0 + 1))
    history.add(record("m3", "dispatch", "carol", T0 + 2))
    history.add(record("m4", "sip:bobby@h", "dispatch", T0 + 3))
    assert [r["id"] for r in await history.search(party="bob")] == ["m1", "m2"]
    assert [r["id"] for r in await history.search(party="sip:bob@h:5060")] == ["m1"]
    assert [r["id"] for r in await history.search(party="b%")] == []  # not a pattern
    assert [r["id"] for r in await history.search(party="carol")] == ["m3"]
    history.close()


async def test_room_since_and_limit_narrow_the_search(tmp_path: Path) -> None:
    history = MessageHistory(tmp_path)
    for n in range(10):
        history.add(record(f"m{n}", "sip:a@h", "r1" if n % 2 else "r2", T0 + n,
                           room="r1" if n % 2 else "r2"))  # fmt: skip
    assert [r["id"] for r in await history.search(room="r1")] == ["m1", "m3", "m5", "m7", "m9"]
    assert [r["id"] for r in await history.search(room="r1", since=T0 + 5)] == ["m5", "m7", "m9"]
    assert [r["id"] for r in await history.search(limit=3)] == ["m7", "m8", "m9"]  # the newest
    assert len(await history.search(limit=10 * MAX_RESULTS)) == 10
    history.close()


async def test_the_history_outlives_the_server(tmp_path: Path) -> None:
    first = MessageHistory(tmp_path)
    first.add(record("m1", "sip:a@h", "dispatch", T0))
    first.close()
    again = MessageHistory(tmp_path)
    assert [r["id"] for r in await again.search()] == ["m1"]
    again.close()


def test_what_comes_after_closing_is_dropped_not_raised(tmp_path: Path) -> None:
    history = MessageHistory(tmp_path)
    history.close()
    history.add(record("m1", "sip:a@h", "dispatch", T0))  # a delivery ending at shutdown
    history.update("m1", "dispatch", "failed", None, "server-stopping")
