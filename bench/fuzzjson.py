"""A JSON-aware mutation for the fuzz targets that read JSON (signalling, API bodies).

libFuzzer's byte mutations mostly break JSON's syntax, and the fuzzer then only ever meets the
parser's first refusal. Half of the time this mutation parses the input (after `prefix` bytes,
one JSON document a line) and swaps one value, key or whole document for a hostile one: a lone
surrogate, NaN, a huge number, deep nesting, a wrong type. Coverage still decides what is kept.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

HOSTILE: list[Any] = [
    "\ud800",
    "x\udfff",
    "\x00",
    "",
    "a" * 70_000,
    float("nan"),
    float("inf"),
    -0.0,
    10**40,
    -(2**63),
    2**64,
    1e308,
    True,
    None,
    [],
    {},
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
    {"": {"": {"": None}}},
]


def json_mutator(prefix: int, tokens: tuple[bytes, ...]) -> Callable[[bytes, int, int], bytes]:
    """A libFuzzer custom mutator (atheris.Setup's custom_mutator). The other half of the
    inputs get byte mutations (atheris 3.0's Mutate() cannot be called from a custom mutator:
    it says Fuzz() was not called), with `tokens` spliced in as libFuzzer's dictionary would."""

    def mutate(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.5:
            return _mutate_bytes(data, rng, tokens)[:max_size]
        head, lines = data[:prefix], data[prefix:].split(b"\n")
        at = rng.randrange(len(lines))
        try:
            document = json.loads(lines[at])
        except (ValueError, RecursionError):
            return _mutate_bytes(data, rng, tokens)[:max_size]
        lines[at] = json.dumps(_swap(document, rng), allow_nan=True).encode()
        return (head + b"\n".join(lines))[:max_size]

    return mutate


def _mutate_bytes(data: bytes, rng: random.Random, tokens: tuple[bytes, ...]) -> bytes:
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(data))
        kind = rng.randrange(5)
        if kind == 0 and data:
            at = min(at, len(data) - 1)
            data = data[:at] + bytes((data[at] ^ 1 << rng.randrange(8),)) + data[at + 1 :]
        elif kind == 1:
            data = data[:at] + rng.randbytes(rng.randint(1, 4)) + data[at:]
        elif kind == 2:
            data = data[:at] + data[at + rng.randint(1, 16) :]
        elif kind == 3 and tokens:
            data = data[:at] + rng.choice(tokens) + data[at:]
        elif data:  # copy a piece elsewhere, sometimes many times (deep nesting)
            start = rng.randrange(len(data))
            piece = data[start : start + rng.randint(1, 64)] * rng.choice((1, 1, 1, 50, 2000))
            data = data[:at] + piece + data[at:]
    return data


def _swap(value: Any, rng: random.Random) -> Any:
    """`value` with one part, chosen at random, replaced by a hostile value."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        if rng.random() < 0.15:
            changed = dict(value)
            changed[rng.choice(["\ud800", "", key * 3, "__proto__"])] = changed.pop(key)
            return changed
        return {**value, key: _swap(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.8:
        index = rng.randrange(len(value))
        return [*value[:index], _swap(value[index], rng), *value[index + 1 :]]
    if isinstance(value, str) and value and rng.random() < 0.5:
        at = rng.randrange(len(value) + 1)
        return value[:at] + rng.choice(["\ud800", "\udfff", "\x00", "\u2028"]) + value[at:]
    return rng.choice(HOSTILE)
