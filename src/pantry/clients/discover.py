"""Finding the upstream registry a user's clients already use, so pantry never hard-codes one.

For PyPI the candidates are, in order: ``PIP_INDEX_URL``, pip's configured
``global.index-url`` and pip's built-in default index, read from the installed pip at run
time.  For npm: ``npm_config_registry`` / ``NPM_CONFIG_REGISTRY`` and ``npm config get
registry``; npm already folds its built-in default into the latter.

A candidate that points at pantry itself (a client set up by ``pantry setup``) would make
pantry proxy itself, so it is skipped and the skip is reported in ``Discovered.note``.
URLs in notes and errors have any password masked: ``pantry setup --token`` puts the
token in pip's index URL.
The first usable candidate is remembered in ``<data>/upstreams.json``; when none is
usable, the remembered one is used.  Nothing at all is a ``ConfigError``.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pantry.clients.atomic import replace_file
from pantry.clients.origin import Origin, redact
from pantry.errors import ConfigError

logger = logging.getLogger(__name__)

REMEMBERED_FILE = "upstreams.json"
CONFIG_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Discovered:
    """The upstream chosen for a repository, and how it was found."""

    url: str  # upstream index URL, always ending in "/"
    source: str  # where it came from, for humans: "PIP_INDEX_URL", "pip config ...", ...
    note: str | None  # set when a candidate pointing at pantry itself was skipped


@dataclass(frozen=True, slots=True)
class _Candidate:
    url: str
    source: str


@dataclass(frozen=True, slots=True)
class _LazyCandidate:
    read: Callable[[], str | None]
    source: str


@dataclass(slots=True)
class _Skipped:
    """Candidates passed over, for the note and the error message."""

    loops: list[str]
    invalid: list[str]


def discover_pypi_upstream(
    *,
    env: Mapping[str, str],
    data_dir: Path,
    own_urls: Sequence[str],
    pip_config_value: str | None,
    pip_default: Callable[[], str | None] | None = None,
) -> Discovered:
    """The PyPI upstream: ``PIP_INDEX_URL``, then pip's config value, then pip's default.

    ``pip_config_value`` is what ``read_pip_config_index_url`` returned; ``pip_default``
    reads pip's built-in default index (``read_pip_builtin_index`` unless given).
    """
    read_default = read_pip_builtin_index if pip_default is None else pip_default
    candidates = [
        _Candidate(env.get("PIP_INDEX_URL", ""), "PIP_INDEX_URL"),
        _Candidate(pip_config_value or "", "pip config global.index-url"),
    ]
    # Read pip's default only when needed: importing pip's internals is not free.
    lazy_default = _LazyCandidate(read_default, "pip's built-in default index")
    return _discover(
        key="pypi",
        client="pip",
        candidates=[*candidates, lazy_default],
        data_dir=data_dir,
        own_urls=own_urls,
    )


def discover_npm_upstream(
    *,
    env: Mapping[str, str],
    data_dir: Path,
    own_urls: Sequence[str],
    npm_config_value: str | None,
) -> Discovered:
    """The npm upstream: ``npm_config_registry`` (either case), then npm's configured registry."""
    candidates: list[_Candidate | _LazyCandidate] = [
        _Candidate(env.get(name, ""), name)
        for name in ("npm_config_registry", "NPM_CONFIG_REGISTRY")
    ]
    candidates.append(_Candidate(npm_config_value or "", "npm config registry"))
    return _discover(
        key="npm", client="npm", candidates=candidates, data_dir=data_dir, own_urls=own_urls
    )


def read_pip_builtin_index() -> str | None:
    """pip's built-in default index URL, or None when pip is not importable."""
    try:
        from pip._internal.models.index import PyPI  # noqa: PLC0415 - optional, slow import
    except ImportError:
        return None
    url = getattr(PyPI, "simple_url", None)
    return url if isinstance(url, str) else None


def read_pip_config_index_url() -> str | None:
    """``pip config get global.index-url`` for the running interpreter; None on any failure."""
    return _run_config_command([sys.executable, "-m", "pip", "config", "get", "global.index-url"])


def read_npm_config_registry() -> str | None:
    """``npm config get registry``; None when npm is missing or fails."""
    npm = shutil.which("npm")
    if npm is None:
        return None
    return _run_config_command([npm, "config", "get", "registry"])


def _run_config_command(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=CONFIG_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        logger.debug("config command failed argv=%s error=%s", argv[:3], exc)
        return None
    value = done.stdout.strip()
    if done.returncode != 0 or not value or value in {"undefined", "null"}:
        return None
    return value


def _discover(
    *,
    key: str,
    client: str,
    candidates: Sequence[_Candidate | _LazyCandidate],
    data_dir: Path,
    own_urls: Sequence[str],
) -> Discovered:
    own = [origin for origin in map(Origin.parse, own_urls) if origin is not None]
    skipped = _Skipped([], [])
    for candidate in candidates:
        url = candidate.url if isinstance(candidate, _Candidate) else candidate.read() or ""
        if not url.strip():
            continue
        if _skip(url, candidate.source, own, skipped):
            continue
        found = _normalise(url)
        _remember(data_dir, key, found)
        return Discovered(found, candidate.source, _note(client, skipped, found))
    return _fall_back(key=key, client=client, data_dir=data_dir, own=own, skipped=skipped)


def _fall_back(
    *, key: str, client: str, data_dir: Path, own: list[Origin], skipped: _Skipped
) -> Discovered:
    path = data_dir / REMEMBERED_FILE
    source = f"remembered in {path}"
    remembered = _read_remembered(path).get(key, "")
    if remembered.strip() and not _skip(remembered, source, own, skipped):
        found = _normalise(remembered)
        return Discovered(found, source, _note(client, skipped, found))
    why = "; ".join([*skipped.loops, *skipped.invalid]) or f"{client} names no registry"
    raise ConfigError(
        f"no upstream found for repository {key!r} ({why}; nothing remembered in {path}): "
        f"set `upstream` under [repositories.{key}] in the config"
    )


def _skip(url: str, source: str, own: Sequence[Origin], skipped: _Skipped) -> bool:
    """Record and return True when ``url`` cannot be the upstream."""
    origin = Origin.parse(url)
    if origin is None:
        skipped.invalid.append(f"{source} = {redact(url.strip())} is not an http(s) URL")
        return True
    if any(origin.is_same_server(mine) for mine in own):
        skipped.loops.append(f"{source} = {redact(url.strip())}")
        return True
    return False


def _note(client: str, skipped: _Skipped, found: str) -> str | None:
    parts = []
    if skipped.loops:
        parts.append(f"{client} is configured to use pantry itself ({'; '.join(skipped.loops)})")
    parts.extend(skipped.invalid)
    if not parts:
        return None
    return f"{'; '.join(parts)}; using {redact(found)} instead"


def _normalise(url: str) -> str:
    url = url.strip()
    return url if url.endswith("/") else url + "/"


def _read_remembered(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable remembered upstreams path=%s error=%s", path, exc)
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _remember(data_dir: Path, key: str, url: str) -> None:
    """Store ``url`` under ``key`` so a later loop-guarded start can still find it."""
    path = data_dir / REMEMBERED_FILE
    remembered = _read_remembered(path)
    if remembered.get(key) == url:
        return
    remembered[key] = url
    body = json.dumps(remembered, indent=2, sort_keys=True) + "\n"
    try:
        replace_file(path, body.encode())
    except OSError as exc:
        # Discovery itself succeeded; only the fallback for a later start is lost.
        logger.warning("cannot remember upstream path=%s key=%s error=%s", path, key, exc)
