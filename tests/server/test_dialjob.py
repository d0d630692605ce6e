"""A group dial job (mediacore/server/dialjob.py) over scripted calls: the member states it goes
through, its retries, members already in the room, cancelling, and its events in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mediacore.server.dialjob import AttemptRefused, DialJob, JobPorts, Presence
from mediacore.server.groups import Group
from mediacore.server.parties import DialTarget, PartyError
from sip.dialout import DialProgress

Event = dict[str, Any]


class ScriptedCalls:
    """Each party answers its attempts as scripted: ("ringing", then an outcome) per attempt,
    "refuse:<reason>" for a call that cannot start, "hold" for one that rings until removed."""

    def __init__(self, scripts: dict[str, list[str]]) -> None:
        self.scripts = scripts
        self.events: list[Event] = []
        self.present: dict[str, Presence] = {}
        self.placed: list[str] = []
        self.removed: list[str] = []
        self.held: dict[str, DialProgress] = {}
        self._numbers = iter(range(1, 1000))

    def ports(self, limit: int = 10) -> JobPorts:
        return JobPorts(self.place, self.find, self.remove, self.publish, asyncio.Semaphore(limit))

    async def place(self, target: DialTarget, ring: float | None, progress: DialProgress) -> str:
        self.placed.append(target.party)
        outcome = self.scripts[target.party].pop(0)
        if outcome.startswith("refuse:"):
            raise AttemptRefused(outcome.split(":", 1)[1], 404)
        participant = f"p{next(self._numbers)}"
        loop = asyncio.get_running_loop()
        loop.call_soon(progress, "ringing", 180)
        if outcome == "hold":
            self.held[participant] = progress
        else:
            loop.call_later(0.01, progress, outcome, 200 if outcome == "answered" else 486)
        return participant

    def find(self, target: DialTarget) -> Presence | None:
        return self.present.get(target.party)

    async def remove(self, participant: str) -> None:
        self.removed.append(participant)
        self.held.pop(participant)("cancelled", None)

    def publish(self, kind: str, **data: Any) -> None:
        self.events.append({"type": kind, **data})

    def states(self, party: str) -> list[str]:
        return [e["state"] for e in self.events if e.get("party") == party]


def target(party: str) -> DialTarget:
    return DialTarget(party, "user", f"sip:{party}@example", party, keys=frozenset({party}))


def job(calls: ScriptedCalls, *parties: str, retries: int = 2, bad: str = "") -> DialJob:
    targets: list[DialTarget | PartyError] = [target(p) for p in parties]
    members = parties
    if bad:
        targets.append(PartyError("unknown-user", "gone"))
        members += (bad,)
    group = Group("plan", members, retries=retries, retry_delay_s=0.01)
    return DialJob("dj-1", "room", group, targets, calls.ports(), by="tester")


async def test_every_member_is_called_at_once_and_each_state_is_an_event() -> None:
    refused = "refuse:not-registered"
    calls = ScriptedCalls(
        {
            "alice": ["answered"],
            "bob": ["busy", "busy", "answered"],
            "carol": ["no-answer", "no-answer"],
            "dave": [refused, refused],
        }
    )
    dial = job(calls, "alice", "bob", "carol", "dave", retries=1, bad="eve")
    dial.start()
    assert [m["state"] for m in dial.to_json()["members"]] == ["dialling"] * 5
    await dial.wait()
    assert calls.states("alice") == ["dialling", "ringing", "answered"]
    # one retry only: bob's second busy is final
    assert calls.states("bob") == [
        "dialling",
        "ringing",
        "busy",
        "retrying",
        "dialling",
        "ringing",
        "busy",
    ]
    assert calls.states("carol")[-1] == "no-answer" and calls.placed.count("carol") == 2
    assert calls.states("dave") == ["dialling", "failed", "retrying", "dialling", "failed"]
    assert calls.states("eve") == ["failed"]  # names nothing: never called, never retried
    answer = dial.to_json()
    assert answer["state"] == "finished"
    assert answer["summary"] == {"answered": 1, "busy": 1, "no-answer": 1, "failed": 2}
    dave = next(m for m in answer["members"] if m["party"] == "dave")
    assert dave["reason"] == "not-registered" and dave["attempt"] == 2
    assert [e["type"] for e in calls.events][0] == "dial.started"
    finished = calls.events[-1]
    assert finished["type"] == "dial.finished" and finished["summary"] == answer["summary"]
    assert all(e["job"] == "dj-1" for e in calls.events)


async def test_a_busy_member_answers_on_a_retry() -> None:
    calls = ScriptedCalls({"bob": ["busy", "answered"]})
    dial = job(calls, "bob")
    dial.start()
    await dial.wait()
    (bob,) = dial.to_json()["members"]
    assert bob["state"] == "answered" and bob["attempt"] == 2 and bob["reason"] is None
    progress = [e for e in calls.events if e["type"] == "dial.progress"]
    assert [(e["state"], e["attempt"]) for e in progress] == [
        ("dialling", 1),
        ("ringing", 1),
        ("busy", 1),
        ("retrying", 1),
        ("dialling", 2),
        ("ringing", 2),
        ("answered", 2),
    ]
    assert progress[-1]["participant"] == "p2"


async def test_members_already_in_the_room_are_not_called_again() -> None:
    calls = ScriptedCalls({"alice": [], "bob": ["answered"]})
    calls.present["alice"] = Presence("p-alice", answered=True)
    dial = job(calls, "alice", "bob")
    dial.start()
    await dial.wait()
    assert calls.placed == ["bob"]
    alice = dial.to_json()["members"][0]
    assert alice == {
        "party": "alice",
        "state": "answered",
        "attempt": 0,
        "participant": "p-alice",
        "reason": None,
        "status": None,
        "already": True,
    }


async def test_a_member_someone_else_is_calling_is_waited_for_not_called_twice() -> None:
    calls = ScriptedCalls({"alice": []})
    calls.present["alice"] = Presence("p-other", answered=False)
    dial = job(calls, "alice")
    dial.start()
    await asyncio.sleep(0.1)
    assert dial.to_json()["state"] == "running" and calls.placed == []
    calls.present["alice"] = Presence("p-other", answered=True)
    await asyncio.wait_for(dial.wait(), 2)
    assert dial.to_json()["members"][0]["participant"] == "p-other"


async def test_cancel_hangs_up_what_rings_stops_retries_and_keeps_the_answered() -> None:
    calls = ScriptedCalls({"alice": ["answered"], "bob": ["hold"], "carol": ["busy"]})
    dial = job(calls, "alice", "bob", "carol", retries=5)
    dial.group = Group("plan", ("alice", "bob", "carol"), retries=5, retry_delay_s=30)
    dial.start()
    await asyncio.sleep(0.1)  # alice answered, bob rings, carol waits to retry
    states = {m["party"]: m["state"] for m in dial.to_json()["members"]}
    assert states == {"alice": "answered", "bob": "ringing", "carol": "retrying"}
    await asyncio.wait_for(dial.cancel(), 2)
    assert calls.removed == ["p2"]  # bob's ringing call, hung up
    answer = dial.to_json()
    assert answer["state"] == "cancelled"
    assert [m["state"] for m in answer["members"]] == ["answered", "cancelled", "cancelled"]
    assert calls.events[-1]["type"] == "dial.finished" and calls.events[-1]["cancelled"]


async def test_calls_at_once_are_bounded() -> None:
    parties = [f"u{i}" for i in range(6)]
    calls = ScriptedCalls({p: ["hold"] for p in parties})
    group = Group("plan", tuple(parties), retries=0)
    dial = DialJob("dj-2", "room", group, [target(p) for p in parties], calls.ports(limit=4))
    dial.start()
    await asyncio.sleep(0.1)
    assert len(calls.placed) == 4
    await asyncio.wait_for(dial.cancel(), 2)
    assert {m["state"] for m in dial.to_json()["members"]} == {"cancelled"}


@pytest.fixture(autouse=True)
def _fast_presence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mediacore.server.dialjob.PRESENCE_POLL", 0.02)


async def test_cancelling_a_finished_job_changes_nothing() -> None:
    calls = ScriptedCalls({"alice": ["answered"]})
    dial = job(calls, "alice")
    dial.start()
    await dial.wait()
    before = len(calls.events)
    await dial.cancel()
    assert dial.to_json()["state"] == "finished" and len(calls.events) == before
