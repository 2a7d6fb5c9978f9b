"""verdaccio (from bench/out/verdaccio) as a caching proxy of the discovered npm registry.

Its config.yaml is generated into the target's data directory at run time:
one uplink (the discovered registry) that every package is proxied to,
storage in the data directory, loopback only, a large ``max_body_size``.
Two choices shape its figures and are said in the report: the uplink's
``maxage`` (how long a cached packument is served before verdaccio asks the
registry again; 2 minutes by default) is set to the run's metadata freshness
(``METADATA_FRESH_S``; with ``--default-ttl`` pantry's default, 300 s), so
both revalidate alike and the warm runs compare serving, not policy; and
it logs at ``warn`` instead of one line per request, as a busy install would
be configured.  Node runs it as one process, pinned to the server core.
"""

from __future__ import annotations

from harness import free_port
from npm_env import isolated_env
from tools import VERDACCIO, verdaccio_installed

from peers import Context, Role, Target, Unavailable

DEFAULT_MAXAGE_S = 300  # pantry's default metadata_ttl_s


class Verdaccio(Target):
    name = "verdaccio"
    role = Role.PEER
    warm_in = frozenset({"npm"})
    cold_in = frozenset({"npm"})
    note = "verdaccio: default settings but uplink maxage (metadata freshness), log level warn"

    @classmethod
    def check(cls, ctx: Context) -> None:
        if not verdaccio_installed():
            raise Unavailable(f"{cls.name}: not installed (run bench/run.py --install)")

    def config_text(self) -> str:
        return f"""\
storage: {self.data}/storage
plugins: {self.data}/plugins
auth:
  htpasswd:
    file: {self.data}/htpasswd
    max_users: -1
uplinks:
  upstream:
    url: {self.ctx.npm_side.registry}
    maxage: {self.ctx.fresh_s or DEFAULT_MAXAGE_S}s
packages:
  '@*/*':
    access: $all
    proxy: upstream
  '**':
    access: $all
    proxy: upstream
max_body_size: 1000mb
listen: 127.0.0.1:{self.port}
log: {{ type: stdout, format: pretty, level: warn }}
"""

    def start(self) -> None:
        super().start()
        self.port = free_port()
        (self.data / "plugins").mkdir(exist_ok=True)
        config = self.data / "config.yaml"
        config.write_text(self.config_text())
        # Its own npm-style settings must not come from this machine either.
        env = isolated_env(self.data / "home", self.ctx.npm_side.registry, loopback_only=False)
        cmd = [
            "node", str(VERDACCIO / "node_modules" / "verdaccio" / "bin" / "verdaccio"),
            "--config", str(config), "--listen", f"127.0.0.1:{self.port}",
        ]  # fmt: skip
        self.proc = self.ctx.sup.start(self.name, cmd, self.log, env)
        self.started("/-/ping")

    def npm_registry(self) -> str:
        return f"{self.base_url}/"
