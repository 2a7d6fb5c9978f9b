"""Upstream TLS is verified; a configured CA bundle is trusted instead of the system's."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from fixtures.http import request
from fixtures.pantry_process import PantryProcess, pypi_config
from fixtures.tiny_server import serve_app

PAGE = {"meta": {"api-version": "1.0"}, "name": "tlsdemo", "files": []}


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_upstream(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS simple index on loopback with a self-signed certificate."""
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def page(_request: web.Request) -> web.Response:
        return web.Response(
            body=orjson.dumps(PAGE), content_type="application/vnd.pypi.simple.v1+json"
        )

    app = web.Application()
    app.router.add_get("/simple/tlsdemo/", page)
    with serve_app(app, context) as port:
        yield f"https://127.0.0.1:{port}/simple/", cert


def test_tls__unknown_certificate_is_refused(
    tls_upstream: tuple[str, Path], tmp_path: Path
) -> None:
    url, _cert = tls_upstream
    with PantryProcess(tmp_path / "data", pypi_config(url)) as server:
        answer = request(server.url + "/pypi/simple/tlsdemo/")
    assert answer.status in (502, 503)
    assert "certificate" in server.log().lower()


def test_tls__configured_ca_bundle_is_trusted(
    tls_upstream: tuple[str, Path], tmp_path: Path
) -> None:
    url, cert = tls_upstream
    config = pypi_config(url).replace("[upstream]\n", f'[upstream]\nca_file = "{cert}"\n')
    with PantryProcess(tmp_path / "data", config) as server:
        answer = request(server.url + "/pypi/simple/tlsdemo/")
    assert (answer.status, answer.xcache) == (200, "MISS")


def test_upstream_credentials__never_in_health_or_log(tmp_path: Path) -> None:
    from fixtures.pypi_upstream import FixturePyPI  # noqa: PLC0415

    with FixturePyPI() as upstream:
        secret_url = upstream.index_url.replace("http://", "http://mirror-user:s3cr3t-pw@")
        with PantryProcess(tmp_path / "data", pypi_config(secret_url)) as server:
            health = request(server.url + "/-/health").body
            page = request(server.url + "/pypi/simple/alpha/")
            metrics = request(server.url + "/-/metrics").body
    assert page.status == 200
    for text in (health, page.body, metrics, server.log().encode()):
        assert b"s3cr3t-pw" not in text


def test_upstream_credentials__from_an_env_var_sent_to_that_origin_only(tmp_path: Path) -> None:
    wheel = b"not really a wheel, but bytes with a hash"
    expected = "Basic " + base64.b64encode(b"reader:pa55-from-env").decode()
    seen: list[str | None] = []

    async def guarded(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != expected:
            raise web.HTTPUnauthorized()
        if request.path.endswith(".whl"):
            return web.Response(body=wheel)
        digest = hashlib.sha256(wheel).hexdigest()
        page = {
            "meta": {"api-version": "1.0"},
            "name": "private",
            "files": [
                {
                    "filename": "private-1.0-py3-none-any.whl",
                    "url": "/files/private-1.0-py3-none-any.whl",
                    "hashes": {"sha256": digest},
                }
            ],
        }
        return web.Response(
            body=orjson.dumps(page), content_type="application/vnd.pypi.simple.v1+json"
        )

    app = web.Application()
    app.router.add_get("/simple/private/", guarded)
    app.router.add_get("/files/{name}", guarded)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANTRY_")}
    env["PRIVATE_INDEX_TOKEN"] = "pa55-from-env"
    with serve_app(app) as port:
        config = pypi_config(f"http://127.0.0.1:{port}/simple/") + (
            'username = "reader"\npassword_env = "PRIVATE_INDEX_TOKEN"\n'
        )
        with PantryProcess(tmp_path / "data", config, env=env) as server:
            page = request(server.url + "/pypi/simple/private/")
            file = request(server.url + "/pypi/files/private/private-1.0-py3-none-any.whl")
            health = request(server.url + "/-/health").body
    assert (page.status, file.status, file.body) == (200, 200, wheel)
    assert seen
    assert all(header == expected for header in seen)
    for text in (health, page.body, server.log().encode()):
        assert b"pa55-from-env" not in text
