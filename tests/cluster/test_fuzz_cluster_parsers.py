"""What nodes read from each other and from Redis, fuzzed: a forwarding mark from any caller,
a node's announcement and a call record as Redis holds them (anyone who can write to Redis,
or an older node, may leave anything there)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mediacore.server import clustertrust
from mediacore.server.callrecord import CallRecord, RecordError, parse_peer
from mediacore.server.clusterview import NodeRecord

SECRET = b"s" * 32
NOW_MS = 1_800_000_000_000
texts = st.text(max_size=80)
fields = st.dictionaries(st.sampled_from([*NodeRecord.__dataclass_fields__, "x"]), texts)


@settings(max_examples=300)
@given(value=texts, method=texts, target=texts)
@example(value="n;²;ab", method="GET", target="/")  # a digit int() refuses
@example(value="n;1800000000000;é", method="GET", target="/")  # a non-ASCII mac
def test_a_forwarding_mark_from_anyone_is_refused_or_verified_never_raises(
    value: str, method: str, target: str
) -> None:
    assert clustertrust.verify(SECRET, value, method, target, NOW_MS) is None


@settings(max_examples=100)
@given(node=st.text(alphabet="abcdefghij-", min_size=1, max_size=12), target=texts)
def test_a_genuine_mark_verifies_and_any_change_to_it_does_not(node: str, target: str) -> None:
    mark = clustertrust.mark(SECRET, node, NOW_MS, "GET", target)
    assert clustertrust.verify(SECRET, mark, "get", target, NOW_MS) == node
    assert clustertrust.verify(SECRET, mark, "POST", target, NOW_MS) is None
    assert clustertrust.verify(SECRET, mark + "0", "GET", target, NOW_MS) is None


@settings(max_examples=300)
@given(announcement=fields)
@example(announcement={"rooms": "inf", "load": "nan", "cores": "-inf"})
def test_any_announcement_reads_as_a_record(announcement: dict[str, str]) -> None:
    record = NodeRecord.from_hash("n1", announcement)
    assert 0.0 <= record.load <= 1.0 and record.cores >= 1


call_fields = st.dictionaries(
    st.sampled_from([*CallRecord.__dataclass_fields__, "x"]), texts, max_size=30
)


@settings(max_examples=300)
@given(stored=call_fields)
def test_any_stored_call_reads_as_a_record_or_a_record_error(stored: dict[str, str]) -> None:
    try:
        CallRecord.from_hash(stored)
    except RecordError:
        pass


@settings(max_examples=300)
@given(text=texts)
def test_any_peer_text_reads_as_a_peer_or_a_value_error(text: str) -> None:
    try:
        parse_peer(text)
    except ValueError:
        pass
