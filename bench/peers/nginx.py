"""nginx twice: as a caching reverse proxy in front of PyPI (a peer), and serving the same
pages and wheels as static files (the HTTP floor).

Both configs are generated into the target's data directory at run time from
the discovered upstream; one worker process, sendfile on, loopback only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import urllib.parse
from pathlib import Path

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
    data: Path, logs: Path, port: int, http_block: str, server_block: str, *, nopush: bool
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
  server {{
    listen 127.0.0.1:{port};
    server_name localhost;
{server_block}
  }}
}}
"""


class _Nginx(Target):
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
        static_index.build(root, self.ctx.upstream.simple_url, self.ctx.wset)
        server = f"""\
    access_log off;
    location /simple/ {{
      root {root};
      index index.json;
      types {{ }}
      default_type {static_index.JSON_TYPE};
    }}
    location /files/ {{ root {root}; }}"""
        return _config(self.data, self.ctx.logs, self.port, "", server, nopush=True)

    def index_args(self) -> list[str]:
        return ["--index-url", f"{self.base_url}/simple/"]

    def page_url(self, project: str) -> str | None:
        return f"{self.base_url}/simple/{project}/"


class NginxProxy(_Nginx):
    """``proxy_cache`` in front of the index and, separately, of the files host.

    A bare proxy_cache in front of the index leaves the pages' absolute links
    pointing at the files host.  A careful nginx user adds a second location
    proxying the files host and rewrites those links in every index page with
    ``sub_filter`` (so the upstream must send the pages uncompressed); that is
    what is configured here.  Pages are forced fresh for a day, as in the
    Apache recipe, keyed by the client's Accept header (PEP 691 negotiation).
    """

    name = "nginx proxy_cache"
    role = Role.PEER
    note = "nginx proxy_cache: index pages forced fresh for 1 day, links rewritten with sub_filter"

    @property
    def _simple_path(self) -> str:
        return urllib.parse.urlsplit(self.ctx.upstream.simple_url).path

    def config(self) -> str:
        up = self.ctx.upstream
        files_base = f"http://127.0.0.1:{self.port}/files/"
        common = f"""\
      proxy_cache pypi;
      proxy_cache_lock on;
      proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
      proxy_ignore_headers Cache-Control Expires Vary Set-Cookie;
      proxy_http_version 1.1;
      proxy_connect_timeout 5s;
      proxy_ssl_server_name on;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate {CA_BUNDLE};"""
        http_block = (
            f"  proxy_cache_path {self.data}/cache levels=1:2 keys_zone=pypi:16m "
            "max_size=20g inactive=30d use_temp_path=off;\n"
            "  log_format cache '$request $status $upstream_cache_status $body_bytes_sent';\n"
        )
        server = f"""\
    access_log {self.ctx.logs}/nginx-proxy-access-{self.data.name}.log cache;
    location {self._simple_path}/ {{
      proxy_pass {up.simple_origin}{self._simple_path}/;
{common}
      proxy_cache_key $scheme$proxy_host$request_uri$http_accept;
      proxy_cache_valid 200 1d;
      proxy_set_header Accept-Encoding "";
      sub_filter_types application/vnd.pypi.simple.v1+json application/vnd.pypi.simple.v1+html;
      sub_filter_once off;
      sub_filter '{up.files_origin}/' '{files_base}';
    }}
    location /files/ {{
      proxy_pass {up.files_origin}/;
{common}
      proxy_cache_key $scheme$proxy_host$request_uri;
      proxy_cache_valid 200 365d;
    }}"""
        # tcp_nopush off (nginx's default): with it, every page sub_filter re-chunks waits
        # 40 ms for a delayed ACK before its last chunk leaves.
        return _config(self.data, self.ctx.logs, self.port, http_block, server, nopush=False)

    def index_args(self) -> list[str]:
        return ["--index-url", f"{self.base_url}{self._simple_path}/"]

    def page_url(self, project: str) -> str | None:
        return f"{self.base_url}{self._simple_path}/{project}/"
