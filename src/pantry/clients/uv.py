"""uv: a default ``[[index]]`` in the user's uv.toml.

uv reads ``$UV_CONFIG_FILE`` when set (and then no other file); otherwise the user file
``$XDG_CONFIG_HOME/uv/uv.toml`` (``~/.config/uv/uv.toml``) on Linux and macOS alike.
Project files (``uv.toml``, ``[tool.uv]``) still take precedence inside a project.

A ``default = true`` index replaces PyPI for both ``uv pip`` and the project commands.
A file that already names a default (a ``default`` index, top-level or ``[pip]``
``index-url``) is refused: silently overriding a corporate mirror is worse than asking.

A token goes into the index ``url`` as the password of user ``pantry``; uv sends it as
HTTP Basic.  uv can also take it from ``UV_INDEX_PANTRY_PASSWORD`` (the index is named
``pantry``), which keeps it out of the file; the printed advice says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pantry.clients.base import (
    BASIC_USER,
    Advice,
    Ecosystem,
    Target,
    env_overrides,
    toml_string,
    xdg_config_home,
)
from pantry.clients.block import edit_toml

_OVERRIDES = ("UV_DEFAULT_INDEX", "UV_INDEX_URL")


def config_path(home: Path, env: Mapping[str, str]) -> Path:
    """The uv.toml that ``pantry setup uv --write`` edits."""
    chosen = env.get("UV_CONFIG_FILE", "")
    if chosen:
        return Path(chosen)
    return xdg_config_home(home, env) / "uv" / "uv.toml"


class UvSetup:
    """``ClientSetup`` for uv."""

    name = "uv"
    ecosystem = Ecosystem.PYPI

    def config_file(self, *, home: Path, env: Mapping[str, str]) -> Path:
        return config_path(home, env)

    def advise(self, target: Target, *, env: Mapping[str, str]) -> Advice:
        target = target.shown()  # advice is printed: never the token itself
        url = target.index_url_with_token
        notes = env_overrides(env, _OVERRIDES, "uv.toml")
        if env.get("UV_NO_CONFIG"):
            notes += ("note: UV_NO_CONFIG is set, so uv reads no config file",)
        if target.token is not None:
            notes += (
                f"note: to keep the token out of uv.toml, write url = "
                f"{toml_string(target.index_url)} and set UV_INDEX_PANTRY_USERNAME={BASIC_USER} "
                f"UV_INDEX_PANTRY_PASSWORD={target.token_text} in the environment",
            )
        return Advice(
            lines=_body(url),
            one_off=(f"uv pip install --default-index {url} <package>", f"UV_DEFAULT_INDEX={url}"),
            notes=notes,
        )

    def edit(self, text: str | None, target: Target) -> str:
        url = target.index_url_with_token
        return edit_toml(
            text,
            client=self.name,
            body=_body(url),
            conflict=_conflict,
            verify=lambda data: None if _default_urls(data) == [url] else "no pantry index",
        )

    def token_place(self, target: Target) -> str | None:
        return f"the [[index]] url, as the password of user {BASIC_USER}"


def _body(url: str) -> tuple[str, ...]:
    return ("[[index]]", 'name = "pantry"', f"url = {toml_string(url)}", "default = true")


def _conflict(data: Mapping[str, object]) -> str | None:
    if "index-url" in data:
        return "the file already sets index-url; remove it or edit the file by hand"
    pip = data.get("pip")
    if isinstance(pip, Mapping) and "index-url" in pip:
        return "the file already sets [pip] index-url; remove it or edit the file by hand"
    if _default_urls(data):
        return "the file already has a default [[index]]; remove it or edit the file by hand"
    return None


def _default_urls(data: Mapping[str, object]) -> list[object]:
    indexes = data.get("index")
    if not isinstance(indexes, list):
        return []
    return [
        entry.get("url")
        for entry in indexes
        if isinstance(entry, Mapping) and entry.get("default") is True
    ]
