"""Targets without a server: the local-disk floor and installing straight from the registry."""

from __future__ import annotations

from peers import Role, Target


class LocalDisk(Target):
    """``pip install --no-index --find-links DIR``: the same wheels, no HTTP at all."""

    name = "local disk"
    role = Role.FLOOR

    def index_args(self) -> list[str]:
        return ["--no-index", "--find-links", str(self.ctx.wset.wheel_dir)]


class Direct(Target):
    """Straight from the registry, no cache in between: the baseline for cold installs."""

    name = "direct"
    role = Role.DIRECT
    warm_in = frozenset()
    cold_in = frozenset({"pypi", "npm"})

    def index_args(self) -> list[str]:
        return ["--index-url", self.ctx.upstream.simple_url + "/"]

    def npm_registry(self) -> str:
        return self.ctx.npm_side.registry
