"""Server configuration: embedded defaults, a TOML file, then MEDIACORE_<SECTION>_<KEY> overrides.

Precedence, lowest first: defaults here, the file, the environment, command-line options."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mediacore.room import RoomSettings

ROLES = ("admin", "commander", "operator", "expert", "reviewer")


class ConfigError(ValueError):
    """A configuration file or override that cannot be used; the message says which key."""


@dataclass(frozen=True, slots=True)
class ServerSection:
    host: str = "0.0.0.0"
    http_port: int = 8080
    data_dir: str = "./var"
    log_level: str = "info"
    log_format: str = "json"  # or "text"
    access_log: bool = False


@dataclass(frozen=True, slots=True)
class SipSection:
    port: int = 5060


@dataclass(frozen=True, slots=True)
class RtpSection:
    port_min: int = 20000
    port_max: int = 29999
    timeout: float = 30.0  # seconds without RTP before a leg is removed
    public_address: str = ""  # written into SDP answers; empty: the address the client used


@dataclass(frozen=True, slots=True)
class TokenEntry:
    token: str
    role: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerSection = field(default_factory=ServerSection)
    sip: SipSection = field(default_factory=SipSection)
    rtp: RtpSection = field(default_factory=RtpSection)
    rooms: tuple[RoomSettings, ...] = (RoomSettings("command"),)
    tokens: tuple[TokenEntry, ...] = ()

    @property
    def data_dir(self) -> Path:
        return Path(self.server.data_dir)


_SECTIONS = {"server": ServerSection, "sip": SipSection, "rtp": RtpSection}


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Config:
    """Build the configuration; raises ConfigError naming the bad key or file."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config file {path} is not valid TOML: {error}") from error
    environ = dict(os.environ) if environ is None else environ
    config = Config()
    for name, section_type in _SECTIONS.items():
        values = dict(data.get(name, {}))
        if not isinstance(values, dict):
            raise ConfigError(f"[{name}] must be a table")
        section = _section(name, section_type, values, environ)
        config = replace(config, **{name: section})
    if "rooms" in data:
        config = replace(config, rooms=tuple(_room(entry) for entry in data["rooms"]))
    tokens = [_token(entry) for entry in data.get("auth", {}).get("tokens", [])]
    admin = environ.get("MEDIACORE_ADMIN_TOKEN")
    if admin:
        tokens.append(TokenEntry(admin, "admin", "admin"))
    return replace(config, tokens=tuple(tokens))


def _section(name: str, section_type: type, values: dict[str, Any], environ: dict[str, str]) -> Any:
    defaults = section_type()
    known = {f.name for f in fields(section_type)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [{name}]: {', '.join(sorted(unknown))}")
    for key in sorted(known):
        override = environ.get(f"MEDIACORE_{name.upper()}_{key.upper()}")
        if override is not None:
            values[key] = override
        if key in values:
            values[key] = _coerce(f"{name}.{key}", values[key], type(getattr(defaults, key)))
    return section_type(**values)


def _coerce(key: str, value: Any, kind: type) -> Any:
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("1", "true", "yes")
            return bool(value)
        return kind(value)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{key}: expected {kind.__name__}, got {value!r}") from error


def _room(entry: Any) -> RoomSettings:
    if not isinstance(entry, dict) or "name" not in entry:
        raise ConfigError("every [[rooms]] table needs a name")
    try:
        return RoomSettings(**entry).validate()
    except TypeError as error:
        raise ConfigError(f"[[rooms]] {entry.get('name')}: {error}") from error
    except ValueError as error:
        raise ConfigError(f"[[rooms]] {entry.get('name')}: {error}") from error


def _token(entry: Any) -> TokenEntry:
    if not isinstance(entry, dict) or not entry.get("token") or entry.get("role") not in ROLES:
        raise ConfigError(f"[[auth.tokens]] needs a token and a role among {', '.join(ROLES)}")
    return TokenEntry(str(entry["token"]), str(entry["role"]), str(entry.get("name", "")))
