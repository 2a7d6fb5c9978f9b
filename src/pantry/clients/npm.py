"""npm and pnpm: ``registry=`` in the user's ``.npmrc``.

npm reads its user config from ``$npm_config_userconfig`` when set (npm takes the
``npm_config_`` prefix in any case, so ``NPM_CONFIG_USERCONFIG`` works too; ``~/`` is
expanded, a relative path is taken from the current directory), else ``~/.npmrc``.
pnpm reads the same file.  It also has its own ``<config dir>/pnpm/rc``, but a registry
in ``.npmrc`` wins over that one, so ``.npmrc`` is the one file both clients obey.

The file is ini as npm's ``ini`` reader sees it: ``key=value`` lines, ``;`` and ``#``
comments, quoted or bare values, and ``[section]`` headers after which keys are no longer
top-level settings.  pantry sets the top-level ``registry`` and keeps every other line
byte for byte: the file usually holds ``//host/:_authToken=...`` lines, which pantry
never prints.  Since npm and pnpm edit the same file they share one backup: whichever
writes first keeps the original, and ``--undo`` of either restores it for both.

With a token pantry also sets ``//host:port/npm/:_authToken=TOKEN``: the registry URL
without its scheme, as npm keys credentials, so npm and pnpm send it as a Bearer token to
pantry's registry and nowhere else.  An existing line for the same key is replaced; lines
for other registries stay as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pantry.clients.base import Advice, ClientConfigError, Ecosystem, Target, env_overrides
from pantry.clients.lines import newline_of, others_unchanged, set_entry, split_lines

_USERCONFIG_VARS = ("npm_config_userconfig", "NPM_CONFIG_USERCONFIG")
REGISTRY_VARS = ("npm_config_registry", "NPM_CONFIG_REGISTRY")
_SECTION = re.compile(r"\[[^\]]*\]\s*$")  # ini's header: "[" must start the line
_COMMENT = re.compile(r"\s*[;#]")
_SHARED = (
    "note: npm and pnpm share this file; pantry keeps one backup of it, "
    "and `--undo` of either restores the original for both"
)


def config_path(home: Path, env: Mapping[str, str]) -> Path:
    """The .npmrc that ``pantry setup npm|pnpm --write`` edits."""
    for name in _USERCONFIG_VARS:
        value = env.get(name, "")
        if value == "~" or value.startswith("~/"):
            return home / value[2:]
        if value:
            return Path(value)
    return home / ".npmrc"


@dataclass(frozen=True, slots=True)
class NpmrcSetup:
    """``ClientSetup`` for a client that takes its registry from ``.npmrc`` (npm, pnpm)."""

    name: str
    ecosystem = Ecosystem.NPM

    def config_file(self, *, home: Path, env: Mapping[str, str]) -> Path:
        return config_path(home, env)

    def advise(self, target: Target, *, env: Mapping[str, str]) -> Advice:
        target = target.shown()  # advice is printed: never the token itself
        url = target.registry_url
        lines = [f"registry={url}"]
        install = f"{self.name} install --registry {url}"
        if target.token_text is not None:
            lines.append(auth_token_entry(target.registry_key, target.token_text))
            if self.name == "npm":  # npm takes any setting as a flag; pnpm is not so sure
                install += f" --{auth_token_entry(target.registry_key, target.token_text)}"
        return Advice(
            lines=tuple(lines),
            one_off=(install, f"NPM_CONFIG_REGISTRY={url}"),
            notes=(*env_overrides(env, REGISTRY_VARS, ".npmrc"), _SHARED),
        )

    def edit(self, text: str | None, target: Target) -> str:
        edited = set_registry(text, target.registry_url)
        if target.token is None:
            return edited
        return set_auth_token(edited, target.registry_key, target.token)

    def token_place(self, target: Target) -> str | None:
        return f"the {target.registry_key}:_authToken line"


def auth_token_entry(registry_key: str, token: str) -> str:
    """The .npmrc line giving npm ``token`` for the registry ``registry_key`` (``//h/p/``)."""
    return f"{registry_key}:_authToken={token}"


def set_registry(text: str | None, url: str) -> str:
    """``text`` (None: no file) with ``registry=url`` as its one top-level registry."""
    return _set_top_level(text, "registry", url, what="the URL")


def set_auth_token(text: str | None, registry_key: str, token: str) -> str:
    """``text`` (None: no file) with one ``<registry_key>:_authToken=token`` line."""
    return _set_top_level(text, f"{registry_key}:_authToken", token, what="the token")


def _set_top_level(text: str | None, key: str, value: str, *, what: str) -> str:
    """``text`` (None: no file) with ``key=value`` as the one top-level line for ``key``.

    Error messages name the value only as ``what``: it may be a secret.
    """
    if any(ch in key + value for ch in ";#"):
        raise ClientConfigError(f"{what} holds ';' or '#', which .npmrc would read as a comment")
    before = split_lines(text or "")
    found = _key_lines(before, key)
    if text is not None and [_value(before[i]) for i in found] == [value]:
        return text  # already right, however it is spelled: leave the bytes alone
    edited = set_entry(
        before,
        found=found,
        entry=f"{key}={value}",
        insert_at=_top_level_end(before),
        newline=newline_of(text or ""),
    )
    after = split_lines(edited)
    after_found = _key_lines(after, key)
    is_set = [_value(after[i]) for i in after_found] == [value]
    if not is_set or not others_unchanged(before, found, after, after_found):
        raise ClientConfigError("could not edit this .npmrc safely; edit it by hand")
    return edited


def _top_level_end(lines: list[str]) -> int:
    """Index of the first section header (keys after it are not settings), or the end."""
    for index, line in enumerate(lines):
        if not _is_blank_or_comment(line) and _SECTION.match(line.rstrip("\r\n")):
            return index
    return len(lines)


def _key_lines(lines: list[str], key: str) -> list[int]:
    end = _top_level_end(lines)
    return [i for i in range(end) if _key(lines[i]) == key]


def _is_blank_or_comment(line: str) -> bool:
    return not line.strip() or _COMMENT.match(line) is not None


def _key(line: str) -> str | None:
    if _is_blank_or_comment(line):
        return None
    key, _, _ = line.rstrip("\r\n").partition("=")
    return _unsafe(key) if key else None


def _value(line: str) -> str | None:
    _, has_value, value = line.rstrip("\r\n").partition("=")
    return _unsafe(value) if has_value else None


def _unsafe(raw: str) -> str:
    """A key or value as ini reads it: trimmed, unquoted, cut at an unescaped ``;``/``#``."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        if text[0] == '"':
            try:
                decoded = json.loads(text)
            except ValueError:
                return text[1:-1]
            return decoded if isinstance(decoded, str) else text[1:-1]
        return text[1:-1]
    kept: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            kept.append(ch if ch in ";#\\" else "\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ";#":
            break
        else:
            kept.append(ch)
    if escaped:
        kept.append("\\")
    return "".join(kept).strip()
