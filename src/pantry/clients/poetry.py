"""poetry: per-project sources only.

poetry has no user-level setting that replaces PyPI; a primary source is declared in each
project's ``pyproject.toml`` (``[[tool.poetry.source]]``, ``priority = "primary"``), so
pantry shows the snippet and the ``poetry source add`` command and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pantry.clients.base import Advice, ClientConfigError, Ecosystem, Target, toml_string


class PoetrySetup:
    """``ClientSetup`` for poetry: advice only."""

    name = "poetry"
    ecosystem = Ecosystem.PYPI

    def config_file(self, *, home: Path, env: Mapping[str, str]) -> None:
        return None

    def advise(self, target: Target, *, env: Mapping[str, str]) -> Advice:
        url = target.index_url
        return Advice(
            lines=(
                "[[tool.poetry.source]]",
                'name = "pantry"',
                f"url = {toml_string(url)}",
                'priority = "primary"',
            ),
            one_off=(f"poetry source add --priority=primary pantry {url}",),
            per_project="poetry has no user-level setting for its index; sources are per project",
        )

    def edit(self, text: str | None, target: Target) -> str:
        raise ClientConfigError("poetry sources are per project; pantry edits no poetry file")
