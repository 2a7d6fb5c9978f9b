"""yarn: ``registry`` in ``~/.yarnrc`` (yarn 1) and ``npmRegistryServer`` in ``~/.yarnrc.yml``.

Which yarn runs is decided per project (``packageManager``, ``yarnPath``), so
``pantry setup yarn`` sets up both, each file with its own backup.

yarn 1 ("classic") reads ``~/.yarnrc``: ``key value`` lines in its lockfile syntax,
``#`` comments, JSON-quoted strings.  It also reads ``registry`` from the npm config, and
when fetching it prefers that one, so a registry in ``.npmrc`` needs ``pantry setup npm``
as well (a note says so).  A ``--registry`` or ``--<command>.registry`` key passes the
flag to yarn commands and beats the setting, so such a file is refused.

yarn 2 and later ("modern") read ``~/$YARN_RC_FILENAME`` (``~/.yarnrc.yml`` by default)
and ignore ``.npmrc``.  pantry writes a delimited block (``block.py``) holding
``npmRegistryServer`` and, for a plain-http URL, ``unsafeHttpWhitelist`` with its host:
yarn refuses plain http to any host not listed there, loopback included.  Without a
YAML parser, the file must be a block mapping whose top-level lines pantry recognises;
a top-level ``npmRegistryServer`` outside the block is refused, and so is an
``unsafeHttpWhitelist`` there that does not list the host yet (YAML forbids a key twice).

A token goes, for yarn 2+, into the block as an ``npmRegistries`` entry for pantry's
registry URL holding ``npmAuthToken`` and ``npmAlwaysAuth: true``: yarn sends the token
for unscoped packages only with ``npmAlwaysAuth``, and a registry entry (rather than a
top-level ``npmAuthToken``) keeps the token from reaching any scope's other registry.
yarn 1 takes tokens from ``.npmrc`` only, so ``pantry setup yarn`` writes none to
``.yarnrc`` and says to run ``pantry setup npm --write`` with the token as well.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from pantry.clients.base import Advice, ClientConfigError, Ecosystem, Target, env_overrides
from pantry.clients.block import outside_block, set_block
from pantry.clients.lines import newline_of, others_unchanged, set_entry, split_lines
from pantry.clients.npm import REGISTRY_VARS, auth_token_entry

NAME = "yarn"
_SERVER = "npmRegistryServer"
_WHITELIST = "unsafeHttpWhitelist"
_REGISTRIES = "npmRegistries"

# yarn 1 rc: a bare or JSON-quoted key at the start of the line, then its value.
_RC_ENTRY = re.compile(r'(?P<key>"(?:[^"\\]|\\.)*"|[^\s"#:]+)(?P<rest>.*)')
_RC_FLAG = re.compile(r"--(?:[^.\s]+\.)?registry")
# yarnrc.yml: a top-level key (plain or quoted) followed by ":" and a space or the end.
_YML_KEY = re.compile(
    r"""(?P<key>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[A-Za-z_$@][^\s:#]*)\s*:(?=\s|$)(?P<value>.*)"""
)
_YML_ITEM = re.compile(r"-(\s|$)")


def classic_path(home: Path, env: Mapping[str, str]) -> Path:
    """The ``.yarnrc`` yarn 1 reads for the user."""
    return home / ".yarnrc"


def modern_path(home: Path, env: Mapping[str, str]) -> Path:
    """The ``.yarnrc.yml`` yarn 2+ reads for the user (``YARN_RC_FILENAME`` renames it)."""
    return home / (env.get("YARN_RC_FILENAME") or ".yarnrc.yml")


class YarnClassicSetup:
    """``ClientSetup`` for yarn 1's ``.yarnrc``."""

    name = NAME
    ecosystem = Ecosystem.NPM

    def config_file(self, *, home: Path, env: Mapping[str, str]) -> Path:
        return classic_path(home, env)

    def advise(self, target: Target, *, env: Mapping[str, str]) -> Advice:
        target = target.shown()  # advice is printed: never the token itself
        url = target.registry_url
        overrides = ("YARN_REGISTRY", "yarn_registry", *REGISTRY_VARS)
        notes = [
            *env_overrides(env, overrides, ".yarnrc"),
            "note: .yarnrc is read by yarn 1 and .yarnrc.yml by yarn 2 and later; pantry "
            "sets both, keeps a backup of each, and `--undo` restores both",
            "note: yarn 1 fetches from a registry set in .npmrc ahead of .yarnrc; "
            "if .npmrc sets one, run `pantry setup npm --write` too",
        ]
        if target.token_text is not None:
            notes.append(
                "note: yarn 1 reads the token only from .npmrc, from its "
                f"`{auth_token_entry(target.registry_key, '')}` line: run "
                "`pantry setup npm --write` with the token too; if yarn 1 still gets 401 "
                "for unscoped packages, add `always-auth=true` to .npmrc (npm 10+ warns "
                "about that key but yarn 1 needs it to send the token)"
            )
        return Advice(
            lines=(_rc_entry(url),),
            one_off=(
                f"yarn install --registry {url}    # yarn 1",
                f"yarn config set registry {url}    # yarn 1",
            ),
            notes=tuple(notes),
        )

    def edit(self, text: str | None, target: Target) -> str:
        return _set_rc_registry(text, target.registry_url)

    def token_place(self, target: Target) -> str | None:
        return None  # yarn 1 reads tokens from .npmrc only


class YarnModernSetup:
    """``ClientSetup`` for yarn 2+'s ``.yarnrc.yml``."""

    name = NAME
    ecosystem = Ecosystem.NPM

    def config_file(self, *, home: Path, env: Mapping[str, str]) -> Path:
        return modern_path(home, env)

    def advise(self, target: Target, *, env: Mapping[str, str]) -> Advice:
        target = target.shown()  # advice is printed: never the token itself
        url = target.registry_url
        host = _http_host(target)
        one_off = f"YARN_NPM_REGISTRY_SERVER={url}"
        if host is not None:
            one_off += f" YARN_UNSAFE_HTTP_WHITELIST={host}"
        if target.token_text is not None:
            # Top-level from the environment: sent to scopes' other registries too.
            one_off += f" YARN_NPM_AUTH_TOKEN={target.token_text} YARN_NPM_ALWAYS_AUTH=true"
        return Advice(
            lines=_yml_body(url, host, target.token_text),
            one_off=(f"{one_off}    # yarn 2+",),
            notes=env_overrides(env, ("YARN_NPM_REGISTRY_SERVER",), ".yarnrc.yml"),
        )

    def edit(self, text: str | None, target: Target) -> str:
        url, host, token = target.registry_url, _http_host(target), target.token
        outside = outside_block(text)
        entries = _yml_entries(outside)
        if _SERVER in entries:
            raise ClientConfigError(
                f"the file already sets {_SERVER}; remove it or edit the file by hand"
            )
        if token is not None and _REGISTRIES in entries:
            raise ClientConfigError(
                f"the file already has {_REGISTRIES}; add pantry's entry to it by hand "
                "(`pantry setup yarn` shows it) or run without the token"
            )
        if host is not None and _WHITELIST in entries:
            if host not in _yml_items(entries[_WHITELIST]):
                raise ClientConfigError(
                    f"the file's {_WHITELIST} does not list {host}, which yarn needs for "
                    "plain http; add it there and run again"
                )
            host = None  # already listed: the block must not repeat the key
        result = set_block(text, client=NAME, body=_yml_body(url, host, token))
        # Appending may add a line break and a blank line before the block, nothing else.
        kept = outside_block(result).rstrip("\r\n") == outside.rstrip("\r\n")
        added = _yml_entries(result)
        if not kept or _SERVER not in added or (token is not None and _REGISTRIES not in added):
            raise ClientConfigError("could not edit this .yarnrc.yml safely; edit it by hand")
        return result

    def token_place(self, target: Target) -> str | None:
        return f"{_REGISTRIES} for {target.registry_url}, as npmAuthToken with npmAlwaysAuth"


def _http_host(target: Target) -> str | None:
    """The host yarn 2+ must whitelist for ``target``, spelled as URL.hostname spells it."""
    origin = target.origin
    if origin.scheme != "http":
        return None
    return f"[{origin.host}]" if ":" in origin.host else origin.host


# --- yarn 1: .yarnrc ------------------------------------------------------------------


def _rc_entry(url: str) -> str:
    return f"registry {json.dumps(url)}"


def _set_rc_registry(text: str | None, url: str) -> str:
    before = split_lines(text or "")
    found = _rc_registry_lines(before)
    if text is not None and [_rc_value(before[i]) for i in found] == [url]:
        return text  # already right, however it is spelled: leave the bytes alone
    edited = set_entry(
        before,
        found=found,
        entry=_rc_entry(url),
        insert_at=len(before),
        newline=newline_of(text or ""),
    )
    after = split_lines(edited)
    after_found = _rc_registry_lines(after)
    is_set = [_rc_value(after[i]) for i in after_found] == [url]
    if not is_set or not others_unchanged(before, found, after, after_found):
        raise ClientConfigError("could not edit this .yarnrc safely; edit it by hand")
    return edited


def _rc_registry_lines(lines: list[str]) -> list[int]:
    """Indexes of the top-level ``registry`` lines; raises on lines yarn 1 would misread."""
    found = []
    for number, line in enumerate(lines, start=1):
        body = line.rstrip("\r\n")
        if not body.strip() or body.lstrip().startswith("#") or body[0] in " \t":
            continue  # blank, comment, or inside a nested entry
        matched = _RC_ENTRY.match(body)
        key = _rc_string(matched.group("key")) if matched else None
        if matched is None or key is None:
            raise ClientConfigError(f"line {number} is not `key value`; fix it first")
        if _RC_FLAG.fullmatch(key):
            raise ClientConfigError(
                f"line {number} passes {key} to yarn commands, which beats the registry "
                "setting; remove it or edit the file by hand"
            )
        if key == "registry":
            if matched.group("rest").lstrip().startswith(":"):
                raise ClientConfigError(f"line {number} makes registry a nested entry; fix it")
            found.append(number - 1)
    return found


def _rc_value(line: str) -> str | None:
    matched = _RC_ENTRY.match(line.rstrip("\r\n"))
    return _rc_string(matched.group("rest").strip()) if matched else None


def _rc_string(token: str) -> str | None:
    """A bare token as is, a JSON-quoted one decoded; None when the quoting is broken."""
    if not token.startswith('"'):
        return token
    try:
        decoded = json.loads(token)
    except ValueError:
        return None
    return decoded if isinstance(decoded, str) else None


# --- yarn 2+: .yarnrc.yml -------------------------------------------------------------


def _yml_body(url: str, host: str | None, token: str | None) -> tuple[str, ...]:
    """The block: the registry, its token (if any) and the http whitelist (if needed).

    The ``npmRegistries`` key is the registry URL as ``npmRegistryServer`` spells it;
    yarn looks entries up by that URL (newer versions without the trailing slash, and
    they strip it from the keys too).
    """
    lines = [f"{_SERVER}: {json.dumps(url)}"]
    if token is not None:
        lines += [
            f"{_REGISTRIES}:",
            f"  {json.dumps(url)}:",
            "    npmAlwaysAuth: true",
            f"    npmAuthToken: {json.dumps(token)}",
        ]
    if host is not None:
        lines += [f"{_WHITELIST}:", f"  - {json.dumps(host)}"]
    return tuple(lines)


def _yml_entries(text: str) -> dict[str, str]:
    """Top-level key -> the text of its value (rest of line and continuation lines).

    Raises ClientConfigError for a line that is not a comment, an indented or ``- ``
    continuation, a leading ``---`` or a ``key:`` entry, and for a key given twice.
    """
    entries: dict[str, str] = {}
    current: str | None = None
    for number, line in enumerate(split_lines(text), start=1):
        body = line.rstrip("\r\n")
        if not body.strip() or body.lstrip().startswith("#"):
            continue
        if body[0] in " \t" or (current is not None and _YML_ITEM.match(body)):
            if current is None:
                raise ClientConfigError(f"line {number} is indented under no key; fix it first")
            entries[current] += "\n" + body
            continue
        if body.rstrip() == "---" and not entries:
            continue
        matched = _YML_KEY.fullmatch(body)
        if matched is None:
            raise ClientConfigError(
                f"line {number} is not a top-level `key: value` entry pantry can read; "
                "edit the file by hand"
            )
        current = _yml_string(matched.group("key"))
        if current in entries:
            raise ClientConfigError(f"line {number} repeats the key {current}; fix it first")
        entries[current] = matched.group("value")
    return entries


def _yml_string(token: str) -> str:
    if token.startswith('"'):
        try:
            decoded = json.loads(token)
        except ValueError:
            return token
        return decoded if isinstance(decoded, str) else token
    if token.startswith("'"):
        return token[1:-1].replace("''", "'")
    return token


def _yml_items(value: str) -> set[str]:
    """The plain entries of a YAML list (flow ``[a, b]`` or ``- a`` lines), roughly."""
    text = value.strip()
    if text.startswith("["):
        raw = text.split("#", 1)[0].strip().strip("[]").split(",")
    else:
        raw = [line.strip()[1:] for line in value.splitlines() if line.strip().startswith("-")]
    items = set()
    for item in raw:
        token = re.split(r"\s#", item, maxsplit=1)[0].strip()
        items.add(_yml_string(token) if token[:1] in "\"'" else token)
    return items
