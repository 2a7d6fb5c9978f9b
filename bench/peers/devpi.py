"""devpi-server as a PyPI mirror (from the peers venv), mirroring the discovered URL.

``devpi-init --no-root-pypi`` then, through devpi's own HTTP API as root,
``root/pypi`` is created as a mirror of the discovered simple URL, so devpi's
built-in default upstream is not what gets measured by accident, without the
full project list (see ``_create_mirror``).
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import urllib.request

from harness import free_port

from peers import Context, Role, Target, Unavailable


class Devpi(Target):
    name = "devpi-server"
    role = Role.PEER
    python_peer = True
    cold_in = frozenset({"pypi"})
    note = (
        "devpi-server: default settings (50 threads) but mirror_no_project_list "
        "and metadata freshness"
    )

    @classmethod
    def check(cls, ctx: Context) -> None:
        if not (ctx.peers_bin / "devpi-server").exists():
            raise Unavailable(f"{cls.name}: not installed (run bench/run.py --install)")

    def start(self) -> None:
        super().start()
        password = secrets.token_urlsafe(16)
        init = [
            str(self.ctx.peers_bin / "devpi-init"), "--serverdir", str(self.data),
            "--no-root-pypi", "--root-passwd", password,
        ]  # fmt: skip
        with self.log.open("ab") as out:
            done = subprocess.run(
                init, check=False, stdout=out, stderr=subprocess.STDOUT, timeout=120
            )
        if done.returncode != 0:
            raise Unavailable(f"{self.name}: devpi-init failed; log {self.log}")
        self.port = free_port()
        cmd = [
            str(self.ctx.peers_bin / "devpi-server"), "--serverdir", str(self.data),
            "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip
        if self.ctx.fresh_s is not None:
            cmd += ["--mirror-cache-expiry", str(self.ctx.fresh_s)]
        self.proc = self.ctx.sup.start(self.name, cmd, self.log)
        self.started("/+api")
        self._create_mirror(password)

    def _create_mirror(self, password: str) -> None:
        login = self._api("POST", "/+login", {"user": "root", "password": password})
        result = login["result"]
        assert isinstance(result, dict)
        token = result["password"]
        auth = base64.b64encode(f"root:{token}".encode()).decode()
        index = {
            "type": "mirror",
            "mirror_url": self.ctx.upstream.simple_url + "/",
            # Else its first request downloads the registry's whole project list, which
            # outlasts pip's 15 s timeout: a careful devpi user turns that off.
            "mirror_no_project_list": True,
        }
        self._api("PUT", "/root/pypi", index, auth)

    def _api(self, method: str, path: str, body: object, auth: str = "") -> dict[str, object]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["X-Devpi-Auth"] = auth
        request = urllib.request.Request(  # noqa: S310 - our own loopback server
            f"{self.base_url}{path}", json.dumps(body).encode(), headers, method=method
        )
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
            answer: dict[str, object] = json.load(resp)
            return answer

    def index_args(self) -> list[str]:
        return ["--index-url", f"{self.base_url}/root/pypi/+simple/"]

    def page_url(self, project: str) -> str | None:
        return f"{self.base_url}/root/pypi/+simple/{project}/"
