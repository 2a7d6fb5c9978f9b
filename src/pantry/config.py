"""Configuration: TOML file + ``PANTRY_*`` environment + command line -> frozen values.

Precedence: command line, then environment, then file, then defaults.  Every
problem in a file is collected and reported at once, one per line; unknown
keys are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import platformdirs

from pantry.errors import ConfigError
from pantry.tokens import is_valid_hash

DEFAULT_LISTEN = "127.0.0.1:7878"
DEFAULT_TTL_S = 300.0
REPOSITORY_TYPES = ("pypi", "npm")
DEFAULT_REPOSITORIES = {
    "pypi": "pypi",
    "npm": "npm",
}  # name -> type, served with discovered upstreams
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_Numbers = TypeVar("_Numbers", "UpstreamConfig", "StorageConfig")


@dataclass(frozen=True, slots=True)
class RepositoryConfig:
    """One repository: ``/NAME/`` served from ``upstream`` (None: discover it)."""

    name: str
    type: str
    upstream: str | None = None
    metadata_ttl_s: float = DEFAULT_TTL_S
    is_default: bool = False  # not in the config file: skipped if discovery finds nothing
    username: str | None = None  # HTTP Basic to the upstream (private registries)
    password: str | None = field(default=None, repr=False)  # read from password_env, never TOML


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """Deadlines and breaker settings shared by every upstream."""

    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    metadata_timeout_s: float = 10.0
    breaker_open_s: float = 30.0


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """Disk limits of the cache."""

    max_size_gb: float = 0.0  # 0: no limit; else least recently used entries are evicted
    min_free_gb: float = 1.0  # below this much free disk, new files pass through unstored
    gc_interval_s: float = 600.0  # how often the server collects garbage


@dataclass(frozen=True, slots=True)
class Config:
    """Everything ``pantry serve`` needs, validated."""

    host: str
    port: int
    data: Path
    allow: tuple[IPNetwork, ...]
    repositories: Mapping[str, RepositoryConfig]
    tokens: tuple[str, ...] = ()  # sha256 hashes of client tokens; empty: no token needed
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    public_url: str | None = None
    ca_file: Path | None = None  # CA bundle for upstream TLS instead of the system's
    idle_timeout_s: float = 15.0  # close client connections idle (or slow to send a request)
    workers: int = 1  # processes sharing the port and the store (pantry.workers)
    offline: bool = False
    config_file: Path | None = None


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv6 in brackets) -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"listen address {value!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def default_data_dir() -> Path:
    """The per-user data dir, from platformdirs."""
    return Path(platformdirs.user_data_dir("pantry", appauthor=False))


class _Problems(list[str]):
    """Collects every problem of a config file before failing."""

    def check_keys(self, where: str, table: Mapping[str, object], known: set[str]) -> None:
        for key in sorted(set(table) - known):
            self.append(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")

    def number(self, where: str, table: Mapping[str, object], key: str, default: float) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            self.append(f"{where}.{key}: must be a number >= 0, got {value!r}")
            return default
        return float(value)

    def url(self, where: str, value: object) -> str | None:
        if not isinstance(value, str):
            self.append(f"{where}: must be a URL string")
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.append(f"{where}: {value!r} is not an http(s) URL")
            return None
        return value if value.endswith("/") else value + "/"


def load(
    *,
    env: Mapping[str, str],
    config_file: str | None = None,
    listen: str | None = None,
    data: str | None = None,
    offline: bool = False,
    workers: int | None = None,
) -> Config:
    """Build the Config from a file (optional), the environment and CLI values."""
    path_text = config_file or env.get("PANTRY_CONFIG")
    path = Path(path_text).expanduser() if path_text else None
    raw = _read_toml(path) if path else {}
    problems = _Problems()
    problems.check_keys("config", raw, {"server", "upstream", "storage", "repositories"})
    server = _table(problems, raw, "server")
    problems.check_keys(
        "[server]",
        server,
        {"listen", "data", "allow", "tokens", "public_url", "offline", "idle_timeout_s", "workers"},
    )
    listen_text = listen or env.get("PANTRY_LISTEN") or str(server.get("listen", DEFAULT_LISTEN))
    try:
        host, port = parse_listen(listen_text)
    except ConfigError as exc:
        problems.append(str(exc))
        host, port = "127.0.0.1", 0
    data_text = data or env.get("PANTRY_DATA") or server.get("data")
    data_dir = Path(str(data_text)).expanduser() if data_text else default_data_dir()
    allow = _allow(problems, server.get("allow", ["127.0.0.0/8", "::1/128"]))
    tokens = _tokens(problems, server.get("tokens", []))
    public_url = server.get("public_url")
    if public_url is not None and problems.url("[server].public_url", public_url) is None:
        public_url = None
    upstream_table = _table(problems, raw, "upstream")
    ca_file = _ca_file(problems, upstream_table.pop("ca_file", None))
    upstream = _numbers(problems, "upstream", UpstreamConfig, upstream_table)
    storage = _numbers(problems, "storage", StorageConfig, _table(problems, raw, "storage"))
    repositories = _repositories(problems, _table(problems, raw, "repositories"), env)
    worker_count = _workers(problems, workers if workers is not None else server.get("workers", 1))
    if problems:
        where = f"{path}: " if path else ""
        raise ConfigError(where + "invalid configuration:\n  " + "\n  ".join(problems))
    return Config(
        host=host,
        port=port,
        data=data_dir,
        allow=allow,
        tokens=tokens,
        repositories=repositories,
        upstream=upstream,
        storage=storage,
        ca_file=ca_file,
        idle_timeout_s=problems.number("[server]", server, "idle_timeout_s", 15.0),
        workers=worker_count,
        public_url=str(public_url).rstrip("/") if public_url else None,
        offline=offline or bool(server.get("offline", False)),
        config_file=path,
    )


MAX_WORKERS = 64


def _workers(problems: _Problems, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WORKERS:
        problems.append(
            f"[server].workers: must be a whole number from 1 to {MAX_WORKERS}, got {value!r}"
        )
        return 1
    return value


def _read_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def _table(problems: _Problems, raw: Mapping[str, object], key: str) -> dict[str, object]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"[{key}] must be a table")
        return {}
    return value


def _ca_file(problems: _Problems, value: object) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not Path(value).expanduser().is_file():
        problems.append(f"[upstream].ca_file: {value!r} is not a readable file")
        return None
    return Path(value).expanduser()


def _tokens(problems: _Problems, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append('[server].tokens: must be a list of "sha256:<hex>" strings')
        return ()
    for item in value:
        if not is_valid_hash(item):
            # Never echo the value: it may be a token pasted by mistake.
            problems.append(
                '[server].tokens: an entry is not "sha256:<64 hex digits>" '
                "(store the hash `pantry token` prints, never the token itself)"
            )
    return tuple(v for v in value if is_valid_hash(v))


def _allow(problems: _Problems, value: object) -> tuple[IPNetwork, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append("[server].allow: must be a list of CIDR strings")
        return ()
    networks: list[IPNetwork] = []
    for item in value:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            problems.append(f"[server].allow: {item!r} is not an address or CIDR range")
    return tuple(networks)


def _numbers(
    problems: _Problems, name: str, kind: type[_Numbers], table: Mapping[str, object]
) -> _Numbers:
    """A table of non-negative numbers onto a dataclass of defaults."""
    defaults = kind()
    known = set(kind.__dataclass_fields__)
    problems.check_keys(f"[{name}]", table, known)
    values = {
        key: problems.number(f"[{name}]", table, key, getattr(defaults, key)) for key in known
    }
    return kind(**values)


def _repositories(
    problems: _Problems, table: Mapping[str, object], env: Mapping[str, str]
) -> dict[str, RepositoryConfig]:
    repos = {
        name: RepositoryConfig(name, kind, is_default=True)
        for name, kind in DEFAULT_REPOSITORIES.items()
    }
    for name, body in table.items():
        where = f"[repositories.{name}]"
        if not _NAME.match(name):
            problems.append(f"{where}: name must be lowercase letters, digits, '.', '_' or '-'")
            continue
        if not isinstance(body, dict):
            problems.append(f"{where}: must be a table")
            continue
        problems.check_keys(
            where, body, {"type", "upstream", "metadata_ttl_s", "username", "password_env"}
        )
        kind = body.get("type", DEFAULT_REPOSITORIES.get(name))
        if kind not in REPOSITORY_TYPES:
            problems.append(f"{where}.type: must be one of {', '.join(REPOSITORY_TYPES)}")
            continue
        upstream = (
            problems.url(f"{where}.upstream", body["upstream"]) if "upstream" in body else None
        )
        if upstream is None and name not in DEFAULT_REPOSITORIES:
            problems.append(f"{where}: needs an upstream URL")
        ttl = problems.number(where, body, "metadata_ttl_s", DEFAULT_TTL_S)
        username, password = _credentials(problems, where, body, env)
        repos[name] = RepositoryConfig(
            name, str(kind), upstream, ttl, username=username, password=password
        )
    return repos


def _credentials(
    problems: _Problems, where: str, body: Mapping[str, object], env: Mapping[str, str]
) -> tuple[str | None, str | None]:
    """Upstream credentials: the user name in the TOML, the secret in an env var it names."""
    username, variable = body.get("username"), body.get("password_env")
    if username is None and variable is None:
        return None, None
    if not isinstance(username, str) or not isinstance(variable, str):
        problems.append(f"{where}: username and password_env go together, both strings")
        return None, None
    if variable not in env:
        problems.append(f"{where}.password_env: environment variable {variable} is not set")
        return None, None
    return username, env[variable]
