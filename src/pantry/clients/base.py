"""What every client module provides to ``pantry setup``: the ``ClientSetup`` protocol.

A client module knows three things about one package client: where its user-level
config file lives, what to put in it, and how to edit an existing file without
disturbing anything else; also which kind of repository (``Ecosystem``) it talks to.
A client that reads several files (yarn) provides one ``ClientSetup`` per file.
``edit`` is pure (text in, text out); the write, backup and undo steps are shared and
live in ``actions.py``.  A ``Target`` may carry a client token: ``edit`` writes it,
``advise`` only ever sees it as ``<TOKEN>``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit

from pantry.clients.origin import Origin
from pantry.errors import ConfigError

_REPO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# What `pantry token` makes (URL-safe base64) and the other usual token alphabets; nothing
# that .npmrc, TOML or YAML would read as quoting, a comment or a variable.
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]+")

BASIC_USER = "pantry"
"""The user name in front of the token in HTTP Basic; pantry checks only the password."""
PLACEHOLDER = "<TOKEN>"
"""What printed configuration shows in place of the token."""
MASKED = "***"
"""How messages refer to the token itself."""


class ClientConfigError(ConfigError):
    """A client's config file cannot be used or safely edited; nothing was written."""


class Ecosystem(enum.Enum):
    """The kind of pantry repository a client talks to."""

    PYPI = "pypi"
    NPM = "npm"

    @property
    def default_repo(self) -> str:
        """The repository ``pantry setup`` points the client at unless told otherwise."""
        return self.value

    def url(self, target: Target) -> str:
        """The URL of ``target`` that this ecosystem's clients are configured with."""
        return target.registry_url if self is Ecosystem.NPM else target.index_url


@dataclass(frozen=True, slots=True)
class Target:
    """The pantry repository a client should use, and the token it presents, if any.

    A target ``shown()`` spells the token as ``<TOKEN>`` everywhere: printed advice is
    made from it, so the token itself never reaches the terminal.
    """

    base_url: str  # "http://127.0.0.1:7878", no trailing slash
    repo: str  # repository name, e.g. "pypi"
    origin: Origin
    token: str | None = field(default=None, repr=False)
    masked: bool = False

    @classmethod
    def parse(cls, base_url: str, repo: str, token: str | None = None) -> Target:
        """Check the parts; raise ClientConfigError with a one-line reason when unusable.

        The reason never repeats the token.
        """
        base = base_url.strip().rstrip("/")
        origin = Origin.parse(base)
        if origin is None or any(ch.isspace() or not ch.isprintable() for ch in base):
            raise ClientConfigError(f"not an http(s) base URL: {base_url!r}")
        parts = urlsplit(base)
        if parts.query or parts.fragment or "@" in parts.netloc:
            raise ClientConfigError(
                f"base URL must not carry credentials, query or fragment: {base_url!r}"
            )
        if not _REPO_NAME.fullmatch(repo):
            raise ClientConfigError(f"not a repository name: {repo!r}")
        if token is not None and not _TOKEN.fullmatch(token):
            raise ClientConfigError(
                "the token must be one or more letters, digits and . _ ~ + / = - "
                "(as `pantry token` makes them)"
            )
        return cls(base, repo, origin, token)

    def shown(self) -> Target:
        """This target with the token spelled ``<TOKEN>``, for printing."""
        return replace(self, masked=True)

    @property
    def token_text(self) -> str | None:
        """The token as a config line holds it (``<TOKEN>`` when shown); None without one."""
        if self.token is None:
            return None
        return PLACEHOLDER if self.masked else self.token

    @property
    def index_url(self) -> str:
        """The PEP 503 simple index of the repository, with the trailing slash pip expects."""
        return f"{self.base_url}/{self.repo}/simple/"

    @property
    def index_url_with_token(self) -> str:
        """``index_url`` with the token as the password of user ``pantry``, if there is one.

        HTTP Basic from the URL's userinfo is what pip, uv and pdm all send; the token is
        percent-encoded there (``<TOKEN>`` is left as it is, for people to read).
        """
        if self.token is None:
            return self.index_url
        secret = PLACEHOLDER if self.masked else quote(self.token, safe="")
        scheme, rest = self.base_url.split("://", 1)
        return f"{scheme}://{BASIC_USER}:{secret}@{rest}/{self.repo}/simple/"

    @property
    def registry_url(self) -> str:
        """The npm registry root of the repository; clients append package names to it."""
        return f"{self.base_url}/{self.repo}/"

    @property
    def registry_key(self) -> str:
        """The registry URL as npm keys credentials by it: ``//host[:port]/path/``.

        npm drops the scheme and, like any URL parser, a default port and upper case in
        the host name, so the key is built from the normalised origin.
        """
        return f"//{self.origin.netloc}{urlsplit(self.registry_url).path}"


@dataclass(frozen=True, slots=True)
class Advice:
    """What ``pantry setup <client>`` shows."""

    lines: tuple[str, ...]  # the exact lines pantry puts in the config file (token: <TOKEN>)
    one_off: tuple[str, ...]  # command-line flags / env vars for a single command instead
    notes: tuple[str, ...] = ()  # things in the environment that would defeat the file
    per_project: str | None = None  # set when the client has no user-level setting


class ClientSetup(Protocol):
    """One package client's configuration rules."""

    @property
    def name(self) -> str:
        """The client's command name, as typed after ``pantry setup``."""
        ...

    @property
    def ecosystem(self) -> Ecosystem:
        """Which kind of repository the client uses, hence its URL and default name."""
        ...

    def config_file(self, *, home: Path, env: Mapping[str, str]) -> Path | None:
        """The user-level file ``--write`` edits; None when the client has none."""
        ...

    def advise(self, target: Target, *, env: Mapping[str, str]) -> Advice:
        """The lines, one-off equivalents and warnings to show for ``target``."""
        ...

    def edit(self, text: str | None, target: Target) -> str:
        """``text`` (None: no file yet) changed to use ``target``, all else kept.

        With ``target.token`` the result holds it where ``token_place`` says.  Raises
        ClientConfigError when the text is invalid or already sets the index in a way
        pantry must not override; the caller then leaves the file alone.
        """
        ...

    def token_place(self, target: Target) -> str | None:
        """Where in the file ``edit`` puts the token, for the message after writing.

        None when this file gets no token (then the file keeps its permission bits).
        """
        ...


def xdg_config_home(home: Path, env: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME`` if absolute (relative ones are invalid per XDG), else ``~/.config``."""
    value = env.get("XDG_CONFIG_HOME", "")
    if value and Path(value).is_absolute():
        return Path(value)
    return home / ".config"


def env_overrides(
    env: Mapping[str, str], names: tuple[str, ...], file_kind: str
) -> tuple[str, ...]:
    """Notes for each of ``names`` set in ``env``: they take precedence over ``file_kind``."""
    return tuple(
        f"note: {name} is set in the environment and takes precedence over {file_kind}"
        for name in names
        if env.get(name)
    )


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string; ``Target`` already refused control characters."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
