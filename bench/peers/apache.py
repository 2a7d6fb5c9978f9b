"""The Apache mod_cache recipe pantry grew out of, with its config generated at run time.

The recipe: one port per registry, localhost only, everything forced into
the cache for a day, stale content served when the upstream fails, a 5 s
upstream timeout.  It proxies the index host only, so the project pages it
serves still link to the files host: pip and uv fetch every package file
straight from the internet.  That is the recipe's hole; it is measured as it
is, and it cannot serve the large file at all.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse

from harness import free_port

from peers import Context, Role, Target, Unavailable

MODULES = "/usr/lib/apache2/modules"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
LOADED = (
    "mpm_event", "authz_core", "authz_host", "mime", "headers",
    "proxy", "proxy_http", "ssl", "socache_shmcb", "cache", "cache_disk",
)  # fmt: skip


class ApacheRecipe(Target):
    name = "apache mod_cache"
    role = Role.PEER
    note = (
        "apache mod_cache: the recipe caches index pages only; its pages link to the "
        "files host, so package files come from the internet on every install"
    )

    @classmethod
    def check(cls, ctx: Context) -> None:
        if not shutil.which("apache2") or not os.path.exists(f"{MODULES}/mod_cache_disk.so"):
            raise Unavailable(f"{cls.name}: apache2 missing (apt-get install -y apache2)")

    def config(self) -> str:
        up = urllib.parse.urlsplit(self.ctx.upstream.simple_url)
        origin = f"{up.scheme}://{up.netloc}"
        modules = "\n".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in LOADED)
        user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
        return f"""\
ServerRoot {self.data}
ServerName 127.0.0.1
Listen 127.0.0.1:{self.port}
PidFile {self.data}/httpd.pid
DefaultRuntimeDir {self.data}
ErrorLog {self.ctx.logs}/apache-error-{self.data.name}.log
LogLevel warn
{modules}
{user}TypesConfig /etc/mime.types
# one process, threads for concurrency: the same single worker as the other servers
StartServers 1
ServerLimit 1
ThreadsPerChild 64
ThreadLimit 64
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
KeepAlive On
MaxKeepAliveRequests 0

SSLProxyEngine on
SSLProxyVerify require
SSLProxyCheckPeerName on
SSLProxyCACertificateFile {CA_BUNDLE}
ProxyRequests Off
ProxyTimeout 5
ProxyPass /-/ !
ProxyPass / {origin}/
ProxyPassReverse / {origin}/

CacheRoot {self.data}/cache
CacheEnable disk /
CacheDirLevels 2
CacheDirLength 1
CacheLock on
CacheHeader on
CacheQuickHandler on
CacheIgnoreNoLastMod On
CacheIgnoreCacheControl On
CacheStaleOnError On
CacheDefaultExpire 86400
CacheMaxExpire 86400
CacheMaxFileSize 1000000000
# force-cache for a day whatever the upstream says (the headers filter runs before the cache saves)
Header set Cache-Control "public, max-age=86400"
Header unset Expires

<Location />
  Require ip 127.0.0.1 ::1
</Location>
"""

    def start(self) -> None:
        super().start()
        self.port = free_port()
        (self.data / "cache").mkdir(exist_ok=True)
        if os.geteuid() == 0:
            for path in (self.data, self.data / "cache"):
                shutil.chown(path, "www-data", "www-data")
        conf = self.data / "httpd.conf"
        conf.write_text(self.config())
        cmd = ["apache2", "-f", str(conf), "-D", "FOREGROUND"]
        self.proc = self.ctx.sup.start(self.name, cmd, self.log)
        self.started("/-/probe")  # answered locally (404), never proxied

    @property
    def _simple_path(self) -> str:
        return urllib.parse.urlsplit(self.ctx.upstream.simple_url).path

    def index_args(self) -> list[str]:
        return ["--index-url", f"{self.base_url}{self._simple_path}/"]

    def page_url(self, project: str) -> str | None:
        return f"{self.base_url}{self._simple_path}/{project}/"
