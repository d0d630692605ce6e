"""Plans (预案): named groups of parties that one request dials into a room (groupdials.py).

Groups come from the config (`[[dispatch.groups]]`) or from the API (`PUT /groups/{name}`),
kept in `<data_dir>/groups.json` (replaced atomically). A name belongs to one kind: the API
cannot change or delete a configured group (edit the config for those), as with accounts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediacore.server.joinlinks import replace_private
from mediacore.server.parties import PartyBook, PartyError

GROUPS_FILE = "groups.json"
CONFIG, API = "config", "api"  # where a group comes from
# Letters of any script (plans are often named in Chinese), digits, space, "_", ".", "-".
GROUP_NAME = re.compile(r"[\w][\w .-]{0,63}")
MAX_MEMBERS = 200
MAX_GROUPS = 1000
MAX_RETRIES = 10
DEFAULT_RETRIES = 2
DEFAULT_RETRY_DELAY = 10.0  # seconds
MAX_RETRY_DELAY = 600.0
RING_TIMEOUTS = (1.0, 600.0)  # like [sip] ring_timeout
KEYS = frozenset({"members", "retries", "retry_delay_s", "ring_timeout_s"})


class GroupError(ValueError):
    """A group that cannot be made or changed; `status` and `code` are for the API."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    members: tuple[str, ...]
    retries: int = DEFAULT_RETRIES  # more attempts after a busy, unanswered or failed one
    retry_delay_s: float = DEFAULT_RETRY_DELAY
    ring_timeout_s: float | None = None  # None: [sip] ring_timeout
    source: str = API  # CONFIG or API

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "members": list(self.members),
            "retries": self.retries,
            "retry_delay_s": self.retry_delay_s,
            "ring_timeout_s": self.ring_timeout_s,
            "source": self.source,
        }


def make_group(name: str, fields: Mapping[str, Any], book: PartyBook | None, source: str) -> Group:
    """A group from its name and `fields` (members, retries, retry_delay_s, ring_timeout_s),
    every member checked against `book` (None: members are only checked to be strings).
    Raises GroupError (400) naming what is wrong."""
    if not isinstance(name, str) or not GROUP_NAME.fullmatch(name):
        detail = f"bad group name {name!r}: 1-64 letters, digits, ' ', '_', '.', '-'"
        raise GroupError(400, "bad-group-name", detail + ", starting with a letter or digit")
    unknown = set(fields) - KEYS
    if unknown:
        raise GroupError(400, "bad-group", f"unknown key(s): {', '.join(sorted(unknown))}")
    members = fields.get("members")
    if not isinstance(members, list | tuple) or not 0 < len(members) <= MAX_MEMBERS:
        raise GroupError(400, "bad-members", f"members: a list of 1-{MAX_MEMBERS} parties")
    for member in members:
        if not isinstance(member, str):
            raise GroupError(400, "bad-members", f"member {member!r}: not a string")
        try:
            if book is not None:
                book.target(member)
        except PartyError as error:
            raise GroupError(400, "bad-members", f"member {member!r}: {error}") from None
    if len(set(members)) != len(members):
        raise GroupError(400, "bad-members", "a party is listed twice")
    retries = fields.get("retries", DEFAULT_RETRIES)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise GroupError(400, "bad-group", f"retries: a whole number 0-{MAX_RETRIES}")
    delay = _seconds(fields, "retry_delay_s", DEFAULT_RETRY_DELAY, (0.0, MAX_RETRY_DELAY))
    ring = fields.get("ring_timeout_s")
    ring_timeout = None if ring is None else _seconds(fields, "ring_timeout_s", 0, RING_TIMEOUTS)
    return Group(name, tuple(members), retries, delay, ring_timeout, source)


def _seconds(
    fields: Mapping[str, Any], key: str, default: float, bounds: tuple[float, float]
) -> float:
    value = fields.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GroupError(400, "bad-group", f"{key}: a number of seconds")
    if not bounds[0] <= value <= bounds[1]:
        raise GroupError(400, "bad-group", f"{key}: {bounds[0]:g}-{bounds[1]:g} seconds")
    return float(value)


def configured_groups(tables: Any, book: PartyBook) -> tuple[Group, ...]:
    """`[[dispatch.groups]]` tables (`name`, `members`, optional `retries`, `retry_delay_s`,
    `ring_timeout_s`) as groups. Raises GroupError naming the bad one."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise GroupError(400, "bad-group", "[[dispatch.groups]] must be an array of tables")
    groups = []
    for table in tables:
        name = table.get("name")
        fields = {key: value for key, value in table.items() if key != "name"}
        try:
            groups.append(make_group(name, fields, book, CONFIG))
        except GroupError as error:
            raise GroupError(400, error.code, f"[[dispatch.groups]] {name!r}: {error}") from None
    if len({group.name for group in groups}) != len(groups):
        raise GroupError(400, "bad-group", "[[dispatch.groups]] names must be unique")
    return tuple(groups)


class Groups:
    def __init__(self, data_dir: Path, configured: Iterable[Group], book: PartyBook) -> None:
        """Raises ValueError when groups.json exists but cannot be read as groups."""
        self._path = data_dir / GROUPS_FILE
        self._configured = {group.name: group for group in configured}
        self._book = book
        self._stored = self._load()

    def get(self, name: str) -> Group | None:
        return self._configured.get(name) or self._stored.get(name)

    def all(self) -> list[Group]:
        names = sorted({*self._configured, *self._stored})
        return [group for group in map(self.get, names) if group is not None]

    def put(self, name: str, fields: Mapping[str, Any]) -> tuple[Group, bool]:
        """Add or replace an API group; answers it and whether it is new. Raises GroupError
        (400 bad fields or members, 409 a configured group, 507 too many groups)."""
        self._writable(name)
        group = make_group(name, fields, self._book, API)
        new = name not in self._stored
        if new and len(self._stored) >= MAX_GROUPS:
            raise GroupError(507, "too-many-groups", f"at most {MAX_GROUPS} groups")
        self._save({**self._stored, name: group})
        return group, new

    def delete(self, name: str) -> None:
        """Raises GroupError (404 unknown, 409 configured)."""
        self._writable(name)
        if name not in self._stored:
            raise GroupError(404, "group-not-found", f"no group named {name!r}")
        self._save({key: group for key, group in self._stored.items() if key != name})

    def _writable(self, name: str) -> None:
        if name in self._configured:
            raise GroupError(
                409, "configured-group", f"{name!r} is a [[dispatch.groups]] group: edit the config"
            )

    def _save(self, stored: dict[str, Group]) -> None:
        entries = [
            {key: value for key, value in group.to_json().items() if key != "source"}
            for group in stored.values()
        ]
        text = json.dumps({"version": 1, "groups": entries}, indent=1, ensure_ascii=False)
        replace_private(self._path, text + "\n")
        self._stored = stored  # only once it is on disk

    def _load(self) -> dict[str, Group]:
        if not self._path.exists():
            return {}
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            stored = {}
            for entry in data["groups"]:
                fields = {key: value for key, value in entry.items() if key != "name"}
                # Not checked against today's config: a member it no longer knows fails
                # when dialled, rather than the server failing to start.
                stored[entry["name"]] = make_group(entry["name"], fields, None, API)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"{self._path} cannot be read as groups: {error}") from None
        return stored
