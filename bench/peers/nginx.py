"""nginx twice: as a caching reverse proxy in front of PyPI and the npm registry (a peer),
and serving the same pages, packuments, wheels and tarballs as static files (the HTTP floor).

Both configs are generated into the target's data directory at run time from
the discovered upstreams; one worker process, sendfile on, loopback only.
Each serves the ecosystems of the run: PyPI on ``port``, npm on its own
``npm_port`` (proxy) or under ``/npm/`` (static).
"""

from __future__ import annotations

import os
import pwd
import shutil
import urllib.parse
from pathlib import Path

import npm_static
import static_index
from harness import free_port

from peers import Context, Role, Target, Unavailable

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def _owner_lines(data: Path) -> str:
    """Run as root: workers drop to www-data, which must own the directories they write."""
    if os.geteuid() != 0:
        return ""
    www = pwd.getpwnam("www-data")
    for path in [data, *data.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            os.chown(path, www.pw_uid, www.pw_gid)
    return "user www-data www-data;\n"


def _config(
    data: Path, logs: Path, servers: dict[int, str], http_block: str, *, nopush: bool
) -> str:
    temp = "\n".join(
        f"  {kind}_temp_path {data}/{kind}_temp;"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
worker_processes 1;
daemon off;
master_process on;
pid {data}/nginx.pid;
error_log {logs}/nginx-error-{data.name}.log warn;
{_owner_lines(data)}events {{ worker_connections 4096; }}
http {{
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush {"on" if nopush else "off"};
  tcp_nodelay on;
  keepalive_requests 1000000;
{temp}
{http_block}
{"".join(_server(port, block) for port, block in servers.items())}}}
"""


def _server(port: int, block: str) -> str:
    return f"""\
  server {{
    listen 127.0.0.1:{port};
    server_name localhost;
{block}
  }}
"""


class _Nginx(Target):
    warm_in = frozenset({"pypi", "npm"})

    @classmethod
    def check(cls, ctx: Context) -> None:
        if not shutil.which("nginx"):
            raise Unavailable(f"{cls.name}: nginx missing (apt-get install -y nginx)")

    def config(self) -> str:
        raise NotImplementedError

    def start(self) -> None:
        super().start()
        self.port = free_port()
        conf = self.data / "nginx.conf"
        conf.write_text(self.config())
        self.proc = self.ctx.sup.start(self.name, ["nginx", "-c", str(conf)], self.log)
        self.started("/nonexistent")


class NginxStatic(_Nginx):
    """The upstream's pages and the set's wheels as static files (see ``static_index``)."""

    name = "nginx static"
    role = Role.FLOOR

    def config(self) -> str:
        root = self.data / "root"
        server = "    access_log off;\n"
        if self.ctx.pypi is not None:
            static_index.build(root, self.ctx.upstream.simple_url, self.ctx.wset)
            server += f"""\
    location /simple/ {{
      root {root};
      index index.json;
      types {{ }}
      default_type {static_index.JSON_TYPE};
    }}
    location /files/ {{ root {root}; }}
"""
        if self.ctx.npm is not None:
            npm_static.build(root / "npm", self.ctx.npm, self.npm_registry().rstrip("/"))
            # A packument is /npm/<name>.json on disk; a tarball sits at its own URL's path.
            server += f"""\
    location /npm/ {{
      root {root};
      try_files $uri $uri.json =404;
      types {{ {npm_static.PACKUMENT_TYPE} json; }}
    }}
"""
        return _config(self.data, self.ctx.logs, {self.port: server}, "", nopush=True)

    def index_args(self) -> list[str]:
        return ["--index-url", f"{self.base_url}/simple/"]

    def page_url(self, project: str) -> str | None:
        return f"{self.base_url}/simple/{project}/"

    def npm_registry(self) -> str:
        return f"{self.base_url}/npm/"


class NginxProxy(_Nginx):
    """``proxy_cache`` in front of the index and, separately, of the files host; and of npm.

    A bare proxy_cache in front of the index leaves the pages' absolute links
    pointing at the files host.  A careful nginx user adds a second location
    proxying the files host and rewrites those links in every index page with
    ``sub_filter`` (so the upstream must send the pages uncompressed); that is
    what is configured here.  Pages are forced fresh for a day, as in the
    Apache recipe, keyed by the client's Accept header (PEP 691 negotiation).

    npm's packuments likewise name the registry's host in every tarball URL,
    so the npm server rewrites its origin to nginx's own with ``sub_filter``;
    packuments and tarballs come from the same host, so one location does.
    It proxies without a URI part, so a scoped name's ``%2f`` reaches the
    registry as the client sent it (nginx would decode it otherwise).
    """

    name = "nginx proxy_cache"
    role = Role.PEER
    cold_in = frozenset({"npm"})
    note = (
        "nginx proxy_cache: index pages and packuments forced fresh for 1 day, "
        "links rewritten with sub_filter"
    )

    def __init__(self, ctx: Context, data: Path) -> None:
        super().__init__(ctx, data)
        self.npm_port = 0

    @property
    def _simple_path(self) -> str:
        return urllib.parse.urlsplit(self.ctx.upstream.simple_url).path

    @property
    def _npm_path(self) -> str:
        return urllib.parse.urlsplit(self.ctx.npm_side.registry).path

    def _common(self, zone: str) -> str:
        return f"""\
      proxy_cache {zone};
      proxy_cache_lock on;
      proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
      proxy_ignore_headers Cache-Control Expires Vary Set-Cookie;
      proxy_http_version 1.1;
      proxy_connect_timeout 5s;
      proxy_ssl_server_name on;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate {CA_BUNDLE};"""

    def _pypi_server(self) -> str:
        up = self.ctx.upstream
        files_base = f"http://127.0.0.1:{self.port}/files/"
        return f"""\
    location {self._simple_path}/ {{
      proxy_pass {up.simple_origin}{self._simple_path}/;
{self._common("pypi")}
      proxy_cache_key $scheme$proxy_host$request_uri$http_accept;
      proxy_cache_valid 200 1d;
      proxy_set_header Accept-Encoding "";
      sub_filter_types application/vnd.pypi.simple.v1+json application/vnd.pypi.simple.v1+html;
      sub_filter_once off;
      sub_filter '{up.files_origin}/' '{files_base}';
    }}
    location /files/ {{
      proxy_pass {up.files_origin}/;
{self._common("pypi")}
      proxy_cache_key $scheme$proxy_host$request_uri;
      proxy_cache_valid 200 365d;
    }}"""

    def _npm_server(self) -> str:
        """Packuments keyed by Accept (abbreviated or full), tarballs not: they are one file."""
        origin = self.ctx.npm_side.tarball_origin
        return f"""\
    access_log {self.ctx.logs}/nginx-npm-access-{self.data.name}.log cache;
    location {self._npm_path} {{
      proxy_pass {origin};
{self._common("npm")}
      proxy_cache_key $scheme$proxy_host$request_uri$http_accept;
      proxy_cache_valid 200 1d;
      proxy_set_header Accept-Encoding "";
      sub_filter_types application/json {npm_static.PACKUMENT_TYPE};
      sub_filter_once off;
      sub_filter '{origin}/' 'http://127.0.0.1:{self.npm_port}/';
    }}
    location ~ /-/[^/]+\\.tgz$ {{
      proxy_pass {origin};
{self._common("npm")}
      proxy_cache_key $scheme$proxy_host$request_uri;
      proxy_cache_valid 200 365d;
    }}"""

    def config(self) -> str:
        log = f"    access_log {self.ctx.logs}/nginx-proxy-access-{self.data.name}.log cache;\n"
        servers = {self.port: log}
        http_block = (
            "  log_format cache '$request $status $upstream_cache_status $body_bytes_sent';\n"
        )
        zones = []
        if self.ctx.pypi is not None:
            servers[self.port] += self._pypi_server()
            zones.append("pypi")
        if self.ctx.npm is not None:
            self.npm_port = free_port()
            if self.ctx.npm_side.registry != self.ctx.npm_side.tarball_origin + self._npm_path:
                raise Unavailable(f"{self.name}: npm tarballs are not on the registry's host")
            servers[self.npm_port] = self._npm_server()
            zones.append("npm")
        for zone in zones:
            http_block += (
                f"  proxy_cache_path {self.data}/cache-{zone} levels=1:2 keys_zone={zone}:16m "
                "max_size=20g inactive=30d use_temp_path=off;\n"
            )
        # tcp_nopush off (nginx's default): with it, every page sub_filter re-chunks waits
        # 40 ms for a delayed ACK before its last chunk leaves.
        return _config(self.data, self.ctx.logs, servers, http_block, nopush=False)

    def index_args(self) -> list[str]:
        return ["--index-url", f"{self.base_url}{self._simple_path}/"]

    def page_url(self, project: str) -> str | None:
        return f"{self.base_url}{self._simple_path}/{project}/"

    def npm_registry(self) -> str:
        return f"http://127.0.0.1:{self.npm_port}{self._npm_path}"
