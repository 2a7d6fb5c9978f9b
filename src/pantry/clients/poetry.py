"""poetry: per-project sources only.

poetry has no user-level setting that replaces PyPI; a primary source is declared in each
project's ``pyproject.toml`` (``[[tool.poetry.source]]``, ``priority = "primary"``), so
pantry shows the snippet and the ``poetry source add`` command and writes nothing.  The
source URL stays free of credentials (``pyproject.toml`` is shared); a token is given to
poetry once per user with ``poetry config http-basic.pantry pantry TOKEN``, which poetry
keeps in its keyring or ``auth.toml`` and sends as HTTP Basic to the source named pantry.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pantry.clients.base import (
    BASIC_USER,
    Advice,
    ClientConfigError,
    Ecosystem,
    Target,
    toml_string,
)

_SOURCE = "pantry"


class PoetrySetup:
    """``ClientSetup`` for poetry: advice only."""

    name = "poetry"
    ecosystem = Ecosystem.PYPI

    def config_file(self, *, home: Path, env: Mapping[str, str]) -> None:
        return None

    def advise(self, target: Target, *, env: Mapping[str, str]) -> Advice:
        target = target.shown()  # advice is printed: never the token itself
        url = target.index_url
        one_off = [f"poetry source add --priority=primary {_SOURCE} {url}"]
        if target.token is not None:
            one_off.append(f"poetry config http-basic.{_SOURCE} {BASIC_USER} {target.token_text}")
        return Advice(
            lines=(
                "[[tool.poetry.source]]",
                f"name = {toml_string(_SOURCE)}",
                f"url = {toml_string(url)}",
                'priority = "primary"',
            ),
            one_off=tuple(one_off),
            per_project="poetry has no user-level setting for its index; sources are per project",
        )

    def edit(self, text: str | None, target: Target) -> str:
        raise ClientConfigError("poetry sources are per project; pantry edits no poetry file")

    def token_place(self, target: Target) -> str | None:
        return None
