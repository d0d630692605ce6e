"""A fuzz target of `bench fuzz`: a parser's entry points, seeds and the errors it may raise,
and how targets that take a stream of pieces read one fuzz input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Check = Callable[[bytes], None]


@dataclass(frozen=True)
class FuzzTarget:
    name: str
    title: str  # what is fuzzed, for the report
    allowed: str  # the errors the entry points may raise, for the report
    packages: tuple[str, ...]  # top-level packages instrumented for coverage
    make: Callable[[], tuple[Check, list[bytes]]]
    max_len: int = 4096
    # Tokens libFuzzer splices into inputs (its -dict): words of the grammar and the values
    # that hurt, which byte mutations alone rarely spell.
    dictionary: tuple[bytes, ...] = ()
    # For JSON inputs (one document a line after this many bytes): also mutate the JSON as
    # JSON (bench/fuzzjson.py). None: bytes only.
    json_prefix: int | None = None


JSON_TOKENS = (
    b'"\\ud800"',
    b'"\\udfff"',
    b'"\\u0000"',
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999",
    b"-0",
    b"null",
    b"true",
    b"[[[[[[[[",
    b'{"":',
)


def chunks(data: bytes) -> list[bytes]:
    """`data` cut into pieces, each prefixed by its one-byte length: how a target that takes a
    stream of datagrams reads one fuzz input."""
    pieces = []
    at = 0
    while at < len(data):
        size = data[at]
        pieces.append(data[at + 1 : at + 1 + size])
        at += 1 + size
    return pieces


def as_chunks(pieces: list[bytes]) -> bytes:
    """The inverse of `chunks` for seeds: pieces of at most 255 bytes."""
    return b"".join(bytes((len(piece),)) + piece for piece in pieces)
