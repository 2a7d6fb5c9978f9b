"""proxpi (from the peers venv) under gunicorn, one process with threads as its README advises.

Its upstream and cache directory are given in environment variables set at
run time.  On a cache miss proxpi answers a file request with a redirect to
the upstream after ``PROXPI_DOWNLOAD_TIMEOUT`` (0.9 s by default) and keeps
downloading in the background; warming waits until every file is served
from its cache.
"""

from __future__ import annotations

import os

from harness import free_port

from peers import Context, Role, Target, Unavailable

THREADS = 8


class Proxpi(Target):
    name = "proxpi"
    role = Role.PEER
    python_peer = True
    cold_in = frozenset({"pypi"})
    note = f"proxpi: gunicorn, 1 process x {THREADS} threads, defaults but metadata freshness"

    @classmethod
    def check(cls, ctx: Context) -> None:
        if not (ctx.peers_bin / "gunicorn").exists():
            raise Unavailable(f"{cls.name}: not installed (run bench/run.py --install)")

    def start(self) -> None:
        super().start()
        self.port = free_port()
        env = dict(os.environ)
        env |= {
            "PROXPI_INDEX_URL": self.ctx.upstream.simple_url + "/",
            "PROXPI_CACHE_DIR": str(self.data),
        }
        if self.ctx.fresh_s is not None:
            env["PROXPI_INDEX_TTL"] = str(self.ctx.fresh_s)
        cmd = [
            str(self.ctx.peers_bin / "gunicorn"), "--bind", f"127.0.0.1:{self.port}",
            "--workers", "1", "--threads", str(THREADS), "proxpi.server:app",
        ]  # fmt: skip
        self.proc = self.ctx.sup.start(self.name, cmd, self.log, env)
        self.started("/health")

    def index_args(self) -> list[str]:
        return ["--index-url", f"{self.base_url}/index/"]

    def page_url(self, project: str) -> str | None:
        return f"{self.base_url}/index/{project}/"
