"""pantry itself: a real ``pantry serve`` whose repositories' upstreams are the discovered URLs.

One process serves both ecosystems of the run (``/pypi/`` and ``/npm/``), as
it would in use; with ``--ecosystem`` only that repository is configured.
"""

from __future__ import annotations

import os
import sys

from harness import free_port

from peers import Role, Target


class Pantry(Target):
    name = "pantry"
    role = Role.PANTRY
    warm_in = frozenset({"pypi", "npm"})
    cold_in = frozenset({"pypi", "npm"})
    note = "pantry: default config apart from the upstreams and metadata freshness"

    def config_text(self) -> str:
        """Repositories with explicit upstreams, so nothing is discovered from this machine."""
        upstreams = {}
        if self.ctx.pypi is not None:
            upstreams["pypi"] = self.ctx.pypi.upstream.simple_url + "/"
        if self.ctx.npm is not None:
            upstreams["npm"] = self.ctx.npm.registry
        ttl = "" if self.ctx.fresh_s is None else f"metadata_ttl_s = {self.ctx.fresh_s}\n"
        return "".join(
            f'[repositories.{kind}]\ntype = "{kind}"\nupstream = "{url}"\n{ttl}'
            for kind, url in upstreams.items()
        )

    def start(self) -> None:
        super().start()
        self.port = free_port()
        config = self.data.parent / f"{self.data.name}.toml"
        config.write_text(self.config_text())
        env = {k: v for k, v in os.environ.items() if not k.startswith("PANTRY_")}
        cmd = [
            sys.executable, "-m", "pantry", "serve", "--listen", f"127.0.0.1:{self.port}",
            "--data", str(self.data), "--config", str(config),
        ]  # fmt: skip
        self.proc = self.ctx.sup.start(self.name, cmd, self.log, env)
        self.started("/-/health")

    def index_args(self) -> list[str]:
        return ["--index-url", f"{self.base_url}/pypi/simple/"]

    def page_url(self, project: str) -> str | None:
        return f"{self.base_url}/pypi/simple/{project}/"

    def npm_registry(self) -> str:
        return f"{self.base_url}/npm/"
