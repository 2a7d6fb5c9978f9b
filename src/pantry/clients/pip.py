"""pip: ``[global] index-url`` in the user's pip.conf.

Where pip looks (pip's configuration docs, Linux and macOS): ``$PIP_CONFIG_FILE`` when
set (``os.devnull`` there switches every file off); otherwise the user file
``$XDG_CONFIG_HOME/pip/pip.conf`` (``~/.config/pip/pip.conf``).  On macOS pip prefers
``~/Library/Application Support/pip/pip.conf`` when that directory exists and otherwise
uses ``~/.config/pip/pip.conf``, ignoring ``XDG_CONFIG_HOME``.

A plain-http index on another machine also needs ``trusted-host``; pip trusts loopback
on its own.  A token goes into ``index-url`` as the password of user ``pantry``
(``http://pantry:TOKEN@host/...``): pip sends it as HTTP Basic to that host, for the
index pages and the files alike.  An ``index-url`` in a command section (``[install]``, ...) beats
``[global]``, so such a file is refused rather than silently left in charge.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from pantry.clients import ini
from pantry.clients.base import (
    BASIC_USER,
    Advice,
    ClientConfigError,
    Ecosystem,
    Target,
    env_overrides,
    xdg_config_home,
)

_GLOBAL = "global"


def config_path(home: Path, env: Mapping[str, str], *, platform: str = sys.platform) -> Path:
    """The pip.conf that ``pantry setup pip --write`` edits."""
    chosen = env.get("PIP_CONFIG_FILE", "")
    if chosen and chosen != os.devnull:
        return Path(chosen)
    if platform == "darwin":
        app_support = home / "Library" / "Application Support" / "pip"
        if app_support.is_dir():
            return app_support / "pip.conf"
        return home / ".config" / "pip" / "pip.conf"
    return xdg_config_home(home, env) / "pip" / "pip.conf"


def _key(name: str) -> str:
    """pip's spelling of an option name: case-insensitive, ``_`` same as ``-``."""
    return name.strip().lower().replace("_", "-")


class PipSetup:
    """``ClientSetup`` for pip."""

    name = "pip"
    ecosystem = Ecosystem.PYPI

    def config_file(self, *, home: Path, env: Mapping[str, str]) -> Path:
        return config_path(home, env)

    def advise(self, target: Target, *, env: Mapping[str, str]) -> Advice:
        target = target.shown()  # advice is printed: never the token itself
        url = target.index_url_with_token
        lines = [f"[{_GLOBAL}]", f"index-url = {url}"]
        flags = f"--index-url {url}"
        host = _trusted_host(target)
        if host is not None:
            lines.append(f"trusted-host = {host}")
            flags += f" --trusted-host {host}"
        notes = env_overrides(env, ("PIP_INDEX_URL",), "pip.conf")
        if env.get("PIP_CONFIG_FILE") == os.devnull:
            notes += ("note: PIP_CONFIG_FILE is os.devnull, so pip reads no config file",)
        return Advice(
            lines=tuple(lines),
            one_off=(f"pip install {flags} <package>", f"PIP_INDEX_URL={url}"),
            notes=notes,
        )

    def edit(self, text: str | None, target: Target) -> str:
        before = ini.settings(ini.parse(text or ""))
        _refuse_overrides(before)
        url = target.index_url_with_token
        host = _trusted_host(target)
        if text is not None and _is_set(before.get(_GLOBAL, {}), url, host):
            return text  # already right, however it is spelled: leave the bytes alone
        edited = ini.set_option(
            text or "", _GLOBAL, "index-url", url, same=lambda n: _key(n) == "index-url"
        )
        trusted = _trusted(before.get(_GLOBAL, {}))
        if host is not None and host not in trusted:
            value = " ".join([*trusted, host])
            edited = ini.set_option(
                edited, _GLOBAL, "trusted-host", value, same=lambda n: _key(n) == "trusted-host"
            )
        _verify(before, ini.settings(ini.parse(edited)), url, host)
        return edited

    def token_place(self, target: Target) -> str | None:
        return f"[{_GLOBAL}] index-url, as the password of user {BASIC_USER}"


def _trusted_host(target: Target) -> str | None:
    """``host[:port]`` pip must trust: plain http to a machine other than this one."""
    origin = target.origin
    if origin.scheme != "http" or origin.is_loopback:
        return None
    return origin.netloc


def _trusted(options: dict[str, str]) -> list[str]:
    """Every host in ``trusted-host``, however the option name is spelled."""
    return [
        token
        for name, value in options.items()
        if _key(name) == "trusted-host"
        for token in value.split()
    ]


def _is_set(options: dict[str, str], url: str, host: str | None) -> bool:
    urls = [value for name, value in options.items() if _key(name) == "index-url"]
    return urls == [url] and (host is None or host in _trusted(options))


def _refuse_overrides(found: ini.Settings) -> None:
    for section, options in found.items():
        if section in {_GLOBAL, "DEFAULT"}:
            continue
        if any(_key(name) == "index-url" for name in options):
            raise ClientConfigError(
                f"[{section}] sets index-url, which overrides [global] for pip {section}; "
                "remove it or edit the file by hand"
            )


def _verify(before: ini.Settings, after: ini.Settings, url: str, host: str | None) -> None:
    """The edit set exactly what it should and nothing else moved."""
    managed = {"index-url", "trusted-host"}
    after_global = after.get(_GLOBAL, {})
    ok = after_global.get("index-url") == url and not any(
        _key(name) == "index-url" and name != "index-url" for name in after_global
    )
    if host is not None:
        ok = ok and host in _trusted(after_global)
    # A [global] pantry adds inherits [DEFAULT]; any other new section is a mistake.
    ok = ok and after.keys() - before.keys() <= {_GLOBAL}
    for section in before:
        keep = set() if section != _GLOBAL else managed
        old = {k: v for k, v in before.get(section, {}).items() if _key(k) not in keep}
        new = {k: v for k, v in after.get(section, {}).items() if _key(k) not in keep}
        ok = ok and old == new
    if not ok:
        raise ClientConfigError("could not edit this pip.conf safely; edit it by hand")
