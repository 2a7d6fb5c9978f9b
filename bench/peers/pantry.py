"""pantry itself: a real ``pantry serve`` whose PyPI repository's upstream is the discovered URL."""

from __future__ import annotations

import os
import sys

from harness import free_port

from peers import Role, Target


class Pantry(Target):
    name = "pantry"
    role = Role.PANTRY
    can_cold = True
    note = "pantry: default config apart from the upstream (metadata_ttl_s 300)"

    def start(self) -> None:
        super().start()
        self.port = free_port()
        config = self.data.parent / f"{self.data.name}.toml"
        config.write_text(
            f'[repositories.pypi]\ntype = "pypi"\nupstream = "{self.ctx.upstream.simple_url}/"\n'
        )
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
