"""pdm: ``[pypi] url`` in the user's global config.toml.

pdm reads ``$PDM_CONFIG_FILE`` when set; otherwise its platformdirs config directory:
``$XDG_CONFIG_HOME/pdm/config.toml`` (``~/.config/pdm/config.toml``) on Linux and
``~/Library/Application Support/pdm/config.toml`` on macOS.  ``PDM_PYPI_URL`` and a
project's own ``[[tool.pdm.source]]`` named ``pypi`` take precedence over it.

Any ``[pypi]`` table outside the pantry block is refused, since TOML forbids defining it
twice and pantry will not rewrite the user's table.  A token goes into the url as the
password of user ``pantry``; pdm sends it as HTTP Basic.
"""

from __future__ import annotations

import sys
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


def config_path(home: Path, env: Mapping[str, str], *, platform: str = sys.platform) -> Path:
    """The config.toml that ``pantry setup pdm --write`` edits."""
    chosen = env.get("PDM_CONFIG_FILE", "")
    if chosen:
        return Path(chosen)
    if platform == "darwin":
        return home / "Library" / "Application Support" / "pdm" / "config.toml"
    return xdg_config_home(home, env) / "pdm" / "config.toml"


class PdmSetup:
    """``ClientSetup`` for pdm."""

    name = "pdm"
    ecosystem = Ecosystem.PYPI

    def config_file(self, *, home: Path, env: Mapping[str, str]) -> Path:
        return config_path(home, env)

    def advise(self, target: Target, *, env: Mapping[str, str]) -> Advice:
        target = target.shown()  # advice is printed: never the token itself
        url = target.index_url_with_token
        return Advice(
            lines=_body(url),
            one_off=(f"PDM_PYPI_URL={url} pdm install", f"pdm config pypi.url {url}"),
            notes=env_overrides(env, ("PDM_PYPI_URL",), "config.toml"),
        )

    def edit(self, text: str | None, target: Target) -> str:
        url = target.index_url_with_token
        return edit_toml(
            text,
            client=self.name,
            body=_body(url),
            conflict=_conflict,
            verify=lambda data: None if _pypi_url(data) == url else "no pantry [pypi] url",
        )

    def token_place(self, target: Target) -> str | None:
        return f"[pypi] url, as the password of user {BASIC_USER}"


def _body(url: str) -> tuple[str, ...]:
    return ("[pypi]", f"url = {toml_string(url)}")


def _conflict(data: Mapping[str, object]) -> str | None:
    if "pypi" in data:
        return "the file already has a [pypi] table; set its url by hand"
    return None


def _pypi_url(data: Mapping[str, object]) -> object:
    table = data.get("pypi")
    return table.get("url") if isinstance(table, Mapping) else None
